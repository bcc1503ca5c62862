// An in-memory Store for unit tests (host-local's backend/testing/fake_store.go). Failures are
// injected by subclassing, never by hooks in production code.
import type { Allocation, Store } from './store.js'

export class MemoryStore implements Store {
  readonly allocations = new Map<string, Allocation>()
  readonly last = new Map<string, string>()
  locked = false
  writable = true

  constructor(initial: Allocation[] = []) {
    for (const a of initial) this.allocations.set(a.ip, { ...a })
  }

  lock(): void {
    if (this.locked) throw new Error('MemoryStore: lock taken twice')
    this.locked = true
  }

  unlock(): void {
    this.locked = false
  }

  list(): Allocation[] {
    this.assertLocked()
    return [...this.allocations.values()].map((a) => ({ ...a }))
  }

  reserve(a: Allocation, rangeId: string): boolean {
    this.assertLocked()
    if (this.allocations.has(a.ip)) return false
    this.allocations.set(a.ip, { ...a })
    this.last.set(rangeId, a.ip)
    return true
  }

  lastReserved(rangeId: string): string | null {
    return this.last.get(rangeId) ?? null
  }

  /** Tests set allocation times here; an address without one counts as old. */
  readonly reservedAt = new Map<string, number>()

  reservedAtMs(ip: string): number | undefined {
    return this.reservedAt.get(ip)
  }

  release(ip: string): void {
    this.assertLocked()
    this.allocations.delete(ip)
  }

  checkWritable(): void {
    if (!this.writable) throw new Error('MemoryStore: not writable')
  }

  close(): void {
    this.locked = false
  }

  private assertLocked(): void {
    // The verbs must hold the lock for every read-modify-write; a test fails if one forgets.
    if (!this.locked) throw new Error('MemoryStore: used without the lock')
  }
}
