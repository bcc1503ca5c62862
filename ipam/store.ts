// The allocation store behind an interface (host-local's backend.Store), so the verbs can be
// unit-tested against the in-memory fake and run against the disk store (store-disk.ts).
// Methods are synchronous: a plugin process does one thing, and flock(2) blocks anyway.

/** One reserved address and its owner, as host-local's `<dataDir>/<network>/<ip>` file holds it. */
export interface Allocation {
  /** The address as its file is named (Go's net.IP.String()). */
  ip: string
  containerId: string
  /** Empty for files written by host-local before 0.7, which held the container ID alone. */
  ifName: string
}

export interface Store {
  /** Exclusive lock across processes (host-local's `lock` file), held until unlock or death. */
  lock(): void
  unlock(): void
  /** Every allocation; files that are not addresses (lock, last_reserved_ip.N, temp files) are left out. */
  list(): Allocation[]
  /** Creates the allocation unless the address is taken; false when it is. Records it as rangeId's last. */
  reserve(a: Allocation, rangeId: string): boolean
  /** host-local's last_reserved_ip.<rangeId>; null when absent or unreadable. */
  lastReserved(rangeId: string): string | null
  /** Removes one allocation; a missing one is fine (DEL is idempotent). */
  release(ip: string): void
  /** When the allocation was made (ms since the epoch); undefined when unknown or gone. */
  reservedAtMs(ip: string): number | undefined
  /** Throws when the store cannot take a new allocation (STATUS). */
  checkWritable(): void
  close(): void
}
