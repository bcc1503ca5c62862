// The agent's compiler with flow records and audit mode: the enforced policies through one
// incremental Compiler, the audit policies (cinch.dev/audit: "true") alone through a second, and
// withFlowLogs (dataplane.ts) to mark the logged chains and add the audit chains and maps. Each
// Compiler sees a view of the state without the other's policies that keeps the source's change
// log (compile/changes.ts), so both stay incremental.
import { Compiler, type CompilerOptions, type InvalidPolicy } from '../compile/compiler.js'
import { CHANGES, type TrackedState } from '../compile/changes.js'
import type { PolicyIR } from '../compile/ir.js'
import type { ClusterState, LocalPod, NetworkPolicy } from '../model/cluster.js'
import { AUDIT_ANNOTATION } from './audit.js'
import { withFlowLogs } from './dataplane.js'
import type { FlowLogOptions } from './options.js'

const isAudit = (p: NetworkPolicy | undefined) => p?.metadata.annotations?.[AUDIT_ANNOTATION] === 'true'

/** The policies of `m` for which `keep` holds, as a read-only Map (filtered as read, never copied). */
function filtered(m: Map<string, NetworkPolicy>, keep: (p: NetworkPolicy) => boolean): Map<string, NetworkPolicy> {
  const view = {
    get: (k: string) => { const p = m.get(k); return p && keep(p) ? p : undefined },
    has: (k: string) => view.get(k) !== undefined,
    *entries() { for (const [k, p] of m) if (keep(p)) yield [k, p] as [string, NetworkPolicy] },
    *keys() { for (const [k] of view.entries()) yield k },
    *values() { for (const [, p] of view.entries()) yield p },
    forEach(fn: (p: NetworkPolicy, k: string) => void) { for (const [k, p] of view.entries()) fn(p, k) },
    [Symbol.iterator]() { return view.entries() },
    get size() { let n = 0; for (const p of m.values()) if (keep(p)) n++; return n },
  }
  return view as unknown as Map<string, NetworkPolicy>
}

export class FlowCompiler {
  readonly #main: Compiler
  readonly #audit: Compiler
  readonly #views = new WeakMap<ClusterState, ClusterState>()
  #hadAudit = false

  constructor(private readonly o: CompilerOptions & { flowLogs: FlowLogOptions }) {
    this.#main = new Compiler(o)
    this.#audit = new Compiler(o)
  }

  /** A view of `state` with other policies, whose change log answers in terms of the real snapshots. */
  #view(state: ClusterState, policies: Map<string, NetworkPolicy>, cnp: boolean): ClusterState {
    const source = (state as TrackedState)[CHANGES]
    const v: TrackedState = {
      pods: state.pods, namespaces: state.namespaces, nodes: state.nodes, policies,
      clusterNetworkPolicies: cnp ? state.clusterNetworkPolicies : new Map(),
      ...(source ? { [CHANGES]: (since: ClusterState) => source(this.#views.get(since) ?? since) } : {}),
    }
    this.#views.set(v, state)
    return v
  }

  compile(state: ClusterState, localPods: LocalPod[]): { ir: PolicyIR; invalid: InvalidPolicy[] } {
    let anyAudit = false
    for (const p of state.policies.values()) if (isAudit(p)) { anyAudit = true; break }
    if (!anyAudit && !this.#hadAudit) {
      const { ir, invalid } = this.#main.compile(state, localPods)
      return { ir: withFlowLogs(ir, { state, options: this.o.flowLogs }), invalid }
    }
    // Once audit policies were seen, both compilers see views (a view's change log maps back).
    this.#hadAudit = true
    const main = this.#main.compile(this.#view(state, filtered(state.policies, (p) => !isAudit(p)), true), localPods)
    const audit = this.#audit.compile(this.#view(state, filtered(state.policies, isAudit), false), localPods)
    return { ir: withFlowLogs(main.ir, { state, options: this.o.flowLogs, audit: audit.ir }), invalid: [...main.invalid, ...audit.invalid] }
  }
}
