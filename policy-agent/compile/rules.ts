// The rules of one pod chain, from the policies that select the pod. Rules name the sets of their
// peers (by a hash of the peer's canonical selector), never the pods in them: which pods a set holds
// is the set registry's business (sets.ts), so a label change elsewhere never rewrites a chain.
import type { PodPort } from '../model/cluster.js'
import type { Family } from '../../lib/ip/index.js'
import type { IrPort, IrProtocol, IrRule } from './ir.js'
import { commentText, contentHash } from './names.js'
import type { BlockPeer, NormPolicy, Peer, PodsPeer, Port, Rule } from './normalize.js'
import { blockElements } from './blocks.js'
import { resolvePort } from './ports.js'
import type { SetDef } from './sets.js'

export type Direction = 'ingress' | 'egress'
const FAMILIES: Family[] = [4, 6]

/** Receives the sets a rule uses: name -> definition (the same name always means the same set). */
export type UseSet = (name: string, def: () => SetDef) => string

/** policyRules' answers by normalized policy (a policy's new version is a new object), rule and counter. */
export type RuleMemo = WeakMap<NormPolicy, Map<string, { localPorts: PodPort[]; rules: IrRule[]; uses: [string, () => SetDef][] }>>

/**
 * policyRules, remembered in `memo` for the last `localPorts` asked with: a policy create
 * recompiles its namespace's local pod chain, whose other policies' rules are these again. The
 * rules are shared by the chains that use them (the IR is never changed once built); `use` is
 * told the same sets, in the same order.
 */
export function memoPolicyRules(memo: RuleMemo, use: UseSet, opts: { dir: Direction; p: NormPolicy; i: number; r: Rule; counter: string; localPorts: PodPort[] }): IrRule[] {
  let byRule = memo.get(opts.p)
  if (!byRule) memo.set(opts.p, (byRule = new Map()))
  const key = `${opts.dir} ${opts.i} ${opts.counter}`
  const m = byRule.get(key)
  if (m && m.localPorts === opts.localPorts) {
    for (const [name, def] of m.uses) use(name, def)
    return m.rules
  }
  const uses: [string, () => SetDef][] = []
  const rules = policyRules((name, def) => (uses.push([name, def]), use(name, def)), opts)
  byRule.set(key, { localPorts: opts.localPorts, rules, uses })
  return rules
}

/** The IR rules of rule `i` of policy `p` in a chain of `dir`, for a pod with `localPorts`. */
export function policyRules(use: UseSet, opts: { dir: Direction; p: NormPolicy; i: number; r: Rule; counter: string; localPorts: PodPort[] }): IrRule[] {
  const { dir, p, i, r } = opts
  const base = { policy: p.key, counter: opts.counter, rule: i }
  const out: Partial<IrRule>[] = []
  const word = dir === 'ingress' ? 'from' : 'to'
  const comment = (js?: number[]) => commentText(`${p.key} ${dir}[${i}]${js === undefined ? '' : ` ${word}[${js.join(',')}]`}`)
  // ipBlock peers of one family share one rule and one interval set (blocks.ts); pod peers keep a
  // rule each, naming the set of their selector (shared by every rule with the same selector).
  const groups: { peers: (Peer | null)[]; js?: number[]; match: Partial<IrRule>[] }[] = []
  if (!r.peers) groups.push({ peers: [null], match: [{}] })
  else {
    const blocks = r.peers.map((x, j) => [x, j] as const).filter(([x]) => x.kind === 'block')
    for (const f of FAMILIES) {
      const of = blocks.filter(([x]) => (x as BlockPeer).cidr.family === f)
      if (of.length) groups.push({ peers: of.map(([x]) => x), js: of.map(([, j]) => j), match: [blockMatch(use, of.map(([x]) => x as BlockPeer), f)] })
    }
    r.peers.forEach((x, j) => { if (x.kind === 'pods') groups.push({ peers: [x], js: [j], match: podMatch(use, x) }) })
    groups.sort((a, b) => a.js![0]! - b.js![0]! || (a.match[0]!.family ?? 0) - (b.match[0]!.family ?? 0))
  }
  if (dir === 'ingress') {
    // Ingress: the local pod is the destination, every port (named ones too) resolves on it.
    const ports = r.ports ? r.ports.flatMap((x) => resolvePort(x, opts.localPorts)) : undefined
    if (ports && ports.length === 0) return [] // only named ports this pod lacks: allows nothing
    for (const g of groups) out.push(...g.match.map((m) => ({ ...m, ports, ...base, comment: comment(g.js) })))
    return out.flatMap((x) => sharePorts(use, clean(x)))
  }
  // Egress: numbers apply to every peer; a name resolves on each destination pod, so it becomes a
  // set of exact (address, protocol, port) tuples of the peer's pods.
  const numeric = r.ports?.filter((x) => x.kind !== 'named').flatMap((x) => resolvePort(x, []))
  const named = r.ports?.filter((x) => x.kind === 'named') ?? []
  for (const g of groups) {
    const c = comment(g.js)
    if (!r.ports || numeric!.length > 0) out.push(...g.match.map((m) => ({ ...m, ports: numeric, ...base, comment: c })))
    if (named.length > 0) {
      for (const peer of g.peers) {
        for (const family of peer?.kind === 'block' ? [peer.cidr.family] : FAMILIES) {
          out.push({ family, tupleSet: tupleSet(use, peer, named, family), ...base, comment: c })
        }
      }
    }
  }
  return out.flatMap((x) => sharePorts(use, clean(x)))
}

/** One interval set of what a group of ipBlocks of family `f` admits (excepts taken out). */
function blockMatch(use: UseSet, peers: BlockPeer[], f: Family): Partial<IrRule> {
  const keys = peers.map((x) => x.key).sort()
  const peerSet = use(`block-v${f}-${contentHash(keys.join(' '))}`, () => ({
    family: f, kind: 'block', comment: peers.map((x) => x.words).join('; '), elements: blockElements(peers, f),
  }))
  return { family: f, peerSet }
}

function podMatch(use: UseSet, peer: PodsPeer): Partial<IrRule>[] {
  return FAMILIES.map((f) => ({
    family: f,
    peerSet: use(`peer-v${f}-${contentHash(peer.key)}`, () => ({ family: f, kind: 'addr', comment: peer.words, peer })),
  }))
}

/**
 * A rule's port list, one rule per protocol: a protocol's single port or range stays in the rule
 * (`meta l4proto tcp th dport 53`), and two or more go into a named set, shared by every rule (of
 * any pod or policy) with the same list. Never an anonymous set in the rule: the kernel names each
 * one it creates by scanning every set of the table (nf_tables_set_alloc_name), so a rule with
 * `{ tcp . 443, tcp . 8000-8100 }` cost ~160 us to add against ~20 us for one without, and a
 * chain's rules are re-added whenever a policy of its pod changes (bench/README.md phase 9). A
 * shared set also keeps a rule of 30,000 ports with 50 peers at 30,000 elements (an anonymous set
 * per rule was 3M elements for ONE selected pod: 2.9 GB in nft, 18 s). One field per set, not
 * `inet_proto . inet_service`: nft 1.0.6 takes 9 s to load 30,000 concatenated intervals and 0.15
 * s for plain ones (measured).
 */
export function sharePorts(use: UseSet, r: IrRule): IrRule[] {
  if (!r.ports || r.ports.length === 1) return [r]
  const { ports, ...rest } = r
  let groups = byProtoOf.get(ports)
  if (!groups) {
    const byProto = new Map<IrProtocol, IrPort[]>()
    for (const x of ports) {
      let l = byProto.get(x.protocol)
      if (!l) byProto.set(x.protocol, (l = []))
      l.push(x)
    }
    byProtoOf.set(ports, (groups = [...byProto].map(([protocol, of]): PortGroup => {
      if (of.length === 1) return { protocol, inline: of }
      const elements = of.map((x) => (x.from === x.to ? `${x.from}` : `${x.from}-${x.to}`))
      // Named by the elements whole (contentHash): a tenant's list must not take another's set.
      return { protocol, elements, name: `ports-${protocol}-${contentHash(elements.join(','))}` }
    })))
  }
  return groups.map((g) => {
    if (g.inline) return { ...rest, ports: g.inline }
    const { protocol, elements, name } = g
    const set = use(name!, () => ({ family: 4, kind: 'ports', comment: `${elements!.length} ${protocol} port ranges`, elements: elements! }))
    return { ...rest, portSet: { protocol, set } }
  })
}
/** One protocol's part of a port list: its single port or range, or the elements of its set. */
interface PortGroup { protocol: IrProtocol; inline?: IrPort[]; elements?: string[]; name?: string }

function tupleSet(use: UseSet, peer: Peer | null, named: Port[], f: Family): string {
  // JSON, not joined text: a port name is input (a manifest's `a,TCP:b` was the list [a, b]).
  const key = JSON.stringify([peer ? peer.key : null, named.map((n) => [n.protocol, n.kind === 'named' ? n.name : ''])])
  return use(`tuple-v${f}-${contentHash(key)}`, () => {
    const words = named.map((n) => (n.kind === 'named' ? `${n.protocol}/${n.name}` : '')).join(', ')
    return { family: f, kind: 'tuple', comment: `${peer ? peer.words : 'any pod'}, ports ${words}`, peer, named }
  })
}

/** Drops undefined fields so that IRs compare equal by structure. */
function clean(r: Partial<IrRule>): IrRule {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(r)) if (v !== undefined) out[k] = v
  if (out.ports) out.ports = merged(out.ports as IrPort[])
  return out as unknown as IrRule
}

// One rule's port list is shared by the rules of all its peers: merge (and name its sets) once.
const mergedOf = new WeakMap<IrPort[], IrPort[]>()
const merged = (ports: IrPort[]): IrPort[] => {
  let m = mergedOf.get(ports)
  if (!m) mergedOf.set(ports, (m = mergePorts(ports)))
  return m
}
const byProtoOf = new WeakMap<IrPort[], PortGroup[]>()

/** Sorted, overlapping or adjacent ranges merged: nft refuses overlapping intervals in one set. */
export function mergePorts(ports: IrPort[]): IrPort[] {
  const sorted = [...ports].sort((a, b) => a.protocol.localeCompare(b.protocol) || a.from - b.from || a.to - b.to)
  const out: IrPort[] = []
  for (const p of sorted) {
    const last = out[out.length - 1]
    if (last && last.protocol === p.protocol && p.from <= last.to + 1) last.to = Math.max(last.to, p.to)
    else out.push({ ...p })
  }
  return out
}
