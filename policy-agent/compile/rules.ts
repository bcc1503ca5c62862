// The rules of one pod chain, from the policies that select the pod. Rules name the sets of their
// peers (by a hash of the peer's canonical selector), never the pods in them: which pods a set holds
// is the set registry's business (sets.ts), so a label change elsewhere never rewrites a chain.
import type { PodPort } from '../model/cluster.js'
import { formatCidr, type Family } from '../../lib/ip/index.js'
import type { IrPort, IrRule } from './ir.js'
import { commentText, shortHash } from './names.js'
import type { NormPolicy, Peer, Port, Rule } from './normalize.js'
import { resolvePort } from './ports.js'
import type { SetDef } from './sets.js'

export type Direction = 'ingress' | 'egress'
const FAMILIES: Family[] = [4, 6]

/** Receives the sets a rule uses: name -> definition (the same name always means the same set). */
export type UseSet = (name: string, def: () => SetDef) => string

/** The IR rules of rule `i` of policy `p` in a chain of `dir`, for a pod with `localPorts`. */
export function policyRules(use: UseSet, opts: { dir: Direction; p: NormPolicy; i: number; r: Rule; counter: string; localPorts: PodPort[] }): IrRule[] {
  const { dir, p, i, r } = opts
  const base = { policy: p.key, counter: opts.counter }
  const out: Partial<IrRule>[] = []
  const comment = (j?: number) => commentText(`${p.key} ${dir}[${i}]${j === undefined ? '' : ` ${dir === 'ingress' ? 'from' : 'to'}[${j}]`}`)
  const peers: (Peer | null)[] = r.peers ?? [null]
  if (dir === 'ingress') {
    // Ingress: the local pod is the destination, every port (named ones too) resolves on it.
    const ports = r.ports ? r.ports.flatMap((x) => resolvePort(x, opts.localPorts)) : undefined
    if (ports && ports.length === 0) return [] // only named ports this pod lacks: allows nothing
    peers.forEach((peer, j) => out.push(...peerRules(use, peer).map((m) => ({ ...m, ports, ...base, comment: comment(r.peers ? j : undefined) }))))
    return out.map(clean)
  }
  // Egress: numbers apply to every peer; a name resolves on each destination pod, so it becomes a
  // set of exact (address, protocol, port) tuples of the peer's pods.
  const numeric = r.ports?.filter((x) => x.kind !== 'named').flatMap((x) => resolvePort(x, []))
  const named = r.ports?.filter((x) => x.kind === 'named') ?? []
  peers.forEach((peer, j) => {
    const c = comment(r.peers ? j : undefined)
    if (!r.ports || numeric!.length > 0) {
      out.push(...peerRules(use, peer).map((m) => ({ ...m, ports: numeric, ...base, comment: c })))
    }
    if (named.length > 0) {
      for (const family of peer?.kind === 'block' ? [peer.cidr.family] : FAMILIES) {
        out.push({ family, tupleSet: tupleSet(use, peer, named, family), ...base, comment: c })
      }
    }
  })
  return out.map(clean)
}

/** The address matches of one peer (null: any address). */
function peerRules(use: UseSet, peer: Peer | null): Partial<IrRule>[] {
  if (!peer) return [{}]
  if (peer.kind === 'block') {
    const f = peer.cidr.family
    const cidr = formatCidr(peer.cidr)
    const peerSet = use(`block-v${f}-${shortHash(cidr)}`, () => ({ family: f, kind: 'block', comment: `ipBlock ${cidr}`, elements: [cidr] }))
    if (peer.except.length === 0) return [{ family: f, peerSet }]
    const ex = peer.except.map(formatCidr)
    const exceptSet = use(`except-v${f}-${shortHash(ex.join(','))}`, () => ({
      family: f, kind: 'block', comment: `ipBlock except ${ex.join(', ')}`, elements: ex,
    }))
    return [{ family: f, peerSet, exceptSet }]
  }
  return FAMILIES.map((f) => ({
    family: f,
    peerSet: use(`peer-v${f}-${shortHash(peer.key)}`, () => ({ family: f, kind: 'addr', comment: peer.words, peer })),
  }))
}

function tupleSet(use: UseSet, peer: Peer | null, named: Port[], f: Family): string {
  const key = `${peer ? peer.key : 'all'} ports ${named.map((n) => `${n.protocol}:${n.kind === 'named' ? n.name : ''}`).join(',')}`
  return use(`tuple-v${f}-${shortHash(key)}`, () => {
    const words = named.map((n) => (n.kind === 'named' ? `${n.protocol}/${n.name}` : '')).join(', ')
    return { family: f, kind: 'tuple', comment: `${peer ? peer.words : 'any pod'}, ports ${words}`, peer, named }
  })
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
