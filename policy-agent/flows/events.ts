// One logged packet -> one FlowEvent (prefix decoded, id resolved, headers read), and the
// TraceAssembler that joins a ClusterNetworkPolicy Pass hit to the final hit of the same packet
// (both are logged, in order, as the packet walks the tiers). Pure: time comes in as `now`.
import type { NflogPacket } from '../../lib/net/nflog.js'
import { parseHeaders } from '../../lib/net/nflog.js'
import { decodePrefix, type Action, type Direction, type Tier } from './prefix.js'
import { spaceOf, type RefTable } from './refs.js'

/** One step of a flow's trace: which tier, what it did, and who decided. */
export interface TraceHit {
  tier: Tier
  action: Action
  /** rule hits: the policy and the index of its rule in spec.ingress/egress */
  policy?: string
  rule?: number
  /** end hits: the policies whose chain ended here (those isolating the pod, or the audit policies) */
  policies?: string[]
  /** end hits: the chain failed closed (its policies add up to more than --max-pod-policy-cost) */
  failedClosed?: true
  /** the id is not in the table (the rule predates the applied IR) or collides */
  unresolved?: 'unknown' | 'ambiguous'
}

export type Verdict = 'allowed' | 'denied' | 'audit'

export interface FlowEvent {
  /** ms since the epoch */
  at: number
  family: 4 | 6
  direction: Direction
  src: string
  dst: string
  /** 'tcp', 'udp', 'sctp', 'icmp', 'icmpv6', or the protocol number */
  proto: string
  sport: number
  dport: number
  hit: TraceHit
}

const PROTO: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6', 132: 'sctp' }

export type EventOutcome = FlowEvent | { rejected: 'prefix' | 'headers' }

export function flowEvent(p: NflogPacket, refs: RefTable, now: number): EventOutcome {
  const point = decodePrefix(p.prefix)
  if (!point) return { rejected: 'prefix' }
  const h = parseHeaders(p.payload, p.hwProtocol)
  if (!h) return { rejected: 'headers' }
  const hit: TraceHit = { tier: point.tier, action: point.action }
  const ref = refs.resolve(spaceOf(point.tier, point.hit), point.id)
  if (ref === undefined || ref === 'ambiguous') hit.unresolved = ref === undefined ? 'unknown' : 'ambiguous'
  else if (ref.kind === 'policy') hit.policy = ref.policy
  else {
    hit.policies = ref.policies
    if (ref.failedClosed) hit.failedClosed = true
  }
  if (point.rule !== undefined) hit.rule = point.rule
  const at = p.timestamp ? p.timestamp.sec * 1000 + Math.floor(p.timestamp.usec / 1000) : now
  return { at, family: h.family, direction: point.direction, src: h.src, dst: h.dst, proto: PROTO[h.proto] ?? String(h.proto), sport: h.sport, dport: h.dport, hit }
}

export interface AssembledEvent extends Omit<FlowEvent, 'hit'> {
  verdict: Verdict
  /** Pass hits first (in tier order), then the hit that decided */
  trace: TraceHit[]
}

const VERDICT: Record<Exclude<Action, 'pass'>, Verdict> = { allow: 'allowed', deny: 'denied', 'would-deny': 'audit' }
const MAX_PASSES = 4 // a direction has at most Admin -> NetworkPolicy -> Baseline: two passes

/**
 * Holds Pass hits until the final hit of the same packet (same direction and 5-tuple) arrives.
 * Bounded: at most `maxPending` packets wait, each at most `ttlMs`; what expires or is pushed out
 * had its final hit lost (the kernel rate limit) and is counted as incomplete, never emitted.
 */
export class TraceAssembler {
  readonly #pending = new Map<string, { at: number; hits: TraceHit[] }>()
  incomplete = 0

  constructor(private readonly o: { maxPending?: number; ttlMs?: number } = {}) {}

  push(ev: FlowEvent, now: number): AssembledEvent | undefined {
    const key = `${ev.direction} ${ev.proto} ${ev.src} ${ev.sport} ${ev.dst} ${ev.dport}`
    const { hit, ...rest } = ev
    if (hit.action === 'pass') {
      this.expire(now)
      const p = this.#pending.get(key)
      if (p) { if (p.hits.length < MAX_PASSES) p.hits.push(hit) } else {
        if (this.#pending.size >= (this.o.maxPending ?? 4096)) {
          this.#pending.delete(this.#pending.keys().next().value!)
          this.incomplete++
        }
        this.#pending.set(key, { at: now, hits: [hit] })
      }
      return undefined
    }
    const passes = this.#pending.get(key)?.hits ?? []
    this.#pending.delete(key)
    return { ...rest, verdict: VERDICT[hit.action], trace: [...passes, hit] }
  }

  /** Drops Pass hits older than ttlMs; returns how many. */
  expire(now: number): number {
    let n = 0
    for (const [k, p] of this.#pending) {
      if (now - p.at < (this.o.ttlMs ?? 2000)) break // insertion order is time order
      this.#pending.delete(k)
      n++
    }
    this.incomplete += n
    return n
  }
}
