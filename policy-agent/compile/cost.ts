// What one NetworkPolicy may cost in the kernel, estimated from the policy alone (not from the
// cluster, so the verdict does not flip as pods come and go): the set elements it brings (port
// ranges, ipBlock ranges) plus the rules it adds to the chain of each pod it selects. A policy over
// the bound is reported invalid and skipped whole, like one that does not compile: one tenant's
// 500 KB policy (30,000 ports x 50 peers) once made 3M set elements and a 20 s sync for everyone.
import type { NormPolicy, Port, Rule } from './normalize.js'
import type { Policy as CnpPolicy } from '../cnp/types.js'

/**
 * Default bound (`cinch agent --max-policy-cost`). Policies people write have tens of ports and at
 * most hundreds of blocks; 20,000 loads in nft in about 0.1 s (30,000 port ranges: 0.17 s, measured).
 */
export const DEFAULT_MAX_POLICY_COST = 20_000

/**
 * Default bound on what the NetworkPolicies selecting one local pod add up to in one direction
 * (`cinch agent --max-pod-policy-cost`), in the same units. The per-policy bound alone let one
 * tenant's 10,000 small policies, each far under it, select one pod: a chain of 20,005 rules, ~1.2 s
 * for each change of theirs and x7 kernel time for every other tenant's change on the node (the
 * kernel validates the whole table on each commit). As high as the per-policy bound, so that any
 * valid policy fits alone; bench/tenant-pod.mjs measures what a pod at the bound costs.
 */
export const DEFAULT_MAX_POD_POLICY_COST = DEFAULT_MAX_POLICY_COST

/**
 * Default bound on what the NetworkPolicies selecting the node's local pods add up to, over every
 * pod and direction (`cinch agent --max-node-policy-cost`), in the same units. The pod bound alone
 * let one tenant's `podSelector: {}` policies put every pod of theirs on the node at it: k pods, k
 * chains of ~13,000 rules, and the kernel validates every rule on each commit of anyone's change
 * (~0.3 us a rule: ten such pods, ~+40 ms to every change on the node). Five pods at the pod bound:
 * other tenants' changes then take ~33 ms (bench/tenant-pod.mjs --tenant-namespaces 5), within
 * issue 14's p99; the 110 local pods of the 30k/30k bench's cluster add up to 1,869.
 */
export const DEFAULT_MAX_NODE_POLICY_COST = 5 * DEFAULT_MAX_POD_POLICY_COST

// Once per normalised policy (read-only, and itself cached per object): normalizePolicy fills it as
// the store receives each policy, so the first compile after the lists only reads it (phase 8b).
const costs = new WeakMap<NormPolicy, { ingress: number; egress: number }>()

function costsOf(p: NormPolicy): { ingress: number; egress: number } {
  let c = costs.get(p)
  if (c === undefined) costs.set(p, (c = { ingress: rulesCost(p.ingress), egress: rulesCost(p.egress) }))
  return c
}

/** Set elements plus rules per selected pod; see the file comment. */
export function policyCost(p: NormPolicy): number {
  const c = costsOf(p)
  return c.ingress + c.egress
}

/** policyCost's share of one direction: what the policy adds to the chain of each pod it selects in it. */
export function directionCost(p: NormPolicy, dir: 'ingress' | 'egress'): number {
  return costsOf(p)[dir]
}

// Plain loops, no Set or array per rule: the first compile costs every policy (30k at 30k/30k),
// where the allocating version was ~10% of it (phase 8b, bench/README.md).
function rulesCost(rules: Rule[] | null | undefined): number {
  let cost = 0
  if (rules) for (const r of rules) cost += ruleCost(r)
  return cost
}

function ruleCost(r: Rule): number {
  const ports = r.ports ?? []
  // Elements: every port entry (a range is one interval), every block and every except.
  let elements = ports.length
  let rules = 0
  // Distinct protocols (normalize.ts allows three, so `seen` stays that short) and named ports.
  const seen: Port['protocol'][] = []
  let named = 0
  for (const x of ports) {
    if (!seen.includes(x.protocol)) seen.push(x.protocol)
    if (x.kind === 'named') named++
  }
  const protocols = Math.max(1, seen.length)
  // Address families of the blocks, as bits (4: 1, 6: 2).
  let families = 0
  for (const peer of r.peers ?? []) {
    if (peer.kind === 'block') {
      elements += 1 + peer.except.length
      families |= peer.cidr.family === 4 ? 1 : 2
    } else rules += 2 // one per address family
    if (named) rules += 2 // a tuple set per peer and family
  }
  rules += r.peers ? (families & 1) + (families >> 1) : 1
  return elements + rules * protocols
}

/** The reason a policy over the bound is skipped, naming the bound and how to raise it. */
export function costReason(cost: number, max: number): string {
  return `too large: about ${cost} nftables set elements and rules, over the limit of ${max} (agent flag --max-policy-cost)`
}

/**
 * Why a local pod's chain of one direction is its drop alone: what the policies selecting it add up
 * to. `audit`: the chain is an audit chain (flows/compiler.ts), which drops nothing: it reports
 * every connection as one its policies would deny.
 */
export function podCostReason(cost: number, max: number, dir: 'ingress' | 'egress', audit = false): string {
  return `the NetworkPolicies selecting it for ${dir} add up to about ${cost} nftables set elements and rules, over the limit of ${max} for one pod (agent flag --max-pod-policy-cost): ${closedText(dir, audit)}`
}

function closedText(dir: 'ingress' | 'egress', audit: boolean): string {
  return audit
    ? `its audit chain for ${dir} reports every connection as one they would deny (nothing is dropped by it), until they are fewer or smaller`
    : `the pod is isolated for ${dir} with no rule allowing any, until they are fewer or smaller`
}

/**
 * Why a local pod's chain of one direction is its drop alone although its own policies are within
 * the pod bound: the local pods' add up to more than the node's, and theirs were closed first
 * (nodeClosures). The text names the pod's own cost only, so that it changes when the pod's
 * policies do, not whenever another pod's do.
 */
export function nodeCostReason(cost: number, max: number, dir: 'ingress' | 'egress', audit = false): string {
  return `the NetworkPolicies selecting it for ${dir} add up to about ${cost} nftables set elements and rules, and those of all pods on this node to more than the limit of ${max} for a node (agent flag --max-node-policy-cost), which closes first the chains of the namespace that costs the node most, the costliest first: ${closedText(dir, audit)}`
}

/**
 * Which local pods' directions close so that the rest add up to at most `max`. The namespace whose
 * pods cost the node most goes first, its costliest directions first (then by pod key, ingress
 * before egress), then the next namespace, until what is left is within it. By namespace, not by
 * pod alone: a tenant with many cheap pods on the node would otherwise close another tenant's
 * one costlier pod before any of its own. A pure function of the costs, so the same pods close
 * whatever order the changes came in. `costs` holds each open direction's cost (those already
 * over the pod bound are closed by it and cost the node nothing); keys are `namespace/name`.
 */
export function nodeClosures(costs: Iterable<{ key: string; dir: 'ingress' | 'egress'; cost: number }>, max: number): { key: string; dir: 'ingress' | 'egress'; cost: number }[] {
  const all: { key: string; dir: 'ingress' | 'egress'; cost: number; ns: string }[] = []
  const byNs = new Map<string, number>()
  let total = 0
  for (const c of costs) {
    const ns = c.key.slice(0, c.key.indexOf('/'))
    all.push({ ...c, ns })
    byNs.set(ns, (byNs.get(ns) ?? 0) + c.cost)
    total += c.cost
  }
  if (total <= max) return []
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)
  all.sort((a, b) => byNs.get(b.ns)! - byNs.get(a.ns)! || cmp(a.ns, b.ns) || b.cost - a.cost || cmp(a.key, b.key) || cmp(a.dir, b.dir))
  const closed = []
  for (const { key, dir, cost } of all) {
    if (total <= max) break
    closed.push({ key, dir, cost })
    total -= cost
  }
  return closed
}

/**
 * The same estimate for a ClusterNetworkPolicy (cnp-rules.ts): per rule, two rules per pod peer
 * (one per family), one per family of networks/nodes plus their CIDRs as elements, each times the
 * protocols of its ports (rules.ts sharePorts: a rule per protocol), a tuple rule per pod peer and
 * family for named ports, and every port range as an element. Nodes peers count one element per
 * family (their addresses come from the cluster, not the policy).
 */
export function cnpCost(p: CnpPolicy): number {
  let cost = 0
  for (const r of [...p.ingress, ...p.egress]) {
    const ports = r.protocols ?? []
    const named = ports.some((x) => x.kind === 'named') ? 1 : 0
    // Distinct protocols of the ranges; a named port resolves (ingress) to its container port's.
    const seen: string[] = []
    for (const x of ports) if (x.kind === 'port' && !seen.includes(x.protocol)) seen.push(x.protocol)
    const protocols = Math.min(3, Math.max(1, seen.length + named))
    let rules = 0
    let elements = ports.length
    for (const peer of r.peers) {
      if (peer.kind === 'namespaces' || peer.kind === 'pods') rules += 2 * protocols + 2 * named
      else if (peer.kind === 'networks') (rules += new Set(peer.cidrs.map((c) => c.family)).size * protocols, elements += peer.cidrs.length)
      else if (peer.kind === 'nodes') (rules += 2 * protocols, elements += 2)
    }
    cost += elements + Math.max(rules, 1)
  }
  return cost
}
