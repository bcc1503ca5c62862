// PolicyIR: what the kernel must hold, as pure comparable data (plain objects, sorted keys and
// arrays), named as the kernel objects will be named. The renderer prints it; renderDiff compares
// two of them object by object; the tests walk it as the kernel would. See ../README.md.
import type { Family } from '../../lib/ip/index.js'
import type { IrFlowLog } from '../flows/nft.js'
import { FLOWLOG_LOGGED_COUNTER, FLOWLOG_SEEN_COUNTER } from '../flows/objects.js'

export type IrProtocol = 'tcp' | 'udp' | 'sctp'

/** A destination port range of one protocol; 0-65535 stands for every port of it. */
export interface IrPort { protocol: IrProtocol; from: number; to: number }

export interface IrSet {
  /** the family of the addresses in it (a `ports` set holds none: 4) */
  family: Family
  /**
   * addr: exact addresses (`ipv4_addr`); block: CIDRs and `a-b` ranges (`flags interval`);
   * tuple: `addr . inet_proto . inet_service` elements, spelled `10.0.0.1 . tcp . 80`;
   * ports: `inet_service` intervals of one protocol (the rule names it), spelled `80` / `53-60`.
   */
  kind: 'addr' | 'block' | 'tuple' | 'ports'
  comment: string
  /** sorted, canonical text */
  elements: string[]
}

/**
 * One rule of a pod chain: every present field must match (AND); on a match the policy's counter
 * counts the packet and the chain's verdict applies (ingress: accept, egress: return, so that the
 * destination's ingress is checked next).
 */
export interface IrRule {
  /** restricts the rule to IPv4 (`ip`) or IPv6 (`ip6`) packets; needed by any set match */
  family?: Family
  /** the peer's address (ingress: saddr, egress: daddr) is in this addr/block set */
  peerSet?: string
  /** `daddr . l4proto . dport` is in this tuple set (egress to named ports, resolved per peer pod) */
  tupleSet?: string
  /** the packet's protocol and destination port are one of these; absent: any protocol and port */
  ports?: IrPort[]
  /** ... or: the protocol is this one and the destination port is in this `ports` set (many ranges) */
  portSet?: { protocol: IrProtocol; set: string }
  /** `ns/name` of the policy this rule comes from (a ClusterNetworkPolicy: its name) */
  policy: string
  /** named counter of that policy (a ClusterNetworkPolicy: of that rule); '' in audit chains (counts nothing) */
  counter: string
  /** the rule's index in the policy's spec.ingress / spec.egress: what a flow record names */
  rule?: number
  comment: string
  /**
   * What a match does, when not the chain direction's allow (ingress `accept`, egress `return`):
   * `drop` (a ClusterNetworkPolicy Deny, or a fail-closed Deny/Pass), or `goto` the pod's chain of
   * the next tier (Pass). Absent on NetworkPolicy rules.
   */
  action?: 'drop' | { goto: string }
}

export interface IrChain {
  pod: string
  direction: 'ingress' | 'egress'
  comment: string
  rules: IrRule[]
  /**
   * named counter counting what falls through the rules and is dropped (a NetworkPolicy chain:
   * "isolated"); '' for a ClusterNetworkPolicy tier chain, which never drops at its end
   */
  dropCounter: string
  /** `ns/name` of the policies that isolate the pod in this direction (what a drop is due to) */
  policies: string[]
  /** set on a ClusterNetworkPolicy tier chain (its rules carry their own actions) */
  tier?: 'Admin' | 'Baseline'
  /**
   * tier chains: where what no rule decided goes, the pod's chain of the next tier (`goto`);
   * absent: allowed in this direction (the chain ends, as a NetworkPolicy rule's allow does)
   */
  next?: string
  /** flow records: its verdict points log the connection's first packet (flows/README.md) */
  flowLog?: boolean
  /**
   * an audit chain (flows/dataplane.ts): the audit policies' rules, each `return`, its end logs
   * "would deny" and returns; looked up by the audit base chains, it never accepts or drops
   */
  audit?: boolean
  /**
   * set when the policies selecting the pod in this direction add up to more than one pod may
   * cost (cost.ts, --max-pod-policy-cost): the chain fails closed, no rules and its drop, and this
   * says why (the agent logs it and lists it in its status and metrics)
   */
  failedClosed?: string
}

/** A local pod's direction whose chain failed closed (IrChain.failedClosed), as the agent reports it. */
export interface FailedClosed { pod: string; direction: 'ingress' | 'egress'; reason: string; audit?: boolean; /** its name in `inet cinch` */ chain: string }

/** The chains of `ir` that failed closed, by pod and direction. */
export function failedClosed(ir: PolicyIR): FailedClosed[] {
  const out: FailedClosed[] = []
  for (const [chain, c] of Object.entries(ir.chains)) if (c.failedClosed) out.push({ pod: c.pod, direction: c.direction, reason: c.failedClosed, ...(c.audit ? { audit: true } : {}), chain })
  return out.sort((a, b) => (a.pod < b.pod ? -1 : a.pod > b.pod ? 1 : a.direction < b.direction ? -1 : a.direction > b.direction ? 1 : Number(!!a.audit) - Number(!!b.audit)))
}

/** What a ClusterNetworkPolicy rule's named counter counts: for metrics and explain. */
export interface RuleCounter {
  policy: string
  tier: 'Admin' | 'Baseline'
  direction: 'ingress' | 'egress'
  index: number
  /** the rule's `name` ('' when unnamed) */
  name: string
  /** what the rule does as compiled: a fail-closed Deny/Pass is `Deny` */
  action: 'Accept' | 'Deny' | 'Pass'
}

export type MapName = 'ingress-v4' | 'ingress-v6' | 'egress-v4' | 'egress-v6'
export const MAP_NAMES: MapName[] = ['ingress-v4', 'ingress-v6', 'egress-v4', 'egress-v6']

export interface PolicyIR {
  /** chain name -> chain */
  chains: Record<string, IrChain>
  /** set name -> set */
  sets: Record<string, IrSet>
  /** verdict maps: local pod address -> chain it jumps to (isolated pods only) */
  maps: Record<MapName, Record<string, string>>
  /** policy `ns/name` -> its named counter (policies that select a local pod) */
  policyCounters: Record<string, string>
  /** ClusterNetworkPolicy rule counters (rules in a chain of a local pod): counter -> rule */
  ruleCounters: Record<string, RuleCounter>
  /** host veths of the local pods the rules cover; other `cinch*` veths are dropped (fail closed) */
  veths: string[]
  /**
   * host veth -> the canonical addresses its pod was given (sorted): the only sources a packet
   * entering the bridge from that veth may carry (anti-spoofing in `bridge cinch`).
   */
  vethAddrs: Record<string, string[]>
  /** flow logging's kernel settings (the limit, the group); absent: no log rules, no limit object */
  flowLog?: IrFlowLog
  /** audit verdict maps (like `maps`, to audit chains), looked up by the audit base chains */
  auditMaps?: Record<MapName, Record<string, string>>
}

export function emptyIR(): PolicyIR {
  return { chains: {}, sets: {}, maps: { 'ingress-v4': {}, 'ingress-v6': {}, 'egress-v4': {}, 'egress-v6': {} }, policyCounters: {}, ruleCounters: {}, veths: [], vethAddrs: {} }
}

/** Every named counter the IR declares (policy counters and per-chain drop counters), sorted. */
export function counterNames(ir: PolicyIR): string[] {
  const out: string[] = []
  eachCounterName(ir, (n) => out.push(n))
  return out.sort()
}

/** counterNames with how often each comes, unsorted (renderDiff compares two IRs' counters without sorting either). */
export function counterCounts(ir: PolicyIR): Map<string, number> {
  const out = new Map<string, number>()
  eachCounterName(ir, (n) => out.set(n, (out.get(n) ?? 0) + 1))
  return out
}

function eachCounterName(ir: PolicyIR, f: (name: string) => void): void {
  if (ir.flowLog) for (const n of FLOWLOG_COUNTERS) f(n)
  for (const n of Object.values(ir.policyCounters)) f(n)
  for (const n of Object.keys(ir.ruleCounters ?? {})) f(n)
  for (const c of Object.values(ir.chains)) if (c.dropCounter) f(c.dropCounter)
}

const FLOWLOG_COUNTERS = [FLOWLOG_SEEN_COUNTER, FLOWLOG_LOGGED_COUNTER]

export const PORT_ALL = { from: 0, to: 65535 }

/** How a set's IR differs from the IR it replaced (both sorted), so renderDiff need not compare them whole. */
export interface SetDelta { base: IrSet; added: string[]; removed: string[] }

// Kept beside the IR, not in it: an IR stays plain data (equal IRs compare equal). Each entry is
// dropped when its set changes again, so a delta never holds more than one older IR alive.
const deltas = new WeakMap<IrSet, SetDelta>()

export function recordSetDelta(next: IrSet, delta: SetDelta): void {
  deltas.delete(delta.base)
  deltas.set(next, delta)
}

/** The delta from `base` to `next`, if `next` was derived from exactly `base`. */
export function setDeltaFrom(base: IrSet | undefined, next: IrSet): SetDelta | undefined {
  const d = deltas.get(next)
  return d && d.base === base ? d : undefined
}

/**
 * How a record of the IR (`chains`, `sets`, `policyCounters`) differs from the record it replaced:
 * the keys whose value is another object or new (in the record's order), and the keys gone (in
 * the base's order). With it, renderDiff and keepUnchanged visit the keys a change touched, not
 * the ~440 sets and ~180 chains of every local pod (Object.entries of such a record costs more
 * than the rest of a policy create's diff).
 */
export interface RecordDelta { base: object; changed: string[]; removed: string[] }

const recordDeltas = new WeakMap<object, RecordDelta>()

export function recordRecordDelta(next: object, delta: RecordDelta): void {
  // The base's own delta goes: each delta holds its base, so kept deltas would keep every record
  // the compiler ever handed out alive, a chain as long as the agent's uptime.
  recordDeltas.delete(delta.base)
  recordDeltas.set(next, delta)
}

/** The delta from `base` to `next`, if `next` was derived from exactly `base`. */
export function recordDeltaFrom(base: object, next: object): RecordDelta | undefined {
  const d = recordDeltas.get(next)
  return d && d.base === base ? d : undefined
}
