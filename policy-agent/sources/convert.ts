// Turns Kubernetes objects, as JSON (an API list or watch event, or a manifest), into the model
// types of ../model/cluster.ts. It is the ONE reader of objects, whatever their path: list, watch,
// relist and manifest all pass through `convertAs`, so they cannot disagree about a field (a typed
// client once read a listed policy's `from` as `_from` and dropped its peers).
//
// Conversion keeps only what policy needs (the raw object, with its managedFields and annotations
// other than cinch.dev/*, is dropped at arrival) and is strict about types (fields.ts): an object with a field of an
// unexpected type is rejected whole and reported, never read as empty. Semantic checks (CIDRs,
// protocols of a policy, port ranges) stay with the compiler, which reports and skips a policy.
// Results are deep-frozen: sources share them with the compiler, which caches per object.
import type { ClusterNetworkPolicyObject, IPBlock, LabelSelector, LabelSelectorRequirement, Namespace, NetworkPolicy, NetworkPolicyPeer, NetworkPolicySpec, NetworkPolicyPort, Node, Pod, PodPort, Protocol } from '../model/cluster.js'
import { at, explained, int, list, obj, optBool, optInt, optIntOrStr, optList, optObj, optStr, str, strMap, type Json } from './fields.js'

export const KINDS = ['Pod', 'Namespace', 'NetworkPolicy', 'Node', 'ClusterNetworkPolicy'] as const
export type Kind = (typeof KINDS)[number]

/** A Kubernetes object we do not yet know the kind of. */
export interface KubeObject {
  apiVersion?: string
  kind?: string
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; resourceVersion?: string }
  spec?: any
  status?: any
  items?: unknown[]
}

export type Converted =
  | { kind: 'Pod'; key: string; value: Pod }
  | { kind: 'Namespace'; key: string; value: Namespace }
  | { kind: 'NetworkPolicy'; key: string; value: NetworkPolicy }
  | { kind: 'Node'; key: string; value: Node }
  | { kind: 'ClusterNetworkPolicy'; key: string; value: ClusterNetworkPolicyObject }

const NAMESPACED: Record<Kind, boolean> = { Pod: true, Namespace: false, NetworkPolicy: true, Node: false, ClusterNetworkPolicy: false }
const PROTOCOLS = new Set<string>(['TCP', 'UDP', 'SCTP'])

/**
 * The store key of an object (`ns/name`, or `name` for cluster-scoped kinds), read leniently of
 * everything else: a watch DELETED event must find its object even if the rest no longer converts.
 * A manifest may leave the namespace out; the API server always sets it.
 */
export function keyOf(kind: Kind, o: Json): string {
  const meta = obj(obj(o, kind).metadata, 'metadata')
  const name = str(meta.name, 'metadata.name')
  if (!name) throw new Error('metadata.name: empty')
  if (!NAMESPACED[kind]) return name
  return `${optStr(meta.namespace, 'metadata.namespace') || 'default'}/${name}`
}

/** Converts one object of `kind` (the kind its API path serves: list items carry no `kind`). */
export function convertAs(kind: Kind, o: Json): Converted {
  const key = keyOf(kind, o)
  // Paths joined only if the object fails (fields.ts).
  switch (kind) {
    case 'Pod': return { kind, key, value: freezePod(explained(() => toPod(o))) }
    case 'Namespace': return { kind, key, value: deepFreeze(explained(() => toNamespace(o))) }
    case 'NetworkPolicy': return { kind, key, value: freezePolicy(explained(() => toPolicy(o))) }
    case 'Node': return { kind, key, value: deepFreeze(explained(() => toNode(o))) }
    case 'ClusterNetworkPolicy': return { kind, key, value: deepFreeze(toClusterNetworkPolicy(o)) }
  }
}

/** Converts an object by its own `kind`; null for kinds we do not read (ignored by design). */
export function convertObject(o: KubeObject): Converted | null {
  return (KINDS as readonly string[]).includes(o?.kind ?? '') ? convertAs(o.kind as Kind, o) : null
}

function meta(o: Json, kind: Kind) {
  const m = obj(obj(o, kind).metadata, 'metadata')
  const name = str(m.name, 'metadata.name')
  const namespace = NAMESPACED[kind] ? optStr(m.namespace, 'metadata.namespace') || 'default' : undefined
  return { name, namespace, labels: strMap(m.labels, 'metadata.labels'), annotations: cinchAnnotations(m.annotations) }
}

/** The annotations the agent reads (kube-protobuf.ts decodes no others). */
export const CINCH_PREFIX = 'cinch.dev/'
const MAX_ANNOTATION_VALUE = 256

/**
 * The `cinch.dev/*` annotations (flow logs, audit: flows/audit.ts); undefined when there are none.
 * Lenient where strictness would fail open: another tool's odd annotation must not reject the
 * object, and a cinch.dev value that is not a string (a manifest's YAML `true`) is kept as text
 * that is not "true", so an audit opt-in is reported and the policy stays enforced.
 */
function cinchAnnotations(v: Json): Record<string, string> | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined
  let out: Record<string, string> | undefined
  for (const [k, x] of Object.entries(v)) {
    if (!k.startsWith(CINCH_PREFIX) || k.length > 253) continue
    const text = typeof x === 'string' ? x.slice(0, MAX_ANNOTATION_VALUE) : `<not a string: ${typeof x}>`
    Object.defineProperty((out ??= {}), k, { value: text, enumerable: true, writable: true, configurable: true })
  }
  return out
}

export function toPod(o: Json): Pod {
  const { name, namespace, labels } = meta(o, 'Pod')
  const status = optObj(obj(o, 'Pod').status, 'status') ?? {}
  // API: status.podIPs holds every address (dual stack); status.podIP only the first.
  const ips = list(status.podIPs, 'status.podIPs', (x, p) => str(obj(x, p).ip, at(p, '.ip'))).filter(Boolean)
  const podIP = optStr(status.podIP, 'status.podIP')
  if (ips.length === 0 && podIP) ips.push(podIP)
  const rawSpec = obj(o, 'Pod').spec
  const { ports, nodeName, hostNetwork } = sharedSpec(rawSpec, () => podSpec(optObj(rawSpec, 'spec') ?? {}))
  // PodStatus.phase: a Succeeded or Failed pod has stopped for good and its addresses go back to
  // the pool (another pod may hold them already), so it must not stand for them in any peer set.
  const phase = optStr(status.phase, 'status.phase')
  const done = phase === 'Succeeded' || phase === 'Failed'
  return nodeName
    ? { namespace: namespace!, name, labels, ips: done ? [] : ips, nodeName, hostNetwork, ports }
    : { namespace: namespace!, name, labels, ips: done ? [] : ips, hostNetwork, ports }
}

/** What a Pod's spec gives policy; its ports come frozen (they may be shared: sharedSpec). */
interface PodSpecParts { ports: PodPort[]; nodeName: string | undefined; hostNetwork: boolean }

function podSpec(spec: Record<string, Json>): PodSpecParts {
  const ports: PodPort[] = []
  for (const field of ['initContainers', 'containers'] as const) {
    list(spec[field], at('spec', field === 'containers' ? '.containers' : '.initContainers'), (c, cp) => list(obj(c, cp).ports, at(cp, '.ports'), (x, p) => {
      const port = obj(x, p)
      // API: ContainerPort.protocol "Must be UDP, TCP, or SCTP. Defaults to "TCP"."
      const protocol = optStr(port.protocol, at(p, '.protocol')) ?? 'TCP'
      if (!PROTOCOLS.has(protocol)) throw new Error(`${p}.protocol: unknown protocol ${JSON.stringify(protocol)}`)
      const portName = optStr(port.name, at(p, '.name'))
      const containerPort = int(port.containerPort, at(p, '.containerPort'))
      // Literals, not spreads of optional parts (~2x slower to build at 30k pods); same key order.
      ports.push(Object.freeze(portName ? { name: portName, containerPort, protocol: protocol as Protocol } : { containerPort, protocol: protocol as Protocol }))
    }))
  }
  const nodeName = optStr(spec.nodeName, 'spec.nodeName')
  const hostNetwork = optBool(spec.hostNetwork, 'spec.hostNetwork') === true
  return { ports: Object.freeze(ports) as PodPort[], nodeName, hostNetwork }
}

export function toNamespace(o: Json): Namespace {
  const { name, labels, annotations } = meta(o, 'Namespace')
  // Since 1.22 the API server sets kubernetes.io/metadata.name on every namespace; a manifest may
  // omit it, so add it here for selectors that rely on it.
  return { name, labels: { 'kubernetes.io/metadata.name': name, ...labels }, ...(annotations ? { annotations } : {}) }
}

export function toNode(o: Json): Node {
  const { name, labels } = meta(o, 'Node')
  const spec = optObj(obj(o, 'Node').spec, 'spec') ?? {}
  const status = optObj(obj(o, 'Node').status, 'status') ?? {}
  const podCIDRs = list(spec.podCIDRs, 'spec.podCIDRs', str)
  const podCIDR = optStr(spec.podCIDR, 'spec.podCIDR')
  const addresses = list(status.addresses, 'status.addresses', (x, p) => ({ type: str(obj(x, p).type, at(p, '.type')), address: str(obj(x, p).address, at(p, '.address')) }))
  return {
    name,
    podCIDRs: podCIDRs.length ? podCIDRs : podCIDR ? [podCIDR] : [],
    internalIPs: addresses.filter((a) => a.type === 'InternalIP').map((a) => a.address),
    labels,
    // NodeAddress types InternalIP / ExternalIP carry addresses; Hostname / *DNS carry names.
    addresses: addresses.filter((a) => a.type === 'InternalIP' || a.type === 'ExternalIP').map((a) => a.address),
  }
}

/**
 * A ClusterNetworkPolicy: its name and a copy of its spec, nothing else (metadata, status and
 * managedFields dropped at arrival). The spec is checked by cnp/convert.ts where it is used, which
 * reports an invalid policy by name instead of dropping it silently here.
 */
export function toClusterNetworkPolicy(o: Json): ClusterNetworkPolicyObject {
  const { name, annotations } = meta(o, 'ClusterNetworkPolicy')
  const raw = obj(o, 'ClusterNetworkPolicy')
  const apiVersion = optStr(raw.apiVersion, 'apiVersion')
  return { ...(apiVersion ? { apiVersion } : {}), kind: 'ClusterNetworkPolicy', metadata: { name, ...(annotations ? { annotations } : {}) }, spec: structuredClone(raw.spec ?? null) }
}

/**
 * networking.k8s.io/v1 NetworkPolicy, only the fields policy reads, presence kept where the API
 * gives absence a meaning (an absent `from` allows every source; an absent `policyTypes` defaults).
 */
export function toPolicy(o: Json): NetworkPolicy {
  const { name, namespace, annotations } = meta(o, 'NetworkPolicy')
  const rawSpec = obj(o, 'NetworkPolicy').spec
  const spec = sharedSpec(rawSpec, () => freezeSpec(policySpec(optObj(rawSpec, 'spec') ?? {})))
  return { metadata: annotations ? { namespace, name, annotations } : { namespace, name }, spec }
}

function policySpec(spec: Record<string, Json>): NetworkPolicySpec {
  const out: NetworkPolicySpec = {}
  const podSelector = selector(spec.podSelector, 'spec.podSelector')
  if (podSelector) out.podSelector = podSelector
  const policyTypes = optList(spec.policyTypes, 'spec.policyTypes', str)
  if (policyTypes) out.policyTypes = policyTypes
  const ingress = optList(spec.ingress, 'spec.ingress', (r, p) => rule(obj(r, p), p, 'from'))
  if (ingress) out.ingress = ingress
  const egress = optList(spec.egress, 'spec.egress', (r, p) => rule(obj(r, p), p, 'to'))
  if (egress) out.egress = egress
  return out
}

// Specs that many objects hold: a restart snapshot writes each distinct spec once, and every
// object that held it refers to it (snapshot.ts). At 30k/30k, 30,000 policies held 6,429 specs
// and reading each again was ~0.5 s of a restart. A raw spec marked here converts once; its
// result, frozen, is shared by every object holding that raw spec. Conversion reads only its
// input, so the shared result is the one each would have had; a failure is not kept (each holder
// converts again and is reported with its own path).
const sharedSpecs = new WeakMap<object, PodSpecParts | NetworkPolicySpec | null>()

/** `raw` is a spec that several objects of one kind hold (a restart snapshot's): converted once. */
export function shareSpec(raw: Json): void {
  if (typeof raw === 'object' && raw !== null) sharedSpecs.set(raw, null)
}

function sharedSpec<T extends PodSpecParts | NetworkPolicySpec>(raw: Json, convert: () => T): T {
  const known = typeof raw === 'object' && raw !== null ? sharedSpecs.get(raw) : undefined
  if (known === undefined) return convert()
  if (known !== null) return known as T
  const value = convert()
  sharedSpecs.set(raw as object, value)
  return value
}

/**
 * A rule's peers and ports; an empty list reads as absent ("If this field is empty or missing, this
 * rule matches all"): the API server's JSON omits it (omitempty) and protobuf cannot tell the two
 * apart, so a rule reads the same listed (protobuf), watched (JSON) or from a manifest.
 */
function rule(r: Record<string, Json>, path: string, peersField: 'from' | 'to') {
  const out: { from?: NetworkPolicyPeer[]; to?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] } = {}
  const peers = optList(r[peersField], at(path, peersField === 'from' ? '.from' : '.to'), peer)
  if (peers?.length) out[peersField] = peers
  const ports = optList(r.ports, at(path, '.ports'), port)
  if (ports?.length) out.ports = ports
  return out
}

function peer(x: Json, path: string): NetworkPolicyPeer {
  const p = obj(x, path)
  const out: NetworkPolicyPeer = {}
  const podSelector = selector(p.podSelector, at(path, '.podSelector'))
  if (podSelector) out.podSelector = podSelector
  const namespaceSelector = selector(p.namespaceSelector, at(path, '.namespaceSelector'))
  if (namespaceSelector) out.namespaceSelector = namespaceSelector
  const block = optObj(p.ipBlock, at(path, '.ipBlock'))
  if (block) {
    const ipBlock: IPBlock = { cidr: str(block.cidr, at(path, '.ipBlock.cidr')) }
    const except = optList(block.except, at(path, '.ipBlock.except'), str)
    if (except) ipBlock.except = except
    out.ipBlock = ipBlock
  }
  return out
}

function port(x: Json, path: string): NetworkPolicyPort {
  const p = obj(x, path)
  const out: NetworkPolicyPort = {}
  const protocol = optStr(p.protocol, at(path, '.protocol'))
  if (protocol !== undefined) out.protocol = protocol
  const value = optIntOrStr(p.port, at(path, '.port'))
  if (value !== undefined) out.port = value
  const endPort = optInt(p.endPort, at(path, '.endPort'))
  if (endPort !== undefined) out.endPort = endPort
  return out
}

/** A LabelSelector; undefined when absent (which differs from `{}`, "every pod", in a peer). */
function selector(x: Json, path: string): LabelSelector | undefined {
  const s = optObj(x, path)
  if (!s) return undefined
  const out: LabelSelector = {}
  if (s.matchLabels !== undefined && s.matchLabels !== null) out.matchLabels = strMap(s.matchLabels, at(path, '.matchLabels'))
  const exprs = optList(s.matchExpressions, at(path, '.matchExpressions'), (e, p): LabelSelectorRequirement => {
    const r = obj(e, p)
    const values = optList(r.values, at(p, '.values'), str)
    const req: LabelSelectorRequirement = { key: str(r.key, at(p, '.key')), operator: str(r.operator, at(p, '.operator')) }
    if (values) req.values = values
    return req
  })
  if (exprs) out.matchExpressions = exprs
  return out
}

/**
 * deepFreeze for the shape toPod builds, without its generic walk (Object.values of every object):
 * 30k pods are frozen at every start, and the walk cost ~0.2 s of it. Its ports come frozen.
 */
function freezePod(p: Pod): Pod {
  Object.freeze(p.labels)
  Object.freeze(p.ips)
  return Object.freeze(p)
}

/**
 * deepFreeze for the shape toPolicy builds, as freezePod: at 30k policies the generic walk was
 * ~0.13 s of a list's conversion. Every object toPolicy makes is frozen (convert.test.ts checks it
 * against the generic walk); its spec comes frozen (freezeSpec).
 */
function freezePolicy(p: NetworkPolicy): NetworkPolicy {
  if (p.metadata.annotations) Object.freeze(p.metadata.annotations)
  Object.freeze(p.metadata)
  return Object.freeze(p)
}

function freezeSpec(spec: NetworkPolicySpec): NetworkPolicySpec {
  if (spec.podSelector) freezeSelector(spec.podSelector)
  if (spec.policyTypes) Object.freeze(spec.policyTypes)
  // Indexed loops, no array of the two directions: for-of here allocated ~6 MB of iterator
  // results over 30k policies.
  if (spec.ingress) freezeRules(spec.ingress as Rule[])
  if (spec.egress) freezeRules(spec.egress as Rule[])
  return Object.freeze(spec)
}

type Rule = { from?: NetworkPolicyPeer[]; to?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }

function freezeRules(rules: Rule[]): void {
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]!
    if (r.from) freezePeers(r.from)
    if (r.to) freezePeers(r.to)
    if (r.ports) {
      for (let j = 0; j < r.ports.length; j++) Object.freeze(r.ports[j])
      Object.freeze(r.ports)
    }
    Object.freeze(r)
  }
  Object.freeze(rules)
}

function freezePeers(peers: NetworkPolicyPeer[]): void {
  for (let i = 0; i < peers.length; i++) {
    const x = peers[i]!
    if (x.podSelector) freezeSelector(x.podSelector)
    if (x.namespaceSelector) freezeSelector(x.namespaceSelector)
    if (x.ipBlock) (x.ipBlock.except && Object.freeze(x.ipBlock.except), Object.freeze(x.ipBlock))
    Object.freeze(x)
  }
  Object.freeze(peers)
}

function freezeSelector(s: LabelSelector): void {
  if (s.matchLabels) Object.freeze(s.matchLabels)
  if (s.matchExpressions) {
    for (let i = 0; i < s.matchExpressions.length; i++) {
      const e = s.matchExpressions[i]!
      if (e.values) Object.freeze(e.values)
      Object.freeze(e)
    }
    Object.freeze(s.matchExpressions)
  }
  Object.freeze(s)
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) deepFreeze(x)
    Object.freeze(v)
  }
  return v
}

/** Flattens `kind: List` (and *List kinds such as PodList) into their items. */
export function flattenList(o: KubeObject): KubeObject[] {
  if (o && Array.isArray(o.items) && (o.kind === 'List' || o.kind?.endsWith('List'))) {
    const itemKind = o.kind === 'List' ? undefined : o.kind.slice(0, -'List'.length)
    return o.items.flatMap((i) => flattenList({ ...(itemKind ? { kind: itemKind } : {}), ...(i as KubeObject) }))
  }
  return [o]
}
