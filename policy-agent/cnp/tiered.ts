// Every tier for one cluster state, as `cinch explain` and the conntrack cleanup need it: the
// ClusterNetworkPolicies of the state converted (memoised per object, as the compiler does), the
// Nodes as CNP `nodes` peers see them, and the evaluator with compile/decide.ts as the
// NetworkPolicy tier. Also what `cinch status` reports of them: invalid policies, warnings
// (fail-closed rules, unsupported domainNames) and same-priority overlaps.
import type { ClusterNetworkPolicyObject, ClusterState, LocalPod, Pod } from '../model/cluster.js'
import { failedClosed, type FailedClosed } from '../compile/ir.js'
import { convertPolicy, type ConvertResult } from './convert.js'
import { evaluator, type CnpCluster, type CnpDecision, type Flow, type NetworkPolicyTier } from './evaluate.js'
import { LENIENT, canonicalIp } from '../../lib/ip/index.js'
import { networkPolicyTier } from './netpol.js'
import { findOverlaps } from './order.js'
import type { InvalidPolicy, Policy } from './types.js'
import { Compiler, cnpKey, type InvalidPolicy as SkippedPolicy } from '../compile/compiler.js'
import { splitAudit } from '../flows/audit.js'

const cache = new WeakMap<ClusterNetworkPolicyObject, ConvertResult>()

/** The valid policies (by name) and the invalid ones of a state. */
export function cnpPolicies(state: ClusterState): { policies: Policy[]; invalid: InvalidPolicy[] } {
  const policies: Policy[] = []
  const invalid: InvalidPolicy[] = []
  const all = state.clusterNetworkPolicies ?? new Map()
  for (const name of [...all.keys()].sort()) {
    const raw = all.get(name)!
    let r = cache.get(raw)
    if (!r) cache.set(raw, (r = convertPolicy(raw)))
    if ('invalid' in r) invalid.push(r.invalid)
    else policies.push(r.policy)
  }
  return { policies, invalid }
}

export function cnpCluster(state: ClusterState): CnpCluster {
  const nodes = [...state.nodes.values()].map((n) => ({ name: n.name, labels: n.labels ?? {}, addresses: n.addresses ?? n.internalIPs }))
  return { state, nodes }
}

/**
 * The pods whose NetworkPolicy chain of a direction fails closed (compile/ir.ts failedClosed), by
 * direction: each by `ns/name` and by its canonical addresses (a flow names either).
 */
export interface FailedClosedSides { ingress: ReadonlySet<string>; egress: ReadonlySet<string> }

/**
 * Many flows against one state: Admin -> NetworkPolicy -> Baseline, per direction. `closed`: in
 * those pods' directions the NetworkPolicy tier denies everything, as their chains do.
 */
export function tieredDecider(state: ClusterState, closed?: FailedClosedSides): (flow: Flow) => CnpDecision {
  const np = networkPolicyTier(state)
  return evaluator(cnpCluster(state), cnpPolicies(state).policies, closed ? failClosedTier(np, closed) : np)
}

const CLOSED_REASON = 'the policies selecting it add up to more than one pod may cost (--max-pod-policy-cost): it fails closed'

function failClosedTier(np: NetworkPolicyTier, closed: FailedClosedSides): NetworkPolicyTier {
  return (direction, flow) => {
    const ep = direction === 'ingress' ? flow.to : flow.from
    const key = 'ip' in ep ? (canonicalIp(ep.ip, LENIENT) ?? ep.ip) : `${ep.namespace}/${ep.name}`
    return closed[direction].has(key) ? { selected: true, allowed: false, reasons: [CLOSED_REASON] } : np(direction, flow)
  }
}

/**
 * What the dataplane enforces of `state`, the only thing a verdict may be judged by: without audit
 * policies (logged, never enforced: flows/audit.ts) and without the policies the compiler skipped
 * (broken, or over the cost bound: `skipped`, its invalid list). Judged by `state` itself, the
 * conntrack cleaner cut connections an audit policy merely reports, and `cinch explain` named a
 * skipped deny as the decider.
 */
export function enforcedState(state: ClusterState, skipped: readonly string[]): ClusterState {
  return splitAudit(withoutSkipped(state, skipped)).enforced
}

/** `state` without the `skipped` policies (NetworkPolicies by `ns/name`, ClusterNetworkPolicies by cnpKey). */
export function withoutSkipped(state: ClusterState, skipped: readonly string[]): ClusterState {
  if (skipped.length === 0) return state
  const skip = new Set(skipped)
  return {
    ...state,
    policies: new Map([...state.policies].filter(([k]) => !skip.has(k))),
    clusterNetworkPolicies: new Map([...state.clusterNetworkPolicies].filter(([name]) => !skip.has(cnpKey(name)))),
  }
}

/**
 * The policies the agent's compiler skips in `state` (invalid, or over `maxPolicyCost`), asked of
 * the Compiler itself so that the bound has one home (compile/cost.ts). For a process that does
 * not compile (explain): no local pods, so only the policy checks run.
 */
export function skippedPolicies(state: ClusterState, maxPolicyCost?: number): SkippedPolicy[] {
  return new Compiler({ maxPolicyCost }).compile(state, []).invalid
}

/**
 * The directions of `pods` (`ns/name`) whose NetworkPolicy chain fails closed on the node running
 * them (their policies add up to more than `maxPodPolicyCost`, or the node's pods' to more than
 * `maxNodePolicyCost` and theirs are among the costliest), asked of the Compiler itself as
 * skippedPolicies does, over the enforced policies as the agent's chains are: for a process that
 * does not compile (explain). The node's pods are those with the same spec.nodeName and pod
 * network (the agent's local pods); a pod without a node name is alone. Each with the pod's
 * addresses, as FailedClosedSides wants.
 */
export function failedClosedPods(state: ClusterState, pods: readonly string[], o: { maxPolicyCost?: number; maxPodPolicyCost?: number; maxNodePolicyCost?: number } = {}): { sides: FailedClosedSides; list: FailedClosed[] } {
  const enforced = splitAudit(state).enforced
  const wanted = new Set(pods)
  const byNode = new Map<string, Pod[]>()
  for (const key of wanted) {
    const p = state.pods.get(key)
    if (!p) continue
    const node = p.nodeName ? `node ${p.nodeName}` : `pod ${key}`
    if (!byNode.has(node)) byNode.set(node, p.nodeName ? [...state.pods.values()].filter((q) => q === p || (q.nodeName === p.nodeName && !q.hostNetwork && q.ips.length > 0)) : [p])
  }
  const list: FailedClosed[] = []
  for (const onNode of byNode.values()) {
    const locals: LocalPod[] = onNode.map((p, i) => ({ namespace: p.namespace, name: p.name, ips: p.ips, hostVeth: `explain${i}` }))
    for (const f of failedClosed(new Compiler(o).compile(enforced, locals).ir)) if (wanted.has(f.pod)) list.push(f)
  }
  list.sort((a, b) => (a.chain < b.chain ? -1 : a.chain > b.chain ? 1 : 0)) // as one compile lists them
  return { sides: failedClosedSides(list, (pod) => state.pods.get(pod)?.ips), list }
}

/** The enforced (not audit) directions of `list` as FailedClosedSides, each pod with its addresses (`ipsOf`). */
export function failedClosedSides(list: readonly FailedClosed[], ipsOf: (pod: string) => readonly string[] | undefined): FailedClosedSides {
  const sides = { ingress: new Set<string>(), egress: new Set<string>() }
  for (const f of list) {
    if (f.audit) continue
    sides[f.direction].add(f.pod)
    for (const ip of ipsOf(f.pod) ?? []) sides[f.direction].add(canonicalIp(ip, LENIENT) ?? ip)
  }
  return sides
}

export interface CnpReport {
  invalid: InvalidPolicy[]
  /** `policy: warning` (fail-closed rules, domainNames) */
  warnings: { policy: string; warning: string }[]
  overlaps: string[]
}

const reports = new WeakMap<object, CnpReport>()

/** What `cinch status` shows of the ClusterNetworkPolicies (memoised per snapshot). */
export function cnpReport(state: ClusterState): CnpReport {
  const key = state.clusterNetworkPolicies ?? state
  const hit = reports.get(key)
  if (hit && (hit as CnpReport & { pods?: unknown }).pods === state.pods) return hit
  const { policies, invalid } = cnpPolicies(state)
  const r: CnpReport & { pods?: unknown } = {
    invalid,
    warnings: policies.flatMap((p) => [
      ...p.warnings.map((warning) => ({ policy: p.name, warning })),
      // Unsupported, said so (README): cinch resolves no names, such a peer matches nothing.
      ...(['ingress', 'egress'] as const).flatMap((dir) => p[dir].filter((r) => !r.failClosed && r.peers.some((x) => x.kind === 'domainNames'))
        .map((r) => ({ policy: p.name, warning: `spec.${dir}[${r.index}]${r.name ? ` (${r.name})` : ''}: domainNames are not supported by cinch and match nothing` }))),
    ]),
    overlaps: findOverlaps(policies, state).map((o) => o.words),
  }
  Object.defineProperty(r, 'pods', { value: state.pods, enumerable: false })
  reports.set(key, r)
  return r
}
