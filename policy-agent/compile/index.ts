// compile(state, localPods) -> PolicyIR: the rules of this node's pods, pure and deterministic.
// One chain per isolated local pod and direction; peers live in named sets shared by every rule
// that uses the same selector, so a label change touches set elements, not rules.
import type { ClusterState, LocalPod, Pod, PodPort } from '../model/cluster.js'
import { canonicalAddr, cidrContains, formatAddr, formatCidr, parseAddr, type Family } from '../model/ip.js'
import { indexCluster, policiesSelecting, type ClusterIndex } from './cluster-index.js'
import { emptyIR, type IrPort, type IrRule, type IrSet, type PolicyIR } from './ir.js'
import { NameBook, commentText, shortHash } from './names.js'
import type { BlockPeer, NormPolicy, Peer, Port, Rule } from './normalize.js'
import { resolvePort } from './ports.js'

export type { PolicyIR } from './ir.js'
export { decide, type Verdict, type Flow, type Endpoint } from './decide.js'

export interface InvalidPolicy { policy: string /* ns/name */; reason: string }

type Direction = 'ingress' | 'egress'
const FAMILIES: Family[] = [4, 6]

export function compile(state: ClusterState, localPods: LocalPod[]): { ir: PolicyIR; invalid: InvalidPolicy[] } {
  const ix = indexCluster(state)
  const b = new Builder(ix)
  const chains = new NameBook()
  const counters = new NameBook()
  const locals = [...localPods].sort((x, y) => `${x.namespace}/${x.name}`.localeCompare(`${y.namespace}/${y.name}`))
  for (const lp of locals) {
    b.ir.veths.push(lp.hostVeth)
    const pod = state.pods.get(`${lp.namespace}/${lp.name}`)
    // A local pod the sources do not know yet has no labels: only policies selecting all pods of
    // its namespace apply to it until it is known.
    const selecting = policiesSelecting(ix, lp.namespace, pod?.labels ?? {})
    for (const dir of ['ingress', 'egress'] as Direction[]) {
      // NetworkPolicySpec.ingress/egress: traffic is allowed "if there are no NetworkPolicies
      // selecting the pod" for that direction, "OR if the traffic matches at least one rule across
      // all of the NetworkPolicy objects whose podSelector matches the pod" -- so policies add up.
      const pols = selecting.filter((p) => p[dir] !== null)
      if (pols.length === 0) continue
      const name = chains.name(`pod-${dir}`, lp.namespace, lp.name)
      const rules: IrRule[] = []
      for (const p of pols) {
        const counter = b.policyCounter(p, counters)
        p[dir]!.forEach((r, i) => rules.push(...b.rules(dir, p, i, r, counter, pod?.ports ?? [])))
      }
      b.ir.chains[name] = {
        pod: `${lp.namespace}/${lp.name}`, direction: dir, rules,
        // The comment names the pod only: it stays the same while policies come and go, so a
        // diff never has to recreate the chain (nft cannot change a chain's comment in place).
        comment: commentText(`${dir} of pod ${lp.namespace}/${lp.name}`),
        dropCounter: counters.name(`drop-${dir}`, lp.namespace, lp.name),
        policies: pols.map((p) => p.key),
      }
      for (const ip of lp.ips) {
        const a = parseAddr(ip)
        if (a) b.ir.maps[`${dir}-v${a.family}`][canonicalAddr(ip)!] = name
      }
    }
  }
  return { ir: sortIR(b.ir), invalid: ix.invalid }
}

class Builder {
  ir = emptyIR()
  constructor(private ix: ClusterIndex) {}

  policyCounter(p: NormPolicy, book: NameBook): string {
    return (this.ir.policyCounters[p.key] ??= book.name('policy', p.namespace, p.name))
  }

  rules(dir: Direction, p: NormPolicy, i: number, r: Rule, counter: string, localPorts: PodPort[]): IrRule[] {
    const base = { policy: p.key, counter }
    const out: IrRule[] = []
    const comment = (j?: number) => commentText(`${p.key} ${dir}[${i}]${j === undefined ? '' : ` ${dir === 'ingress' ? 'from' : 'to'}[${j}]`}`)
    const peers: (Peer | null)[] = r.peers ?? [null]
    if (dir === 'ingress') {
      // Ingress: the local pod is the destination, every port (named ones too) resolves on it.
      const ports = r.ports ? r.ports.flatMap((x) => resolvePort(x, localPorts)) : undefined
      if (ports && ports.length === 0) return [] // only named ports this pod lacks: allows nothing
      peers.forEach((peer, j) => out.push(...this.peerRules(peer, dir).map((m) => ({ ...m, ports, ...base, comment: comment(r.peers ? j : undefined) }))))
      return out.map(clean)
    }
    // Egress: numbers apply to every peer; a name resolves on each destination pod, so it becomes a
    // set of exact (address, protocol, port) tuples of the peer's pods.
    const numeric = r.ports?.filter((x) => x.kind !== 'named').flatMap((x) => resolvePort(x, []))
    const named = r.ports?.filter((x) => x.kind === 'named') ?? []
    peers.forEach((peer, j) => {
      const c = comment(r.peers ? j : undefined)
      if (!r.ports || numeric!.length > 0) {
        out.push(...this.peerRules(peer, dir).map((m) => ({ ...m, ports: numeric, ...base, comment: c })))
      }
      if (named.length > 0) {
        for (const family of peer?.kind === 'block' ? [peer.cidr.family] : FAMILIES) {
          out.push({ family, tupleSet: this.tupleSet(peer, named, family), ...base, comment: c })
        }
      }
    })
    return out.map(clean)
  }

  /** The address matches of one peer (null: any address). */
  private peerRules(peer: Peer | null, dir: Direction): Partial<IrRule>[] {
    if (!peer) return [{}]
    if (peer.kind === 'block') {
      const f = peer.cidr.family
      const peerSet = this.set(`block-v${f}-${shortHash(formatCidr(peer.cidr))}`, () => ({
        family: f, kind: 'block', comment: `ipBlock ${formatCidr(peer.cidr)}`, elements: [formatCidr(peer.cidr)],
      }))
      if (peer.except.length === 0) return [{ family: f, peerSet }]
      const ex = peer.except.map(formatCidr)
      const exceptSet = this.set(`except-v${f}-${shortHash(ex.join(','))}`, () => ({
        family: f, kind: 'block', comment: `ipBlock except ${ex.join(', ')}`, elements: ex,
      }))
      return [{ family: f, peerSet, exceptSet }]
    }
    void dir
    return FAMILIES.map((f) => ({
      family: f,
      peerSet: this.set(`peer-v${f}-${shortHash(peer.key)}`, () => ({
        family: f, kind: 'addr', comment: peer.words, elements: this.ix.peerPods(peer).flatMap((pod) => addrsOf(pod, f)),
      })),
    }))
  }

  private tupleSet(peer: Peer | null, named: Port[], f: Family): string {
    const key = `${peer ? peer.key : 'all'} ports ${named.map((n) => `${n.protocol}:${n.kind === 'named' ? n.name : ''}`).join(',')}`
    return this.set(`tuple-v${f}-${shortHash(key)}`, () => {
      const elements: string[] = []
      const add = (pod: Pod, accept: (a: string) => boolean) => {
        const ports = named.flatMap((n) => resolvePort(n, pod.ports))
        for (const a of addrsOf(pod, f)) if (accept(a)) for (const p of ports) elements.push(`${a} . ${p.protocol} . ${p.from}`)
      }
      const all = () => [...this.ix.podsByNs.values()].flat().filter((p) => !p.hostNetwork)
      if (!peer) all().forEach((p) => add(p, () => true))
      else if (peer.kind === 'pods') this.ix.peerPods(peer).forEach((p) => add(p, () => true))
      else all().forEach((p) => add(p, (a) => inBlock(peer, a)))
      const words = named.map((n) => (n.kind === 'named' ? `${n.protocol}/${n.name}` : '')).join(', ')
      return { family: f, kind: 'tuple', comment: `${peer ? peer.words : 'any pod'}, ports ${words}`, elements }
    })
  }

  private set(name: string, make: () => IrSet): string {
    if (!this.ir.sets[name]) {
      const s = make()
      this.ir.sets[name] = { ...s, comment: commentText(s.comment), elements: [...new Set(s.elements)].sort() }
    }
    return name
  }
}

function addrsOf(pod: Pod, f: Family): string[] {
  const out: string[] = []
  for (const ip of pod.ips) {
    const a = parseAddr(ip)
    if (a && a.family === f) out.push(formatAddr(a))
  }
  return out
}

function inBlock(peer: BlockPeer, addr: string): boolean {
  const a = parseAddr(addr)!
  return cidrContains(peer.cidr, a) && !peer.except.some((e) => cidrContains(e, a))
}

/** Drops undefined fields so that IRs compare equal by structure. */
function clean(r: Partial<IrRule>): IrRule {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(r)) if (v !== undefined) out[k] = v
  if (out.ports) out.ports = mergePorts(out.ports as IrPort[])
  return out as unknown as IrRule
}

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

function sortIR(ir: PolicyIR): PolicyIR {
  const sortRec = <T>(r: Record<string, T>) => Object.fromEntries(Object.keys(r).sort().map((k) => [k, r[k]!]))
  return {
    chains: sortRec(ir.chains), sets: sortRec(ir.sets),
    maps: { 'ingress-v4': sortRec(ir.maps['ingress-v4']), 'ingress-v6': sortRec(ir.maps['ingress-v6']),
      'egress-v4': sortRec(ir.maps['egress-v4']), 'egress-v6': sortRec(ir.maps['egress-v6']) },
    policyCounters: sortRec(ir.policyCounters), veths: [...new Set(ir.veths)].sort(),
  }
}
