// Checks one NetworkPolicy and turns it into the normalised form the compiler and `decide` share.
// A policy with any error is rejected WHOLE (issue #3: "skipped whole, while every other policy
// still applies"): a half-applied policy could allow more or less than its author wrote.
import type { NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, Protocol } from '../model/cluster.js'
import { compileSelector, type Selector } from '../model/selector.js'
import { LENIENT, cidrWithin, formatCidr, parseCidr, type Cidr } from '../../lib/ip/index.js'
import { policyCost } from './cost.js'

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
    // Its cost too (memoised there): the store normalises each policy as the lists arrive.
    if (!('error' in r)) policyCost(r)
  }
  return r
}

function normalize(p: NetworkPolicy): NormPolicy {
  const namespace = p.metadata?.namespace ?? 'default'
  const name = p.metadata?.name
  if (!name) throw new Error('metadata.name is missing')
  const spec = p.spec ?? {}
  // NetworkPolicySpec.podSelector: "An empty podSelector selects all pods in this namespace."
  const podSel = selectorAt('spec.podSelector', spec.podSelector)
  // NetworkPolicySpec.policyTypes: "If this field is not specified, it will default based on the
  // existence of ingress or egress rules; policies that contain an egress section are assumed to
  // affect egress, and all policies (whether or not they contain an ingress section) are assumed to
  // affect ingress." The API server defaults Egress only when len(egress) > 0.
  const types = spec.policyTypes ?? ['Ingress', ...((spec.egress?.length ?? 0) > 0 ? ['Egress'] : [])]
  for (const t of types) if (t !== 'Ingress' && t !== 'Egress') throw new Error(`spec.policyTypes: unknown type ${JSON.stringify(t)}`)
  // Ingress before egress, and in a rule its peers before its ports: the first error found is the one reported.
  const ingress = types.includes('Ingress') ? rulesOf('ingress', spec.ingress, namespace) : null
  const egress = types.includes('Egress') ? rulesOf('egress', spec.egress, namespace) : null
  return {
    key: `${namespace}/${name}`, namespace, name, podSel,
    // "If this field is empty then this NetworkPolicy does not allow any traffic" (ingress/egress).
    ingress, egress,
  }
}

type RawRule = { from?: NetworkPolicyPeer[]; to?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }

// Plain loops, and an error's path (`spec.ingress[0].from[1]`) built only when there is an error:
// at 30k policies on the agent's start, the paths and closures built for every rule, peer and
// port were a good part of normalising (bench/README.md, phase 5e).
function rulesOf(dir: 'ingress' | 'egress', list: RawRule[] | undefined, namespace: string): Rule[] {
  const out: Rule[] = []
  if (!list) return out
  const field = dir === 'ingress' ? 'from' : 'to'
  for (let i = 0; i < list.length; i++) {
    const r = list[i]!
    const peersRaw = r[field]
    let peers: Peer[] | null = null
    if (peersRaw && peersRaw.length > 0) {
      peers = []
      for (let j = 0; j < peersRaw.length; j++) peers.push(peerOf(peersRaw[j]!, namespace, dir, field, i, j))
    }
    let ports: Port[] | null = null
    if (r.ports && r.ports.length > 0) {
      ports = []
      for (let j = 0; j < r.ports.length; j++) ports.push(portAt(r.ports[j]!, dir, i, j))
    }
    out.push({ peers, ports })
  }
  return out
}

function selectorAt(where: string, sel: NetworkPolicyPeer['podSelector']): Selector {
  try { return selectorOf(sel) } catch (e) { throw new Error(`${where}: ${(e as Error).message}`) }
}

// Peers repeat across policies (the bench's 30k policies hold 82,500 peers, 320 distinct as JSON,
// 60,000 distinct with the namespace pod peers carry): each distinct JSON is checked and compiled
// once (`shapeMemo`), and a pod peer of another namespace is that peer with the namespace put in
// (its key and words name the namespace when it has no namespaceSelector); peers are then kept per
// namespace ('' for ipBlocks) and JSON, so the policies of a namespace share them. A peer that
// fails is not kept, so its error names its own path. Selectors are memoised on their own.
// Peers are read-only data, shared by every policy that has them. Bounded: cleared past MAX_MEMO.
const MAX_MEMO = 50_000
// And by the size of what is kept: a key is a peer's or selector's whole JSON, and one object may
// hold a selector of a megabyte (a long `values` list: the cost bound counts set elements and rules,
// not selector bytes). 50,000 of those, a tenant rewriting one policy, would pin gigabytes. The
// peers worth sharing are small; a larger one is compiled for its policy and not kept.
const MAX_MEMO_KEY = 4096
const peerMemo = new Map<string, Map<string, Peer>>()
let peerMemoSize = 0
const shapeMemo = new Map<string, Peer>()
const selectorMemo = new Map<string, Selector>()

function peerOf(x: NetworkPolicyPeer, namespace: string, dir: string, field: string, i: number, j: number): Peer {
  const scope = x.ipBlock ? '' : namespace
  const json = JSON.stringify(x)
  if (json.length > MAX_MEMO_KEY) return checkPeer(x, namespace, `spec.${dir}[${i}].${field}[${j}]`)
  let inScope = peerMemo.get(scope)
  let peer = inScope?.get(json)
  if (!peer) {
    const shape = shapeMemo.get(json)
    if (shape) peer = shape.kind === 'block' || shape.namespace === namespace ? shape : podsPeerIn(shape, namespace)
    else {
      peer = checkPeer(x, namespace, `spec.${dir}[${i}].${field}[${j}]`)
      if (shapeMemo.size >= MAX_MEMO) shapeMemo.clear()
      shapeMemo.set(json, peer)
    }
    if (peerMemoSize >= MAX_MEMO) (peerMemo.clear(), (peerMemoSize = 0), (inScope = undefined))
    if (!inScope) peerMemo.set(scope, (inScope = new Map()))
    inScope.set(json, peer)
    peerMemoSize++
  }
  return peer
}

/** compileSelector, once per distinct selector (pod selectors of policies repeat too). */
function selectorOf(sel: NetworkPolicyPeer['podSelector']): Selector {
  const memoKey = JSON.stringify(sel ?? {})
  if (memoKey.length > MAX_MEMO_KEY) return compileSelector(sel ?? {})
  let s = selectorMemo.get(memoKey)
  if (!s) {
    s = compileSelector(sel ?? {})
    if (selectorMemo.size >= MAX_MEMO) selectorMemo.clear()
    selectorMemo.set(memoKey, s)
  }
  return s
}

// Ports repeat even more than peers (`http`, 443, 53/UDP): a valid port's normal form is shared,
// read-only, keyed by the fields it is made of. Only for the types `convert.ts` gives (a protocol of
// PROTOCOLS or none, a numeric endPort or none, a numeric or string port or none): then every key
// part but the last (the port) is free of the separator, so two different ports never share a key.
// Anything else, and every invalid port, goes through portOf alone.
const portMemo = new Map<string, Port>()
// A port name is an IANA_SVC_NAME (at most 15 characters) where an API server checks it; a
// manifest's may be a megabyte, and 50,000 of those would be kept: a longer one is not memoised.
const MAX_PORT_KEY = 64

function portAt(x: NetworkPolicyPort, dir: string, i: number, j: number): Port {
  const { protocol, port, endPort } = x
  const memoable = (protocol === undefined || PROTOCOLS.includes(protocol as Protocol)) &&
    (endPort === undefined || typeof endPort === 'number') &&
    (port === undefined || typeof port === 'number' || (typeof port === 'string' && port.length <= MAX_PORT_KEY))
  if (!memoable) return portOf(x, `spec.${dir}[${i}].ports[${j}]`)
  const key = `${protocol ?? ''}\n${endPort ?? ''}\n${typeof port}\n${port ?? ''}`
  let r = portMemo.get(key)
  if (!r) {
    r = portOf(x, `spec.${dir}[${i}].ports[${j}]`)
    if (portMemo.size >= MAX_MEMO) portMemo.clear()
    portMemo.set(key, r)
  }
  return r
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
  const podSel = x.podSelector ? selectorAt(`${where}.podSelector`, x.podSelector) : null
  const nsSel = x.namespaceSelector ? selectorAt(`${where}.namespaceSelector`, x.namespaceSelector) : null
  return podsPeer(podSel, nsSel, namespace)
}

/** The pod peer of `namespace` with the selectors of `p`, as checkPeer builds it. */
function podsPeerIn(p: PodsPeer, namespace: string): PodsPeer {
  // With a namespaceSelector, key and words do not name the namespace: only the field differs.
  if (p.nsSel) return { kind: 'pods', podSel: p.podSel, nsSel: p.nsSel, namespace, key: p.key, words: p.words }
  return podsPeer(p.podSel, null, namespace)
}

function podsPeer(podSel: Selector | null, nsSel: Selector | null, namespace: string): PodsPeer {
  // JSON, as the selectors' keys: a manifest's namespace name may hold ` pod=sel(`.
  const key = JSON.stringify(['pods', nsSel ? 'sel' : 'ns', nsSel ? nsSel.key : namespace, podSel ? podSel.key : null])
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
