// Checks one NetworkPolicy and turns it into the normalised form the compiler and `decide` share.
// A policy with any error is rejected WHOLE (issue #3: "skipped whole, while every other policy
// still applies"): a half-applied policy could allow more or less than its author wrote.
import type { NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, Protocol } from '../model/cluster.js'
import { compileSelector, type Selector } from '../model/selector.js'
import { LENIENT, cidrWithin, formatCidr, parseCidr, type Cidr } from '../../lib/ip/index.js'

export type PodsPeer = {
  kind: 'pods'
  /** null: podSelector absent (all pods of the selected namespaces) */
  podSel: Selector | null
  /** null: namespaceSelector absent, the peer is limited to `namespace` (the policy's own) */
  nsSel: Selector | null
  namespace: string
  key: string
  words: string
}
export type BlockPeer = { kind: 'block'; cidr: Cidr; except: Cidr[]; key: string; words: string }
export type Peer = PodsPeer | BlockPeer

export type Port =
  | { protocol: Protocol; kind: 'all' }
  | { protocol: Protocol; kind: 'range'; from: number; to: number }
  | { protocol: Protocol; kind: 'named'; name: string }

export interface Rule {
  /** null: `from`/`to` empty or absent, "this rule matches all sources/destinations" */
  peers: Peer[] | null
  /** null: `ports` empty or absent, "this rule matches all ports" */
  ports: Port[] | null
}

export interface NormPolicy {
  key: string
  namespace: string
  name: string
  podSel: Selector
  /** null when the policy does not apply to this direction (policyTypes) */
  ingress: Rule[] | null
  egress: Rule[] | null
}

const PROTOCOLS: Protocol[] = ['TCP', 'UDP', 'SCTP']
const cache = new WeakMap<NetworkPolicy, NormPolicy | { error: string }>()

/** Normalises a policy (cached per object: sources replace objects, never mutate them). */
export function normalizePolicy(p: NetworkPolicy): NormPolicy | { error: string } {
  let r = cache.get(p)
  if (!r) {
    try { r = normalize(p) } catch (e) { r = { error: (e as Error).message } }
    cache.set(p, r)
  }
  return r
}

function normalize(p: NetworkPolicy): NormPolicy {
  const namespace = p.metadata?.namespace ?? 'default'
  const name = p.metadata?.name
  if (!name) throw new Error('metadata.name is missing')
  const spec = p.spec ?? {}
  // NetworkPolicySpec.podSelector: "An empty podSelector selects all pods in this namespace."
  const podSel = wrap('spec.podSelector', () => selectorOf(spec.podSelector))
  // NetworkPolicySpec.policyTypes: "If this field is not specified, it will default based on the
  // existence of ingress or egress rules; policies that contain an egress section are assumed to
  // affect egress, and all policies (whether or not they contain an ingress section) are assumed to
  // affect ingress." The API server defaults Egress only when len(egress) > 0.
  const types = spec.policyTypes ?? ['Ingress', ...((spec.egress?.length ?? 0) > 0 ? ['Egress'] : [])]
  for (const t of types) if (t !== 'Ingress' && t !== 'Egress') throw new Error(`spec.policyTypes: unknown type ${JSON.stringify(t)}`)
  const rules = (dir: 'ingress' | 'egress', list: { from?: NetworkPolicyPeer[]; to?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }[] | undefined) =>
    (list ?? []).map((r, i): Rule => {
      const where = `spec.${dir}[${i}]`
      const peersRaw = dir === 'ingress' ? r.from : r.to
      return {
        peers: peersRaw && peersRaw.length > 0
          ? peersRaw.map((x, j) => peerOf(x, namespace, `${where}.${dir === 'ingress' ? 'from' : 'to'}[${j}]`)) : null,
        ports: r.ports && r.ports.length > 0 ? r.ports.map((x, j) => portOf(x, `${where}.ports[${j}]`)) : null,
      }
    })
  return {
    key: `${namespace}/${name}`, namespace, name, podSel,
    // "If this field is empty then this NetworkPolicy does not allow any traffic" (ingress/egress).
    ingress: types.includes('Ingress') ? rules('ingress', spec.ingress) : null,
    egress: types.includes('Egress') ? rules('egress', spec.egress) : null,
  }
}

function wrap<T>(where: string, f: () => T): T {
  try { return f() } catch (e) { throw new Error(`${where}: ${(e as Error).message}`) }
}

// Peers repeat across policies (a cluster's 30k policies hold a few hundred distinct peers): each
// distinct one is checked and compiled once. Keyed by the peer's JSON and, for pod peers (which
// carry it), the policy's namespace; a peer that fails is not kept, so its error names its own
// path. Selectors are memoised on their own, across namespaces.
// Peers are read-only data, shared by every policy that has them. Bounded: cleared past MAX_MEMO.
const MAX_MEMO = 50_000
const peerMemo = new Map<string, Peer>()
const selectorMemo = new Map<string, Selector>()

function peerOf(x: NetworkPolicyPeer, namespace: string, where: string): Peer {
  const memoKey = `${x.ipBlock ? '' : namespace}\n${JSON.stringify(x)}`
  let peer = peerMemo.get(memoKey)
  if (!peer) {
    peer = checkPeer(x, namespace, where)
    if (peerMemo.size >= MAX_MEMO) peerMemo.clear()
    peerMemo.set(memoKey, peer)
  }
  return peer
}

/** compileSelector, once per distinct selector (pod selectors of policies repeat too). */
function selectorOf(sel: NetworkPolicyPeer['podSelector']): Selector {
  const memoKey = JSON.stringify(sel ?? {})
  let s = selectorMemo.get(memoKey)
  if (!s) {
    s = compileSelector(sel ?? {})
    if (selectorMemo.size >= MAX_MEMO) selectorMemo.clear()
    selectorMemo.set(memoKey, s)
  }
  return s
}

function checkPeer(x: NetworkPolicyPeer, namespace: string, where: string): Peer {
  if (x.ipBlock) {
    // NetworkPolicyPeer: ipBlock cannot be combined with podSelector/namespaceSelector.
    if (x.podSelector || x.namespaceSelector) throw new Error(`${where}: ipBlock cannot be combined with a selector`)
    const cidr = parseCidr(String(x.ipBlock.cidr ?? ''), LENIENT)?.cidr
    if (!cidr) throw new Error(`${where}.ipBlock.cidr: ${JSON.stringify(x.ipBlock.cidr)} is not a valid CIDR`)
    // IPBlock.except: "Except values will be rejected if they are outside the cidr range".
    const except = (x.ipBlock.except ?? []).map((e, k) => {
      const c = parseCidr(String(e), LENIENT)?.cidr
      if (!c) throw new Error(`${where}.ipBlock.except[${k}]: ${JSON.stringify(e)} is not a valid CIDR`)
      if (!cidrWithin(c, cidr) || c.prefix === cidr.prefix) throw new Error(`${where}.ipBlock.except[${k}]: ${e} is not inside ${formatCidr(cidr)}`)
      return c
    })
    // CIDRs nest or are disjoint: drop excepts inside other excepts, so interval sets never overlap.
    const kept = except.filter((c, i) => !except.some((o, j) => j !== i && cidrWithin(c, o) && (o.prefix < c.prefix || j < i)))
      .sort((a, b) => (a.network < b.network ? -1 : a.network > b.network ? 1 : a.prefix - b.prefix))
    const key = `block ${formatCidr(cidr)} except ${kept.map(formatCidr).join(',')}`
    const words = `ipBlock ${formatCidr(cidr)}${kept.length ? ` except ${kept.map(formatCidr).join(', ')}` : ''}`
    return { kind: 'block', cidr, except: kept, key, words }
  }
  if (!x.podSelector && !x.namespaceSelector) throw new Error(`${where}: a peer needs podSelector, namespaceSelector or ipBlock`)
  const podSel = x.podSelector ? wrap(`${where}.podSelector`, () => selectorOf(x.podSelector)) : null
  const nsSel = x.namespaceSelector ? wrap(`${where}.namespaceSelector`, () => selectorOf(x.namespaceSelector)) : null
  const key = `pods ns=${nsSel ? `sel(${nsSel.key})` : namespace} pod=${podSel ? `sel(${podSel.key})` : '*'}`
  const nsWords = !nsSel ? `namespace ${namespace}` : nsSel.words === 'all' ? 'any namespace' : `namespaces with ${nsSel.words}`
  const words = `${podSel && podSel.words !== 'all' ? `pods with ${podSel.words}` : 'all pods'} in ${nsWords}`
  return { kind: 'pods', podSel, nsSel, namespace, key, words }
}

function portOf(x: NetworkPolicyPort, where: string): Port {
  // NetworkPolicyPort.protocol: "If not specified, this field defaults to TCP."
  const protocol = (x.protocol ?? 'TCP') as Protocol
  if (!PROTOCOLS.includes(protocol)) throw new Error(`${where}.protocol: unknown protocol ${JSON.stringify(x.protocol)}`)
  const endPort = x.endPort
  if (x.port === undefined || x.port === null) {
    // "If this field is not provided, this matches all port names and numbers."
    if (endPort !== undefined) throw new Error(`${where}.endPort: needs a numeric port`)
    return { protocol, kind: 'all' }
  }
  if (typeof x.port === 'string' && !/^\d+$/.test(x.port)) {
    // endPort: "The endPort must be equal or greater than port." and only with a numeric port.
    if (endPort !== undefined) throw new Error(`${where}.endPort: cannot be used with named port ${x.port}`)
    return { protocol, kind: 'named', name: x.port }
  }
  const from = Number(x.port)
  const to = endPort === undefined ? from : Number(endPort)
  if (!Number.isInteger(from) || from < 1 || from > 65535) throw new Error(`${where}.port: ${x.port} is not a port number`)
  if (!Number.isInteger(to) || to < from || to > 65535) throw new Error(`${where}.endPort: ${endPort} must be a port >= ${from}`)
  return { protocol, kind: 'range', from, to }
}
