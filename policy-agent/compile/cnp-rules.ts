// The IR of one ClusterNetworkPolicy tier chain (Admin or Baseline) of one local pod and direction:
// the rules of the policies whose subject selects the pod, in tier order (policies by priority then
// name, rules as written: cnp/order.ts), each with its action. Peers become addr sets kept up to date
// pod by pod as NetworkPolicy peers are (sets.ts); `networks` and `nodes` become interval sets
// like ipBlocks. See ../cnp/README.md for the semantics and where each one is decided.
import type { Node, Pod } from '../model/cluster.js'
import { LENIENT, formatIp, parseCidr, parseIp, type Family } from '../../lib/ip/index.js'
import type { Direction, Peer as CnpPeer, Policy, Rule as CnpRule } from '../cnp/types.js'
import type { IrChain, IrPort, IrRule, RuleCounter } from './ir.js'
import { commentText, contentHash } from './names.js'
import type { BlockPeer, PodsPeer, Port } from './normalize.js'
import { blockElements } from './blocks.js'
import { mergePorts, sharePorts, type UseSet } from './rules.js'

const FAMILIES: Family[] = [4, 6]
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const

export interface TierChainInput {
  tier: 'Admin' | 'Baseline'
  dir: Direction
  /** `ns/name` of the local pod */
  key: string
  pod: Pod | undefined
  /** the tier's policies that select the pod and have rules in `dir`, in tier order */
  policies: Policy[]
  nodes: readonly Node[]
  /** the pod's chain of the next tier (NetworkPolicy, else Baseline); absent: allowed */
  next?: string
  /** the named counter of rule `index` of `policy` in `dir` */
  counter: (policy: string, index: number) => string
  use: UseSet
}

/** The chain, and the counters its rules count into. */
export function tierChain(o: TierChainInput): { chain: IrChain; counters: Record<string, RuleCounter> } {
  const rules: IrRule[] = []
  const counters: Record<string, RuleCounter> = {}
  for (const p of o.policies) {
    for (const r of p[o.dir]) {
      const counter = o.counter(p.name, r.index)
      // ClusterNetworkPolicyIngressPeer: fail closed = "treat the rule as matching no traffic" for
      // Accept, "treat the rule as a 'Deny all' rule" for Deny and Pass.
      const action = r.failClosed ? (r.action === 'Accept' ? 'Accept' : 'Deny') : r.action
      counters[counter] = { policy: p.name, tier: o.tier, direction: o.dir, index: r.index, name: r.name, action }
      rules.push(...ruleIR(o, p, r, action, counter))
    }
  }
  const chain: IrChain = {
    pod: o.key, direction: o.dir, rules, dropCounter: '', policies: o.policies.map((p) => p.name), tier: o.tier,
    comment: commentText(`${o.tier} ClusterNetworkPolicy ${o.dir} of pod ${o.key}`),
    ...(o.next ? { next: o.next } : {}),
  }
  return { chain, counters }
}

function ruleIR(o: TierChainInput, p: Policy, r: CnpRule, action: 'Accept' | 'Deny' | 'Pass', counter: string): IrRule[] {
  const comment = commentText(`${p.name} ${o.dir}[${r.index}]${r.name ? ` ${r.name}` : ''} ${action}${r.failClosed ? ' (fails closed)' : ''}`)
  const base: Pick<IrRule, 'policy' | 'counter' | 'comment'> & Partial<IrRule> = { policy: p.name, counter, comment, rule: r.index }
  if (action === 'Deny') base.action = 'drop'
  else if (action === 'Pass') base.action = o.next ? { goto: o.next } : undefined
  if (base.action === undefined) delete base.action
  if (r.failClosed) return action === 'Accept' ? [] : [base as IrRule] // unconditional drop
  // The protocols, as ranges on the destination; named ports resolve on the destination pod:
  // ingress the local pod itself, egress each peer pod (tuple sets).
  let ports: IrPort[] | undefined
  const named = (r.protocols ?? []).filter((x) => x.kind === 'named').map((x) => x.name)
  if (r.protocols) {
    ports = r.protocols.flatMap((x) => (x.kind === 'port' ? [{ protocol: lower(x.protocol), from: x.from, to: x.to }] : []))
    if (o.dir === 'ingress') {
      for (const n of named) for (const c of o.pod?.ports ?? []) if (c.name === n) ports.push({ protocol: lower(c.protocol), from: c.containerPort, to: c.containerPort })
      if (ports.length === 0) return [] // only named ports this pod lacks: matches nothing
    }
  }
  const out: IrRule[] = []
  const push = (m: Partial<IrRule>, withPorts = true) => {
    const rule = { ...m, ...(withPorts && ports ? { ports } : {}), ...base } as IrRule
    out.push(...(rule.ports ? sharePorts(o.use, { ...rule, ports: mergePorts(rule.ports) }) : [rule]))
  }
  for (const peer of r.peers) {
    for (const m of peerMatches(o, peer)) {
      if (o.dir === 'egress' && r.protocols) {
        if (ports!.length) push(m)
        if (named.length && m.pods) push({ family: m.family, tupleSet: tupleSet(o.use, m.pods, named, m.family!) }, false)
      } else push(m)
    }
  }
  return out.map(({ pods, ...rest }: IrRule & { pods?: PodsPeer }) => { void pods; return rest })
}

/** The matches of one peer, per address family (pods peers remember theirs, for named ports). */
function peerMatches(o: TierChainInput, peer: CnpPeer): (Partial<IrRule> & { pods?: PodsPeer })[] {
  switch (peer.kind) {
    case 'namespaces': case 'pods': {
      const pods = podsPeer(peer)
      return FAMILIES.map((f) => ({ family: f, pods, peerSet: o.use(`cnp-peer-v${f}-${contentHash(pods.key)}`, () => ({ family: f, kind: 'addr', comment: pods.words, peer: pods })) }))
    }
    case 'networks': {
      const blocks: BlockPeer[] = peer.cidrs.map((cidr) => ({ kind: 'block', cidr, except: [], key: '', words: '' }))
      return FAMILIES.filter((f) => blocks.some((b) => b.cidr.family === f)).map((f) => {
        const elements = blockElements(blocks, f)
        return { family: f, peerSet: o.use(`net-v${f}-${contentHash(elements.join(' '))}`, () => ({ family: f, kind: 'block', comment: peer.words, elements })) }
      })
    }
    case 'nodes': {
      // Nodes: "the IPs present in the node.Status.Addresses field" of the nodes whose labels match.
      const blocks: BlockPeer[] = []
      for (const n of o.nodes) {
        if (!peer.nodeSel.matches(n.labels ?? {})) continue
        for (const ip of n.addresses ?? n.internalIPs) {
          const a = parseIp(ip, LENIENT)
          if (a) blocks.push({ kind: 'block', cidr: parseCidr(`${formatIp(a)}/${a.family === 4 ? 32 : 128}`, LENIENT)!.cidr, except: [], key: '', words: '' })
        }
      }
      return FAMILIES.filter((f) => blocks.some((b) => b.cidr.family === f)).map((f) => {
        const elements = blockElements(blocks, f)
        return { family: f, peerSet: o.use(`nodes-v${f}-${contentHash(`${peer.nodeSel.key} ${elements.join(' ')}`)}`, () => ({ family: f, kind: 'block', comment: peer.words, elements })) }
      })
    }
    case 'domainNames':
      // Unsupported (cnp/README.md): cinch resolves no names; the peer matches nothing.
      return []
  }
}

/**
 * A CNP pod peer as the NetworkPolicy pods peer of the same meaning (sets.ts computes its members
 * the same way). Its sets are named apart (`cnp-peer-...`): a set's comment is part of its
 * definition, and the two APIs word the same selector differently.
 */
function podsPeer(peer: Extract<CnpPeer, { kind: 'namespaces' | 'pods' }>): PodsPeer {
  const podSel = peer.kind === 'pods' ? peer.podSel : null
  const key = JSON.stringify(['pods', 'sel', peer.nsSel.key, podSel ? podSel.key : null])
  return { kind: 'pods', nsSel: peer.nsSel, podSel, namespace: '', key, words: peer.words }
}

function tupleSet(use: UseSet, peer: PodsPeer, names: string[], f: Family): string {
  // DestinationNamedPort carries no protocol: the container port's decides, so every protocol.
  const named: Port[] = names.flatMap((name) => PROTOCOLS.map((protocol) => ({ kind: 'named' as const, protocol, name })))
  // JSON, not joined text: a port name is input (rules.ts tupleSet).
  const key = JSON.stringify([peer.key, named.map((n) => [n.protocol, n.kind === 'named' ? n.name : ''])])
  return use(`cnp-tuple-v${f}-${contentHash(key)}`, () => ({ family: f, kind: 'tuple', comment: `${peer.words}, ports named ${names.join(', ')}`, peer, named }))
}

const lower = (p: string) => p.toLowerCase() as IrPort['protocol']

