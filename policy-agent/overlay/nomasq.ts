// Masquerade of this node's pods, done by the agent (as flannel does) in cinch's table
// `inet cinch-nat`, from the agent's container where `nft` exists: the host needs no nft, and the
// conflist the agent writes leaves cinch-bridge's own `ipMasq` off (policy-agent/cniconf).
//
//   cluster-cidrs-v4/v6   the cluster's pod CIDRs (--cluster-cidr, else every Node's podCIDRs)
//   node-pod-cidrs-v4/v6  this node's spec.podCIDRs
//   chain node-masquerade postrouting/srcnat: from this node's pods, to the cluster: return
//                         (a remote pod must see the real source, or NetworkPolicy ipBlock/pod
//                         peers cannot match it); to multicast: return; else masquerade.
//
// cinch-bridge with `ipMasq: true` (plain CNI use, no agent) keeps its own chain `postrouting` and
// per-pod sets in the same table, and also returns early for the cluster sets, so both can coexist:
// the sets are declared once, in lib/state/tables.ts, which both sides import (`add set` of an
// identical set is a no-op) and each side flushes only its own chain. The agent owns the CONTENTS
// of the cluster sets.
import { NftTable, Transaction, type SetObject } from '../../lib/nft/index.js'
import { NAT_CLUSTER_SETS, NAT_TABLE as NAT } from '../../lib/state/tables.js'
import { KERNEL, cidrWithin, formatCidr, parseCidr, type Cidr } from '../../lib/ip/index.js'
import type { Node } from '../model/cluster.js'

export const CLUSTER_SETS = { 4: NAT_CLUSTER_SETS[4].name, 6: NAT_CLUSTER_SETS[6].name } as const
export const NODE_SETS = { 4: 'node-pod-cidrs-v4', 6: 'node-pod-cidrs-v6' } as const
export const MASQ_CHAIN = 'node-masquerade'
/** Multicast is link-local business: never rewritten (as the reference bridge's ipMasq). */
const MULTICAST = { 4: '224.0.0.0/4', 6: 'ff00::/8' } as const

/**
 * The cluster CIDRs: the configured ones (`--cluster-cidr`, comma separated upstream), else every
 * Node's spec.podCIDRs. Canonical, deduplicated, and without CIDRs inside another one: an interval
 * set refuses overlapping elements (nft: "conflicting intervals specified").
 */
export function clusterCidrs(configured: string[], nodes: Iterable<Node>): { 4: string[]; 6: string[] } {
  const raw = configured.length ? configured : [...nodes].flatMap((n) => n.podCIDRs)
  // Bad ones are left out: the overlay plan reports bad Node CIDRs; --cluster-cidr is validated by the CLI.
  const parsed = raw.map((c) => parseCidr(c.trim(), KERNEL)?.cidr).filter((c): c is Cidr => !!c)
  const kept = parsed.filter((c, i) =>
    !parsed.some((o, j) => j !== i && cidrWithin(c, o) && (o.prefix < c.prefix || j < i)))
  const out: { 4: string[]; 6: string[] } = { 4: [], 6: [] }
  for (const c of kept) out[c.family].push(formatCidr(c))
  for (const f of [4, 6] as const) out[f].sort()
  return out
}

const byFamily = (cidrs: string[]): { 4: string[]; 6: string[] } => clusterCidrs(cidrs, [])

const ADDR = { 4: 'ipv4_addr', 6: 'ipv6_addr' } as const

const nodeSet = (f: 4 | 6): SetObject => ({ kind: 'set', name: NODE_SETS[f], type: [ADDR[f]], flags: ['interval'] })

/** Declares `set` (no-op when present) and replaces its contents with `elements`. */
function replaceSet(tx: Transaction, set: SetObject, elements: string[]): void {
  tx.add(set).flush(set)
  for (const e of elements) tx.add({ kind: 'element', set: set.name, key: [e] })
}

/**
 * One transaction: declare the sets (no-op when present), replace their contents; with
 * `nodePodCidrs`, also this node's set and the masquerade chain (flushed and refilled, so exactly
 * one copy of each rule).
 */
export function noMasqTx(cidrs: { 4: string[]; 6: string[] }, nodePodCidrs?: string[]): Transaction {
  const tx = new Transaction(NAT.family, NAT.name).add({ kind: 'table' })
  for (const f of [4, 6] as const) replaceSet(tx, NAT_CLUSTER_SETS[f], cidrs[f])
  if (nodePodCidrs) {
    const own = byFamily(nodePodCidrs)
    for (const f of [4, 6] as const) replaceSet(tx, nodeSet(f), own[f])
    const chain = MASQ_CHAIN
    tx.add({ kind: 'chain', name: chain, type: 'nat', hook: 'postrouting', priority: 'srcnat', policy: 'accept' }).flush({ kind: 'chain', name: chain })
    for (const f of [4, 6] as const) {
      const ip = f === 4 ? 'ip' : 'ip6'
      const from = `${ip} saddr @${NODE_SETS[f]}`
      tx.add({ kind: 'rule', chain, rule: `${from} ${ip} daddr @${CLUSTER_SETS[f]} return` })
      tx.add({ kind: 'rule', chain, rule: `${from} ${ip} daddr ${MULTICAST[f]} return` })
      tx.add({ kind: 'rule', chain, rule: `${from} masquerade` })
    }
  }
  return tx
}

/** The text of noMasqTx. */
export const renderNoMasq = (cidrs: { 4: string[]; 6: string[] }, nodePodCidrs?: string[]): string => noMasqTx(cidrs, nodePodCidrs).render()

/**
 * Puts the cluster CIDRs into the sets; with `nodePodCidrs` (this node's spec.podCIDRs) also
 * masquerades this node's pods leaving the cluster. Idempotent.
 */
export async function ensureNoMasq(configured: string[], nodes: Iterable<Node>, nodePodCidrs?: string[]): Promise<{ 4: string[]; 6: string[] }> {
  const cidrs = clusterCidrs(configured, nodes)
  await new NftTable(NAT).run(noMasqTx(cidrs, nodePodCidrs))
  return cidrs
}
