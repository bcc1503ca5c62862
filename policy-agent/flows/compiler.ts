// The agent's compiler with flow records and audit mode: the enforced policies through one
// incremental Compiler, the audit policies (cinch.dev/audit: "true") alone through a second, and
// withFlowLogs (dataplane.ts) to mark the logged chains and add the audit chains and maps. Each
// Compiler sees a view of the state without the other's policies that keeps the source's change
// log (compile/changes.ts), so both stay incremental.
//
// Cost per sync (issue 14): which policies audit and which namespaces opt in are tracked from the
// same change log, so a sync visits only the keys written since the last one; with no audit
// policy and no opt-in (the common case) the flow layer adds nothing but that bookkeeping; with
// them, withFlowLogs remakes only what a change's compiled chains, sets or opt-ins touched. Only a
// source without a change log (the manifest directory, tests) is scanned.
import { Compiler, type CompilerOptions, type InvalidPolicy } from '../compile/compiler.js'
import { CHANGES, changesBetween, type TrackedState } from '../compile/changes.js'
import type { PolicyIR } from '../compile/ir.js'
import { keepUnchanged } from '../compile/ir-records.js'
import type { ClusterNetworkPolicyObject, ClusterState, LocalPod, NetworkPolicy } from '../model/cluster.js'
import { AUDIT_ANNOTATION, namespaceFlowLogs } from './audit.js'
import { withFlowLogs, type FlowLogsMemo } from './dataplane.js'
import type { FlowLogOptions } from './options.js'

const isAudit = (p: NetworkPolicy | undefined) => p?.metadata.annotations?.[AUDIT_ANNOTATION] === 'true'
const NO_CNPS: Map<string, ClusterNetworkPolicyObject> = new Map()

/**
 * The policies of `m` that are (`audit`) or are not in `keys`, as a read-only Map, filtered as
 * read, never copied. `keys` is the tracked set of audit policies of exactly `m`, so size and the
 * audit side's iteration cost the audit policies, not the cluster.
 */
function filtered(m: ReadonlyMap<string, NetworkPolicy>, keys: ReadonlySet<string>, audit: boolean): Map<string, NetworkPolicy> {
  const keep = (k: string) => keys.has(k) === audit
  const view = {
    get: (k: string) => (keep(k) ? m.get(k) : undefined),
    has: (k: string) => view.get(k) !== undefined,
    *entries() {
      if (audit) for (const k of keys) { const p = m.get(k); if (p) yield [k, p] as [string, NetworkPolicy] }
      else for (const [k, p] of m) if (keep(k)) yield [k, p] as [string, NetworkPolicy]
    },
    *keys() { for (const [k] of view.entries()) yield k },
    *values() { for (const [, p] of view.entries()) yield p },
    forEach(fn: (p: NetworkPolicy, k: string) => void) { for (const [k, p] of view.entries()) fn(p, k) },
    [Symbol.iterator]() { return view.entries() },
    get size() { return audit ? keys.size : m.size - keys.size },
  }
  return view as unknown as Map<string, NetworkPolicy>
}

export class FlowCompiler {
  readonly #main: Compiler
  readonly #audit: Compiler
  readonly #views = new WeakMap<ClusterState, ClusterState>()
  #hadAudit = false
  /** the snapshot the sets below describe */
  #last?: ClusterState
  /** keys of the policies annotated cinch.dev/audit: "true" */
  readonly #auditKeys = new Set<string>()
  /** namespaces whose cinch.dev/flow-logs annotation turns logging on (or off, under --flow-logs) */
  readonly #nsOptIn = new Set<string>()
  /** the last IR handed out: parts equal to it are handed out again as the same objects */
  #out?: PolicyIR
  /** counts the changes of #nsOptIn: withFlowLogs reuses its flagged chains while it holds */
  #optInGen = 0
  readonly #memo: FlowLogsMemo = {}

  constructor(private readonly o: CompilerOptions & { flowLogs: FlowLogOptions }) {
    this.#main = new Compiler(o)
    // The audit chains cost the kernel as the enforced ones do: theirs is what the enforced left
    // of the node bound (#main compiles first).
    this.#audit = new Compiler({ ...o, audit: true, nodeCostTaken: () => this.#main.nodeCost })
  }

  /** Brings the audit keys and opted-in namespaces up to `state`, by its change log when it has one. */
  #track(state: ClusterState): void {
    const changes = changesBetween(this.#last, state)
    this.#last = state
    const wide = this.o.flowLogs.clusterWide
    const visitPolicy = (k: string) => (isAudit(state.policies.get(k)) ? this.#auditKeys.add(k) : this.#auditKeys.delete(k))
    // Under --flow-logs every namespace logs but those opted out; without it, those opted in.
    const visitNs = (k: string) => {
      const on = namespaceFlowLogs(state.namespaces.get(k), wide) !== wide
      if (on === this.#nsOptIn.has(k)) return
      if (on) this.#nsOptIn.add(k)
      else this.#nsOptIn.delete(k)
      this.#optInGen++
    }
    if (changes) {
      for (const k of changes.policies) visitPolicy(k)
      for (const k of changes.namespaces) visitNs(k)
      return
    }
    this.#auditKeys.clear()
    this.#nsOptIn.clear()
    this.#optInGen++
    for (const [k, p] of state.policies) if (isAudit(p)) this.#auditKeys.add(k)
    for (const k of state.namespaces.keys()) visitNs(k)
  }

  /** A view of `state` with other policies, whose change log answers in terms of the real snapshots. */
  #view(state: ClusterState, policies: Map<string, NetworkPolicy>, cnp: boolean): ClusterState {
    const source = (state as TrackedState)[CHANGES]
    const v: TrackedState = {
      pods: state.pods, namespaces: state.namespaces, nodes: state.nodes, policies,
      clusterNetworkPolicies: cnp ? state.clusterNetworkPolicies : NO_CNPS,
      ...(source ? { [CHANGES]: (since: ClusterState) => source(this.#views.get(since) ?? since) } : {}),
    }
    this.#views.set(v, state)
    return v
  }

  /** Compiler.compile through both compilers (`o.deferRemote`: theirs). */
  compile(state: ClusterState, localPods: LocalPod[], o: { deferRemote?: boolean } = {}): { ir: PolicyIR; invalid: InvalidPolicy[] } {
    this.#track(state)
    const anyOn = this.o.flowLogs.clusterWide || this.#nsOptIn.size > 0
    const flow = { state, options: this.o.flowLogs, anyOn, memo: this.#memo, optInGen: this.#optInGen }
    if (this.#auditKeys.size === 0 && !this.#hadAudit) {
      const { ir, invalid } = this.#main.compile(state, localPods, o)
      return { ir: this.#keep(withFlowLogs(ir, flow)), invalid }
    }
    // Once audit policies were seen, both compilers see views (a view's change log maps back).
    this.#hadAudit = true
    const main = this.#main.compile(this.#view(state, filtered(state.policies, this.#auditKeys, false), true), localPods, o)
    const audit = this.#audit.compile(this.#view(state, filtered(state.policies, this.#auditKeys, true), false), localPods, o)
    return { ir: this.#keep(withFlowLogs(main.ir, { ...flow, audit: audit.ir })), invalid: [...main.invalid, ...audit.invalid] }
  }

  /** What the local pods' open chains add up to, enforced and audit (Compiler.nodeCost; 0 for a compiler that never ran). */
  get nodeCost(): number {
    return this.#main.nodeCost + this.#audit.nodeCost
  }

  /** The local pod records the last compile compiled (Compiler.recordsCompiled; the audit compiler compiles the same ones). */
  get recordsCompiled(): number {
    return this.#main.recordsCompiled
  }

  /** Compiler.checkDeferred of both compilers. */
  checkDeferred(budgetMs: number): { done: boolean; invalidChanged: boolean } {
    const main = this.#main.checkDeferred(budgetMs), audit = this.#audit.checkDeferred(budgetMs)
    return { done: main.done && audit.done, invalidChanged: main.invalidChanged || audit.invalidChanged }
  }

  /**
   * `ir` with each part equal to the last IR's replaced by that object (compile/ir-records.ts
   * keepUnchanged): withFlowLogs builds new chain and set records when anything logs or audits,
   * and renderDiff skips identical parts without a walk. By identity per entry: O(local chains
   * + sets), never the cluster.
   */
  #keep(ir: PolicyIR): PolicyIR {
    const kept = (this.#out = keepUnchanged(this.#out, ir))
    // The memo then holds the records handed out (equal to what it made): reused next time, they
    // are the last IR's own objects, which keepUnchanged and renderDiff pass by identity.
    const m = this.#memo
    if (m.audit && m.audit.out.chains === ir.chains) m.audit.out = { chains: kept.chains, sets: kept.sets, auditMaps: kept.auditMaps }
    else if (m.flagged?.chains === ir.chains) m.flagged.chains = kept.chains
    return kept
  }
}
