// Raw ClusterNetworkPolicy (JSON from the API server or a manifest) -> the checked form of
// types.ts, or the reason it is invalid. Strict, like the CRD (apis/v1alpha2
// clusternetworkpolicy_types.go, v0.2.0): a wrong type, a missing required field, a value out of
// range or two mutually exclusive fields make the policy INVALID, reported and skipped whole (a
// half-applied policy could allow more or less than its author wrote).
//
// The one exception is a shape from a newer API: a peer, protocol, port or rule with a field
// cinch does not know, or with none of the fields it knows (what a typed client sees after the
// server kept a field it cannot decode). ClusterNetworkPolicyIngressPeer: "If an implementation
// sees no fields are set then it can infer that the deployed CRD is of an incompatible version
// with an unknown field. In that case it should fail closed." Such a rule is kept with
// `failClosed` set, and the policy carries a warning.
import { compileSelector, type Selector } from '../model/selector.js'
import type { LabelSelector, Protocol } from '../model/cluster.js'
import { formatCidr, parseCidr, type Cidr } from '../../lib/ip/index.js'
import { ACTIONS, TIERS, type Action, type Direction, type InvalidPolicy, type Peer, type Policy, type ProtocolMatch, type Rule, type Subject, type Tier } from './types.js'

export const API_VERSION = 'policy.networking.k8s.io/v1alpha2'
export const KIND = 'ClusterNetworkPolicy'

// Limits from the CRD's kubebuilder markers.
const MAX_RULES = 25 // spec.ingress / spec.egress MaxItems
const MAX_PEERS = 25 // from / to MaxItems (MinItems 1)
const MAX_PROTOCOLS = 25 // protocols MaxItems (MinItems 1)
const MAX_LIST = 25 // networks / domainNames MaxItems (MinItems 1)
const MAX_RULE_NAME = 100
const MAX_CIDR_TEXT = 43
const PRIORITY_MIN = 0
const PRIORITY_MAX = 1000
// DomainName's kubebuilder Pattern, verbatim (the `A-z` ranges are upstream's).
const DOMAIN_NAME = /^(\*\.)?([a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.)+[a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.?$/
// metadata.name of a cluster-scoped custom resource: a DNS-1123 subdomain.
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

export type ConvertResult = { policy: Policy } | { invalid: InvalidPolicy }

/** A problem that makes the whole policy invalid. */
class Invalid extends Error {}

/** Collects the fail-closed reasons of one rule while its parts are read. */
interface RuleCtx { failClosed: string | null }

type Obj = Record<string, unknown>
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x)
const present = (o: Obj, k: string) => Object.prototype.hasOwnProperty.call(o, k) && o[k] !== null && o[k] !== undefined

function fail(where: string, what: string): never { throw new Invalid(`${where}: ${what}`) }

function closeRule(ctx: RuleCtx, where: string, what: string): void {
  ctx.failClosed ??= `${where}: ${what}`
}

/** Checks and converts one raw ClusterNetworkPolicy. Never throws. */
export function convertPolicy(raw: unknown): ConvertResult {
  const name = isObj(raw) && isObj(raw.metadata) && typeof raw.metadata.name === 'string' ? raw.metadata.name : '(unnamed)'
  try {
    return { policy: convert(raw) }
  } catch (e) {
    if (e instanceof Invalid) return { invalid: { policy: name, reason: e.message } }
    throw e
  }
}

function convert(raw: unknown): Policy {
  if (!isObj(raw)) fail('object', 'is not an object')
  if (present(raw, 'apiVersion') && raw.apiVersion !== API_VERSION) fail('apiVersion', `${JSON.stringify(raw.apiVersion)} is not ${API_VERSION}`)
  if (present(raw, 'kind') && raw.kind !== KIND) fail('kind', `${JSON.stringify(raw.kind)} is not ${KIND}`)
  if (!isObj(raw.metadata)) fail('metadata', 'is missing')
  const name = raw.metadata.name
  if (typeof name !== 'string' || name.length === 0 || name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    fail('metadata.name', `${JSON.stringify(name)} is not a DNS subdomain name`)
  }
  const spec = raw.spec
  if (!isObj(spec)) fail('spec', 'is missing or not an object')
  const warnings: string[] = []
  const tier = spec.tier
  if (!TIERS.includes(tier as Tier)) fail('spec.tier', `${JSON.stringify(tier)} is not one of ${TIERS.join(', ')}`)
  const priority = spec.priority
  if (typeof priority !== 'number' || !Number.isInteger(priority) || priority < PRIORITY_MIN || priority > PRIORITY_MAX) {
    fail('spec.priority', `${JSON.stringify(priority)} is not an integer from ${PRIORITY_MIN} to ${PRIORITY_MAX}`)
  }
  const subject = subjectOf(spec.subject)
  const ingress = rulesOf(spec, 'ingress', warnings)
  const egress = rulesOf(spec, 'egress', warnings)
  for (const k of Object.keys(spec)) {
    if (!['tier', 'priority', 'subject', 'ingress', 'egress'].includes(k)) warnings.push(`spec.${k}: unknown field, ignored`)
  }
  return deepFreeze({ name, tier: tier as Tier, priority, subject, ingress, egress, warnings })
}

function subjectOf(x: unknown): Subject {
  const where = 'spec.subject'
  if (!isObj(x)) fail(where, 'is missing or not an object')
  const known = ['namespaces', 'pods'].filter((k) => present(x, k))
  const unknown = Object.keys(x).filter((k) => !['namespaces', 'pods'].includes(k))
  // ClusterNetworkPolicySubject: "Exactly one field must be set." A subject cinch cannot read
  // would leave it guessing which pods the policy binds: invalid, not guessed.
  if (unknown.length > 0) fail(`${where}.${unknown[0]}`, 'unknown subject field (a newer API?): cinch cannot tell which pods it selects')
  if (known.length !== 1) fail(where, 'exactly one of namespaces, pods must be set')
  if (known[0] === 'namespaces') {
    const nsSel = selectorOf(x.namespaces, `${where}.namespaces`)
    return { kind: 'namespaces', nsSel, words: `pods in ${nsWords(nsSel)}` }
  }
  const { nsSel, podSel } = namespacedPodOf(x.pods, `${where}.pods`)
  return { kind: 'pods', nsSel, podSel, words: podsWords(nsSel, podSel) }
}

function rulesOf(spec: Obj, dir: Direction, warnings: string[]): Rule[] {
  const list = spec[dir]
  // "CNPs with no ingress rules do not affect ingress traffic" (same for egress).
  if (list === undefined || list === null) return []
  if (!Array.isArray(list)) fail(`spec.${dir}`, 'is not a list')
  if (list.length > MAX_RULES) fail(`spec.${dir}`, `has ${list.length} rules, at most ${MAX_RULES} are allowed`)
  return list.map((r, i) => {
    const rule = ruleOf(r, dir, i)
    if (rule.failClosed) {
      warnings.push(`spec.${dir}[${i}]${rule.name ? ` (${rule.name})` : ''} fails closed (${rule.action === 'Accept' ? 'matches nothing' : 'denies all'}): ${rule.failClosed}`)
    }
    return rule
  })
}

function ruleOf(x: unknown, direction: Direction, index: number): Rule {
  const where = `spec.${direction}[${index}]`
  if (!isObj(x)) fail(where, 'is not an object')
  const ctx: RuleCtx = { failClosed: null }
  const peersKey = direction === 'ingress' ? 'from' : 'to'
  for (const k of Object.keys(x)) {
    if (!['name', 'action', peersKey, 'protocols'].includes(k)) closeRule(ctx, `${where}.${k}`, 'unknown rule field (a newer API?)')
  }
  let name = ''
  if (present(x, 'name')) {
    if (typeof x.name !== 'string') fail(`${where}.name`, 'is not a string')
    if (x.name.length > MAX_RULE_NAME) fail(`${where}.name`, `is ${x.name.length} characters, at most ${MAX_RULE_NAME} are allowed`)
    name = x.name
  }
  if (!ACTIONS.includes(x.action as Action)) fail(`${where}.action`, `${JSON.stringify(x.action)} is not one of ${ACTIONS.join(', ')}`)
  const action = x.action as Action
  const rawPeers = x[peersKey]
  if (!Array.isArray(rawPeers) || rawPeers.length === 0) fail(`${where}.${peersKey}`, 'must be a list of at least one peer')
  if (rawPeers.length > MAX_PEERS) fail(`${where}.${peersKey}`, `has ${rawPeers.length} peers, at most ${MAX_PEERS} are allowed`)
  const peers = rawPeers.map((p, j) => peerOf(p, direction, `${where}.${peersKey}[${j}]`, ctx)).filter((p): p is Peer => p !== null)
  let protocols: ProtocolMatch[] | null = null
  if (present(x, 'protocols')) {
    const list = x.protocols
    if (!Array.isArray(list) || list.length === 0) fail(`${where}.protocols`, 'must be a list of at least one protocol')
    if (list.length > MAX_PROTOCOLS) fail(`${where}.protocols`, `has ${list.length} entries, at most ${MAX_PROTOCOLS} are allowed`)
    protocols = list.map((p, j) => protocolOf(p, `${where}.protocols[${j}]`, ctx)).filter((p): p is ProtocolMatch => p !== null)
  }
  // ClusterNetworkPolicyEgressRule XValidation: "networks/nodes/domainNames peer cannot be set with
  // namedPorts since there are no namedPorts for networks/nodes/domainNames".
  if (protocols?.some((p) => p.kind === 'named') && peers.some((p) => p.kind === 'networks' || p.kind === 'nodes' || p.kind === 'domainNames')) {
    fail(where, 'networks/nodes/domainNames peer cannot be set with destinationNamedPort')
  }
  // DomainNames: "only supported for Accept rules". cinch resolves no names; in a Deny or Pass
  // rule, matching nothing would let through what the admin meant to stop, so that rule fails closed.
  if (action !== 'Accept' && peers.some((p) => p.kind === 'domainNames')) {
    closeRule(ctx, `${where}.${peersKey}`, 'domainNames in a Deny or Pass rule (the API supports it only in Accept rules)')
  }
  return { direction, index, name, action, peers, protocols, failClosed: ctx.failClosed }
}

const INGRESS_PEER_FIELDS = ['namespaces', 'pods']
const EGRESS_PEER_FIELDS = ['namespaces', 'pods', 'nodes', 'networks', 'domainNames']

/** A peer, or null when its shape is unknown (the rule fails closed). */
function peerOf(x: unknown, dir: Direction, where: string, ctx: RuleCtx): Peer | null {
  if (!isObj(x)) fail(where, 'is not an object')
  const fields = dir === 'ingress' ? INGRESS_PEER_FIELDS : EGRESS_PEER_FIELDS
  const known = fields.filter((k) => present(x, k))
  const unknown = Object.keys(x).filter((k) => !fields.includes(k) && present(x, k))
  // "Exactly one of the fields must be set for a given peer".
  if (known.length > 1) fail(where, `exactly one of ${fields.join(', ')} must be set, found ${known.join(', ')}`)
  if (unknown.length > 0 || known.length === 0) {
    closeRule(ctx, where, unknown.length > 0 ? `unknown peer field ${unknown[0]} (a newer API?)` : 'no peer field set (a newer API?)')
    return null
  }
  const k = known[0]!
  const w = `${where}.${k}`
  switch (k) {
    case 'namespaces': {
      const nsSel = selectorOf(x.namespaces, w)
      return { kind: 'namespaces', nsSel, words: `pods in ${nsWords(nsSel)}` }
    }
    case 'pods': {
      const { nsSel, podSel } = namespacedPodOf(x.pods, w)
      return { kind: 'pods', nsSel, podSel, words: podsWords(nsSel, podSel) }
    }
    case 'nodes': {
      // "if present but empty, it selects all Nodes".
      const nodeSel = selectorOf(x.nodes, w)
      return { kind: 'nodes', nodeSel, words: nodeSel.words === 'all' ? 'any node' : `nodes with ${nodeSel.words}` }
    }
    case 'networks': {
      const cidrs = stringSet(x.networks, w).map((s, i) => cidrOf(s, `${w}[${i}]`))
      return { kind: 'networks', cidrs, words: `networks ${cidrs.map(formatCidr).join(', ')}` }
    }
    default: {
      const names = stringSet(x.domainNames, w)
      names.forEach((n, i) => { if (!DOMAIN_NAME.test(n)) fail(`${w}[${i}]`, `${JSON.stringify(n)} is not a domain name`) })
      return { kind: 'domainNames', names, words: `domain names ${names.join(', ')} (unsupported: matches nothing)` }
    }
  }
}

/** networks / domainNames: 1..25 distinct strings (listType=set). */
function stringSet(x: unknown, where: string): string[] {
  if (!Array.isArray(x) || x.length === 0) fail(where, 'must be a list of at least one entry')
  if (x.length > MAX_LIST) fail(where, `has ${x.length} entries, at most ${MAX_LIST} are allowed`)
  x.forEach((s, i) => { if (typeof s !== 'string') fail(`${where}[${i}]`, 'is not a string') })
  const dup = x.find((s, i) => x.indexOf(s) !== i)
  if (dup !== undefined) fail(where, `${JSON.stringify(dup)} is listed twice (a set)`)
  return x as string[]
}

function cidrOf(s: string, where: string): Cidr {
  // CIDR: MaxLength=43 and CEL isCIDR(self). parseCidr reads as Go does (no leading zeros, a
  // prefix is required); host bits are allowed, as netip.ParsePrefix allows them, and cleared.
  const c = s.length <= MAX_CIDR_TEXT ? parseCidr(s)?.cidr : undefined
  if (!c) fail(where, `${JSON.stringify(s)} is not a CIDR`)
  return c
}

/** A protocol entry, or null when its shape is unknown (the rule fails closed). */
function protocolOf(x: unknown, where: string, ctx: RuleCtx): ProtocolMatch | null {
  if (!isObj(x)) fail(where, 'is not an object')
  const fields = ['tcp', 'udp', 'sctp', 'destinationNamedPort']
  // destinationNamedPort is a plain string with omitempty: "" is the same as absent.
  const known = fields.filter((k) => present(x, k) && !(k === 'destinationNamedPort' && x[k] === ''))
  const unknown = Object.keys(x).filter((k) => !fields.includes(k) && present(x, k))
  // ClusterNetworkPolicyProtocol: "Exactly one field must be set."
  if (known.length > 1) fail(where, `exactly one of ${fields.join(', ')} must be set, found ${known.join(', ')}`)
  if (unknown.length > 0 || known.length === 0) {
    closeRule(ctx, where, unknown.length > 0 ? `unknown protocol field ${unknown[0]} (a newer API?)` : 'no protocol field set (a newer API?)')
    return null
  }
  const k = known[0]!
  if (k === 'destinationNamedPort') {
    if (typeof x[k] !== 'string') fail(`${where}.${k}`, 'is not a string')
    return { kind: 'named', name: x[k] as string, words: `the destination pod's port named ${x[k]}` }
  }
  const protocol = k.toUpperCase() as Protocol
  const body = x[k]
  const w = `${where}.${k}`
  if (!isObj(body)) fail(w, 'is not an object')
  const extra = Object.keys(body).filter((f) => f !== 'destinationPort' && present(body, f))
  if (extra.length > 0 || !present(body, 'destinationPort')) {
    // The CRD requires a field here (MinProperties=1): what arrives empty had a field we do not know.
    closeRule(ctx, w, extra.length > 0 ? `unknown field ${extra[0]} (a newer API?)` : 'no field set (a newer API?)')
    return null
  }
  const port = body.destinationPort
  const pw = `${w}.destinationPort`
  if (!isObj(port)) fail(pw, 'is not an object')
  const pknown = ['number', 'range'].filter((f) => present(port, f))
  const punknown = Object.keys(port).filter((f) => !['number', 'range'].includes(f) && present(port, f))
  // Port: "You must specify either Port or Range." (MaxProperties=1, MinProperties=1)
  if (pknown.length > 1) fail(pw, 'exactly one of number, range must be set')
  if (punknown.length > 0 || pknown.length === 0) {
    closeRule(ctx, pw, punknown.length > 0 ? `unknown port field ${punknown[0]} (a newer API?)` : 'no port field set (a newer API?)')
    return null
  }
  if (pknown[0] === 'number') {
    const n = portNumber(port.number, `${pw}.number`)
    return { kind: 'port', protocol, from: n, to: n, words: `${protocol}/${n}` }
  }
  const range = port.range
  if (!isObj(range)) fail(`${pw}.range`, 'is not an object')
  const runknown = Object.keys(range).filter((f) => f !== 'start' && f !== 'end' && present(range, f))
  if (runknown.length > 0) {
    closeRule(ctx, `${pw}.range`, `unknown range field ${runknown[0]} (a newer API?)`)
    return null
  }
  const from = portNumber(range.start, `${pw}.range.start`)
  const to = portNumber(range.end, `${pw}.range.end`)
  // PortRange XValidation: "self.start < self.end", "Start port must be less than End port".
  if (!(from < to)) fail(`${pw}.range`, `start ${from} must be less than end ${to}`)
  return { kind: 'port', protocol, from, to, words: `${protocol}/${from}-${to}` }
}

function portNumber(x: unknown, where: string): number {
  // Minimum=1, Maximum=65535; an int32 in JSON, so "80" (a string) is a wrong type.
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 1 || x > 65535) fail(where, `${JSON.stringify(x)} is not a port number (1-65535)`)
  return x
}

function namespacedPodOf(x: unknown, where: string): { nsSel: Selector; podSel: Selector } {
  if (!isObj(x)) fail(where, 'is not an object')
  const extra = Object.keys(x).filter((k) => k !== 'namespaceSelector' && k !== 'podSelector')
  if (extra.length > 0) fail(`${where}.${extra[0]}`, 'unknown field')
  // NamespacedPod.NamespaceSelector: "if empty, it selects all Namespaces" (optional).
  const nsSel = present(x, 'namespaceSelector') ? selectorOf(x.namespaceSelector, `${where}.namespaceSelector`) : compileSelector({})
  // NamespacedPod.PodSelector: +required.
  if (!present(x, 'podSelector')) fail(`${where}.podSelector`, 'is required')
  const podSel = selectorOf(x.podSelector, `${where}.podSelector`)
  return { nsSel, podSel }
}

/** A metav1.LabelSelector, checked for types before compileSelector checks operators. */
function selectorOf(x: unknown, where: string): Selector {
  if (!isObj(x)) fail(where, 'is not a label selector')
  const extra = Object.keys(x).filter((k) => k !== 'matchLabels' && k !== 'matchExpressions')
  if (extra.length > 0) fail(`${where}.${extra[0]}`, 'unknown label selector field')
  if (present(x, 'matchLabels')) {
    if (!isObj(x.matchLabels)) fail(`${where}.matchLabels`, 'is not a map')
    for (const [k, v] of Object.entries(x.matchLabels)) if (typeof v !== 'string' || k === '') fail(`${where}.matchLabels`, `${JSON.stringify(k)}: label values are strings`)
  }
  if (present(x, 'matchExpressions')) {
    const list = x.matchExpressions
    if (!Array.isArray(list)) fail(`${where}.matchExpressions`, 'is not a list')
    list.forEach((e, i) => {
      const ew = `${where}.matchExpressions[${i}]`
      if (!isObj(e) || typeof e.key !== 'string' || typeof e.operator !== 'string') fail(ew, 'needs a string key and operator')
      if (present(e, 'values') && (!Array.isArray(e.values) || e.values.some((v) => typeof v !== 'string'))) fail(`${ew}.values`, 'is not a list of strings')
    })
  }
  try {
    return compileSelector(x as LabelSelector)
  } catch (e) {
    throw new Invalid(`${where}: ${(e as Error).message}`)
  }
}

function nsWords(nsSel: Selector): string {
  return nsSel.words === 'all' ? 'any namespace' : `namespaces with ${nsSel.words}`
}

function podsWords(nsSel: Selector, podSel: Selector): string {
  return `${podSel.words === 'all' ? 'all pods' : `pods with ${podSel.words}`} in ${nsWords(nsSel)}`
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null && !Object.isFrozen(o)) {
    Object.freeze(o)
    for (const v of Object.values(o)) if (typeof v !== 'function') deepFreeze(v)
  }
  return o
}
