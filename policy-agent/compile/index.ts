// compile(state, localPods) -> PolicyIR: the rules of this node's pods, pure and deterministic.
// One chain per isolated local pod and direction; peers live in named sets shared by every rule
// that uses the same selector, so a label change touches set elements, not rules.
// `compile` is the one-shot form; the agent keeps a `Compiler` between syncs, which gives the same
// IR while redoing only what a change touches (compiler.ts).
import type { ClusterState, LocalPod } from '../model/cluster.js'
import { Compiler, type InvalidPolicy } from './compiler.js'
import type { PolicyIR } from './ir.js'

export type { PolicyIR } from './ir.js'
export { decide, decider, type Decision, type Verdict, type Flow, type Endpoint } from './decide.js'
export { Compiler, type CompilerOptions, type InvalidPolicy } from './compiler.js'
export { DEFAULT_MAX_POLICY_COST } from './cost.js'
export { mergePorts } from './rules.js'

export function compile(state: ClusterState, localPods: LocalPod[]): { ir: PolicyIR; invalid: InvalidPolicy[] } {
  return new Compiler().compile(state, localPods)
}
