// The cluster's pod CIDRs, as sets in cinch-bridge's masquerade table, so that its postrouting chain
// returns before `masquerade` for pod -> pod traffic between nodes (a remote pod must see the real
// source address, or NetworkPolicy ipBlock/pod peers cannot match it) and masquerades only traffic
// leaving the cluster. cinch-bridge owns table `inet cinch-nat` and its chain (it flushes and
// refills the chain on every ADD); the agent owns only the CONTENTS of these two sets, declared
// identically on both sides (`add set` of an existing identical set is a no-op).
import { runNft } from '../../lib/nft/index.js'
import { KERNEL, cidrWithin, formatCidr, parseCidr, type Cidr } from '../../lib/ip/index.js'
import type { Node } from '../model/cluster.js'

export const NAT_TABLE = 'cinch-nat'
export const CLUSTER_SETS = { 4: 'cluster-cidrs-v4', 6: 'cluster-cidrs-v6' } as const

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

/** One transaction: declare the sets (no-op when present), replace their contents. */
export function renderNoMasq(cidrs: { 4: string[]; 6: string[] }): string {
  const t = `inet ${NAT_TABLE}`
  const lines = [`add table ${t}`]
  for (const f of [4, 6] as const) {
    const set = CLUSTER_SETS[f]
    lines.push(`add set ${t} ${set} { type ipv${f}_addr; flags interval; }`, `flush set ${t} ${set}`)
    if (cidrs[f].length) lines.push(`add element ${t} ${set} { ${cidrs[f].join(', ')} }`)
  }
  return lines.join('\n') + '\n'
}

/** Puts the cluster CIDRs into the sets; idempotent. */
export async function ensureNoMasq(configured: string[], nodes: Iterable<Node>): Promise<{ 4: string[]; 6: string[] }> {
  const cidrs = clusterCidrs(configured, nodes)
  await runNft(renderNoMasq(cidrs))
  return cidrs
}
