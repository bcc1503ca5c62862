// Masquerade for pods, in cinch's own table `inet cinch-nat` (never anyone else's). One rule set,
// per-pod state only in set elements, so ADD/DEL are element adds/deletes in one `nft -f`
// transaction and never duplicate rules. Same semantics as the reference bridge's ipMasq
// (plugins/pkg/ip/ipmasq_linux.go): traffic from a pod address to outside its own subnet and
// not multicast is masqueraded. Traffic to other nodes' pods is not: the agent fills
// `cluster-cidrs-v4/v6` with the cluster's pod CIDRs (policy-agent/overlay/nomasq.ts), so
// pod-to-pod across nodes keeps its source address, which NetworkPolicy on the far node matches.
// Each element's comment names its attachment "<network>/<containerId>/<ifName>" (network names hold no '/': SPEC "Network configuration"),
// so GC of one network finds its stale elements without any other state.
import { KERNEL, formatCidr, formatIp, mustParseCidr } from '../../lib/ip/index.js'

export const TABLE = 'cinch-nat'

export interface MasqEntry {
  family: 4 | 6
  /** Pod address, no prefix. */
  ip: string
  /** The pod's subnet, e.g. 10.244.1.0/24. */
  subnet: string
  /** "<network>/<containerId>/<ifName>" */
  key: string
}

export const attachmentKey = (network: string, containerId: string, ifName: string): string => `${network}/${containerId}/${ifName}`

/** Entries for a pod's CIDR addresses ("10.244.1.5/24"). */
export function masqEntries(ips: string[], key: string): MasqEntry[] {
  return ips.map((text) => {
    const { ip, cidr } = mustParseCidr(text, KERNEL)
    return { family: ip.family, ip: formatIp(ip), subnet: formatCidr(cidr), key }
  })
}

// The table, its sets and the chain: `add` is a no-op for what exists, and the chain is flushed and
// refilled in the same transaction, so running this with every ADD keeps exactly one copy of each rule.
const SKELETON = `add table inet ${TABLE}
add set inet ${TABLE} pods4 { type ipv4_addr; }
add set inet ${TABLE} local4 { type ipv4_addr . ipv4_addr; flags interval; }
add set inet ${TABLE} pods6 { type ipv6_addr; }
add set inet ${TABLE} local6 { type ipv6_addr . ipv6_addr; flags interval; }
add set inet ${TABLE} cluster-cidrs-v4 { type ipv4_addr; flags interval; }
add set inet ${TABLE} cluster-cidrs-v6 { type ipv6_addr; flags interval; }
`
const CHAIN = `add chain inet ${TABLE} postrouting { type nat hook postrouting priority srcnat; policy accept; }
flush chain inet ${TABLE} postrouting
add rule inet ${TABLE} postrouting ip saddr . ip daddr @local4 return
add rule inet ${TABLE} postrouting ip6 saddr . ip6 daddr @local6 return
add rule inet ${TABLE} postrouting ip daddr @cluster-cidrs-v4 return
add rule inet ${TABLE} postrouting ip6 daddr @cluster-cidrs-v6 return
add rule inet ${TABLE} postrouting ip saddr @pods4 ip daddr != 224.0.0.0/4 masquerade
add rule inet ${TABLE} postrouting ip6 saddr @pods6 ip6 daddr != ff00::/8 masquerade
`

// nft quoted strings cannot hold a double quote; container IDs never contain one anyway.
const comment = (key: string) => `comment "${key.replace(/["\\\n]/g, '_')}"`

function elements(e: MasqEntry, withComment: boolean): string[] {
  const c = withComment ? ` ${comment(e.key)}` : ''
  return [`pods${e.family} { ${e.ip}${c} }`, `local${e.family} { ${e.ip} . ${e.subnet}${c} }`]
}

/** Ruleset adding `entries` (idempotent: `add element` of an existing element is a no-op). */
export function masqAddRuleset(entries: MasqEntry[]): string {
  return SKELETON + CHAIN + entries.flatMap((e) => elements(e, true)).map((el) => `add element inet ${TABLE} ${el}\n`).join('')
}

/**
 * Ruleset deleting `entries` whether or not they exist: `delete element` of an absent element
 * fails the whole transaction, so each is added first in the same transaction (knftables' trick).
 */
export function masqDelRuleset(entries: MasqEntry[]): string {
  if (entries.length === 0) return ''
  const lines = entries.flatMap((e) => elements(e, false)).flatMap((el) => [`add element inet ${TABLE} ${el}`, `delete element inet ${TABLE} ${el}`])
  return SKELETON + lines.join('\n') + '\n'
}

/** The masquerade entries in `nft -j list table inet cinch-nat` output (from the local sets). */
export function parseMasqTable(json: any | null): MasqEntry[] {
  const out: MasqEntry[] = []
  for (const item of json?.nftables ?? []) {
    const set = item.set
    if (!set || (set.name !== 'local4' && set.name !== 'local6')) continue
    for (const el of set.elem ?? []) {
      const val = el?.elem?.val ?? el
      const [ip, net] = val?.concat ?? []
      if (typeof ip !== 'string' || !net?.prefix) continue
      out.push({ family: set.name === 'local4' ? 4 : 6, ip, subnet: `${net.prefix.addr}/${net.prefix.len}`, key: el?.elem?.comment ?? '' })
    }
  }
  return out
}

/** Pod addresses in the pods4/pods6 sets: what CHECK compares with prevResult. */
export function masqueradedIps(json: any | null): Set<string> {
  const out = new Set<string>()
  for (const item of json?.nftables ?? []) {
    const set = item.set
    if (!set || (set.name !== 'pods4' && set.name !== 'pods6')) continue
    for (const el of set.elem ?? []) {
      const val = typeof el === 'string' ? el : el?.elem?.val
      if (typeof val === 'string') out.add(val)
    }
  }
  return out
}
