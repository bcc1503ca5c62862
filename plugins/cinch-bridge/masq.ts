// Masquerade for pods, in cinch's own table `inet cinch-nat` (never anyone else's). One rule set,
// per-pod state only in set elements, so ADD/DEL are element adds/deletes in one `nft -f`
// transaction and never duplicate rules. Same semantics as the reference bridge's ipMasq
// (plugins/pkg/ip/ipmasq_linux.go): traffic from a pod address to outside its own subnet and
// not multicast is masqueraded. Traffic to other nodes' pods is not: the agent fills
// `cluster-cidrs-v4/v6` with the cluster's pod CIDRs (policy-agent/overlay/nomasq.ts), so
// pod-to-pod across nodes keeps its source address, which NetworkPolicy on the far node matches.
// Each element's comment names its attachment (masqKey), so GC of one network finds its stale
// elements without any other state. A comment goes into nft text: it is built only from checked
// parts and matched against a strict pattern before it is written (DESIGN "Every input is hostile").
import { createHash } from 'node:crypto'
import { formatCidr, formatIp, parseCidr, parseIp } from '../../lib/ip/index.js'
import type { PodIp } from './addressing.js'

export const TABLE = 'cinch-nat'

export interface MasqEntry {
  family: 4 | 6
  /** Pod address, no prefix. */
  ip: string
  /** The pod's subnet, e.g. 10.244.1.0/24. */
  subnet: string
  /** The attachment's masqKey. */
  key: string
}

/** NFTNL_UDATA_COMMENT_MAXLEN: nft refuses a longer comment ("comment too long"). */
const COMMENT_MAX = 128
/** What a comment may hold: the spec's name characters, '/' between the parts, '#' before a hash. */
const SAFE_COMMENT = /^[a-zA-Z0-9_.#/-]{1,128}$/
const NET_TAG_MAX = 48
const SAFE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/

const hash = (s: string, hex: number) => '#' + createHash('sha256').update(s).digest('hex').slice(0, hex)

/** The part of every comment that names the network: GC selects its own network's elements by it. */
export function masqNetworkTag(network: string): string {
  return network.length <= NET_TAG_MAX && SAFE_NAME.test(network) ? network : hash(network, 24)
}

/**
 * The comment naming attachment network/containerId/ifName: "<network>/<containerId>/<ifName>"
 * when that is short and plain, else "<network tag>/#<hash>" (a network name or container ID can be
 * long, an interface name may hold any character but '/', ':' and blanks). Deterministic, so DEL and
 * GC compute the comment ADD wrote; no network name or container ID starts with '#', so the two
 * forms never collide.
 */
export function masqKey(network: string, containerId: string, ifName: string): string {
  const plain = `${network}/${containerId}/${ifName}`
  const tag = masqNetworkTag(network)
  if (tag === network && Buffer.byteLength(plain) <= COMMENT_MAX && SAFE_COMMENT.test(plain)) return plain
  return `${tag}/${hash(plain, 40)}`
}

/** Entries for a pod's addresses. */
export function masqEntries(ips: PodIp[], key: string): MasqEntry[] {
  return ips.map((p) => ({ family: p.address.family, ip: formatIp(p.address), subnet: formatCidr(p.subnet), key }))
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

function comment(key: string): string {
  if (!SAFE_COMMENT.test(key)) throw new Error(`masquerade comment ${JSON.stringify(key.slice(0, 200))} is not a masqKey`)
  return `comment "${key}"`
}

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
      const [ipText, net] = val?.concat ?? []
      // What comes back is written into nft text again (DEL, GC): only what parses as an address.
      const ip = typeof ipText === 'string' ? parseIp(ipText) : null
      const subnet = typeof net?.prefix?.addr === 'string' ? parseCidr(`${net.prefix.addr}/${net.prefix.len}`) : null
      if (!ip || !subnet || subnet.ip.family !== ip.family) continue
      const comment = el?.elem?.comment
      out.push({ family: ip.family, ip: formatIp(ip), subnet: formatCidr(subnet.cidr), key: typeof comment === 'string' ? comment : '' })
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
