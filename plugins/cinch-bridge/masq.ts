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
// The table is `NAT_TABLE` (lib/state/tables.ts), shared with the agent; the transactions are typed
// (lib/nft Transaction), so every name and value is checked before nft sees it.
import { formatCidr, formatIp, parseCidr, parseIp } from '../../lib/ip/index.js'
import { parseListing, type NftDocument } from '../../lib/nft/json.js'
import { Transaction } from '../../lib/nft/transaction.js'
import { NAT_CLUSTER_SETS, NAT_TABLE } from '../../lib/state/tables.js'
import { sha256Hex } from './hash.js'
import type { PodIp } from './addressing.js'

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

const hash = (s: string, hex: number) => '#' + sha256Hex(s).slice(0, hex)

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

const ADDR = { 4: 'ipv4_addr', 6: 'ipv6_addr' } as const
const IP = { 4: 'ip', 6: 'ip6' } as const

// The table, its sets and the chain: `add` is a no-op for what exists, and the chain is flushed and
// refilled in the same transaction, so running this with every ADD keeps exactly one copy of each rule.
function skeleton(): Transaction {
  const tx = new Transaction(NAT_TABLE.family, NAT_TABLE.name).add({ kind: 'table' })
  for (const f of [4, 6] as const) {
    tx.add({ kind: 'set', name: `pods${f}`, type: [ADDR[f]] })
    tx.add({ kind: 'set', name: `local${f}`, type: [ADDR[f], ADDR[f]], flags: ['interval'] })
  }
  return tx.add(NAT_CLUSTER_SETS[4]).add(NAT_CLUSTER_SETS[6])
}

function addChain(tx: Transaction): Transaction {
  const chain = 'postrouting'
  tx.add({ kind: 'chain', name: chain, type: 'nat', hook: 'postrouting', priority: 'srcnat', policy: 'accept' }).flush({ kind: 'chain', name: chain })
  for (const f of [4, 6] as const) tx.add({ kind: 'rule', chain, rule: `${IP[f]} saddr . ${IP[f]} daddr @local${f} return` })
  for (const f of [4, 6] as const) tx.add({ kind: 'rule', chain, rule: `${IP[f]} daddr @${NAT_CLUSTER_SETS[f].name} return` })
  tx.add({ kind: 'rule', chain, rule: 'ip saddr @pods4 ip daddr != 224.0.0.0/4 masquerade' })
  return tx.add({ kind: 'rule', chain, rule: 'ip6 saddr @pods6 ip6 daddr != ff00::/8 masquerade' })
}

function checkedKey(key: string): string {
  if (!SAFE_COMMENT.test(key)) throw new Error(`masquerade comment ${JSON.stringify(key.slice(0, 200))} is not a masqKey`)
  return key
}


/** Transaction adding `entries` (idempotent: `add element` of an existing element is a no-op). */
export function masqAddTx(entries: MasqEntry[]): Transaction {
  const tx = addChain(skeleton())
  for (const e of entries) {
    const comment = checkedKey(e.key)
    tx.add({ kind: 'element', set: `pods${e.family}`, key: [e.ip], comment })
    tx.add({ kind: 'element', set: `local${e.family}`, key: [e.ip, e.subnet], comment })
  }
  return tx
}

/**
 * Transaction deleting `entries` whether or not they exist: `delete element` of an absent element
 * fails the whole transaction, so each is added first in the same transaction (knftables' trick).
 * Empty (nothing to run) for no entries.
 */
export function masqDelTx(entries: MasqEntry[]): Transaction {
  if (entries.length === 0) return new Transaction(NAT_TABLE.family, NAT_TABLE.name)
  const tx = skeleton()
  for (const e of entries) {
    const elements = [{ set: `pods${e.family}`, key: [e.ip] }, { set: `local${e.family}`, key: [e.ip, e.subnet] }]
    for (const el of elements) tx.add({ kind: 'element', ...el }).delete({ kind: 'element', ...el })
  }
  return tx
}

/** The text of masqAddTx. */
export const masqAddRuleset = (entries: MasqEntry[]): string => masqAddTx(entries).render()
/** The text of masqDelTx; '' for no entries. */
export const masqDelRuleset = (entries: MasqEntry[]): string => masqDelTx(entries).render()

/** Runs a masquerade transaction on `inet cinch-nat`. lib/nft's runner loads here: ipMasq only. */
export async function runMasq(tx: Transaction): Promise<void> {
  const { NftTable } = await import('../../lib/nft/table.js')
  await new NftTable(NAT_TABLE).run(tx)
}

/** `inet cinch-nat` as nft's JSON; null when it does not exist. */
export async function listMasq(): Promise<NftDocument | null> {
  const { NftTable } = await import('../../lib/nft/table.js')
  return new NftTable(NAT_TABLE).listJson()
}

/** The masquerade entries in `nft -j list table inet cinch-nat` output (from the local sets). */
export function parseMasqTable(doc: unknown): MasqEntry[] {
  const out: MasqEntry[] = []
  if (doc == null) return out
  for (const set of parseListing(doc, NAT_TABLE.family, NAT_TABLE.name).sets) {
    if (set.name !== 'local4' && set.name !== 'local6') continue
    for (const el of set.elements) {
      const [ipText, net] = typeof el.key === 'object' && 'concat' in el.key ? el.key.concat : []
      // What comes back is written into nft text again (DEL, GC): only what parses as an address.
      const ip = typeof ipText === 'string' ? parseIp(ipText) : null
      const subnet = typeof net === 'object' && 'prefix' in net ? parseCidr(`${net.prefix.addr}/${net.prefix.len}`) : null
      if (!ip || !subnet || subnet.ip.family !== ip.family) continue
      out.push({ family: ip.family, ip: formatIp(ip), subnet: formatCidr(subnet.cidr), key: el.comment ?? '' })
    }
  }
  return out
}

/** Pod addresses in the pods4/pods6 sets: what CHECK compares with prevResult. */
export function masqueradedIps(doc: unknown): Set<string> {
  const out = new Set<string>()
  if (doc == null) return out
  for (const set of parseListing(doc, NAT_TABLE.family, NAT_TABLE.name).sets) {
    if (set.name !== 'pods4' && set.name !== 'pods6') continue
    for (const el of set.elements) if (typeof el.key === 'string') out.add(el.key)
  }
  return out
}
