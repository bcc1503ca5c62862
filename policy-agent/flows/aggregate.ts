// Aggregator: events -> flow records per interval (default 15 s, as Calico's Goldmane). A record
// is one (source, destination, protocol, destination port, direction, verdict, trace) with a
// count and first/last seen. Memory is bounded: at most `maxKeys` records per interval; events of
// further keys are counted as overflow, never stored. Pod names come from `resolve` at the time
// of the event (a pod deleted later keeps its name in the record; an address reused later does
// not rename old records). Pure: the caller brings the clock and calls flush() every interval.
import type { AssembledEvent, TraceHit, Verdict } from './events.js'
import type { Direction } from './prefix.js'

export interface FlowEndpoint {
  /** `ns/name` when the address belonged to a pod at the time of the first event */
  pod?: string
  /** the address of the first event */
  addr: string
}

export interface FlowRecord {
  /** the interval, ISO 8601 */
  start: string
  end: string
  src: FlowEndpoint
  dst: FlowEndpoint
  proto: string
  dport: number
  direction: Direction
  verdict: Verdict
  trace: TraceHit[]
  count: number
  firstSeen: string
  lastSeen: string
}

export interface AggregatorOptions {
  intervalMs?: number
  maxKeys?: number
  /** address -> `ns/name` of the pod holding it now */
  resolve: (addr: string) => string | undefined
}

export const DEFAULT_INTERVAL_MS = 15_000
export const DEFAULT_MAX_KEYS = 10_000

interface Acc { src: FlowEndpoint; dst: FlowEndpoint; ev: AssembledEvent; count: number; first: number; last: number }

export class Aggregator {
  readonly intervalMs: number
  readonly #maxKeys: number
  readonly #resolve: (addr: string) => string | undefined
  #start: number
  #acc = new Map<string, Acc>()
  #overflow = 0

  constructor(o: AggregatorOptions, now: number) {
    this.intervalMs = o.intervalMs ?? DEFAULT_INTERVAL_MS
    this.#maxKeys = o.maxKeys ?? DEFAULT_MAX_KEYS
    this.#resolve = o.resolve
    this.#start = now
  }

  add(ev: AssembledEvent): void {
    const src = this.#endpoint(ev.src), dst = this.#endpoint(ev.dst)
    // Pods aggregate across their addresses (dual stack: one record); other peers by address.
    const key = JSON.stringify([src.pod ?? src.addr, dst.pod ?? dst.addr, ev.proto, ev.dport, ev.direction, ev.verdict, ev.trace])
    const a = this.#acc.get(key)
    if (a) {
      a.count++
      a.first = Math.min(a.first, ev.at)
      a.last = Math.max(a.last, ev.at)
    } else if (this.#acc.size >= this.#maxKeys) this.#overflow++
    else this.#acc.set(key, { src, dst, ev, count: 1, first: ev.at, last: ev.at })
  }

  /** The records of the interval ending at `now` (in order of their first event), and how many events did not fit. */
  flush(now: number): { records: FlowRecord[]; overflow: number } {
    const iso = (t: number) => new Date(t).toISOString()
    const records = [...this.#acc.values()].map((a): FlowRecord => ({
      start: iso(this.#start), end: iso(now), src: a.src, dst: a.dst, proto: a.ev.proto, dport: a.ev.dport,
      direction: a.ev.direction, verdict: a.ev.verdict, trace: a.ev.trace, count: a.count, firstSeen: iso(a.first), lastSeen: iso(a.last),
    }))
    const overflow = this.#overflow
    this.#acc = new Map()
    this.#overflow = 0
    this.#start = now
    return { records, overflow }
  }

  get size(): number {
    return this.#acc.size
  }

  #endpoint(addr: string): FlowEndpoint {
    const pod = this.#resolve(addr)
    return pod ? { pod, addr } : { addr }
  }
}
