// The most recent flow records, for `cinch flows` (GET /flows), with followers that see each new
// record as it is flushed. Bounded: `capacity` records; a follower is only a callback, and the
// HTTP handler cuts a follower whose socket does not keep up (server/flows.ts).
import type { FlowRecord } from './aggregate.js'

export const DEFAULT_RING_CAPACITY = 10_000

export class FlowRing {
  readonly #buf: FlowRecord[] = []
  #head = 0
  readonly #followers = new Set<(r: FlowRecord) => void>()

  constructor(readonly capacity = DEFAULT_RING_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`flow ring capacity ${capacity}: not a positive integer`)
  }

  push(records: FlowRecord[]): void {
    for (const r of records) {
      if (this.#buf.length < this.capacity) this.#buf.push(r)
      else { this.#buf[this.#head] = r; this.#head = (this.#head + 1) % this.capacity }
      for (const f of this.#followers) f(r)
    }
  }

  /** The records held, oldest first. */
  snapshot(): FlowRecord[] {
    return [...this.#buf.slice(this.#head), ...this.#buf.slice(0, this.#head)]
  }

  /** Calls `fn` for every record pushed from now on; returns the unsubscribe. */
  follow(fn: (r: FlowRecord) => void): () => void {
    this.#followers.add(fn)
    return () => this.#followers.delete(fn)
  }

  get followers(): number {
    return this.#followers.size
  }
}
