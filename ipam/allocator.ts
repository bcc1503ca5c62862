// Next-address selection, host-local's round robin (backend/allocator/allocator.go RangeIter). Pure.
import { isReservedAddress, allocatableCount, rangeContains, type Range, type RangeSet } from './range.js'

export interface Pick {
  range: Range
  value: bigint
}

/**
 * The next free address of the set after `lastReserved` (host-local's last_reserved_ip.N),
 * wrapping from one range's end to the next range's start and from the last range to the first;
 * from the first range's start when `lastReserved` is unknown or outside the set. A crash-looping
 * pod therefore does not get its old address back until the whole set has been used.
 * Returns null when every allocatable address is in `used`.
 */
export function pickAddress(set: RangeSet, used: ReadonlySet<bigint>, lastReserved: bigint | null): Pick | null {
  const family = set[0].subnet.family
  // Count first: a /64 cannot be walked to find out that it is full.
  let free = 0n
  for (const r of set) free += allocatableCount(r)
  for (const v of used) {
    const r = set.find((x) => rangeContains(x, { family, value: v }))
    if (r && !isReservedAddress(r, v)) free--
  }
  if (free <= 0n) return null

  let idx = 0
  let cur: bigint
  const at = lastReserved === null ? -1 : set.findIndex((r) => rangeContains(r, { family, value: lastReserved }))
  if (at >= 0) {
    idx = at
    cur = lastReserved as bigint
  } else {
    cur = set[0].rangeStart - 1n // so that the first step lands on rangeStart
  }
  // Each step either finds a free address or passes a used or reserved one: bounded by used + 3 per range.
  for (;;) {
    let r = set[idx]
    if (cur >= r.rangeEnd) {
      idx = (idx + 1) % set.length
      r = set[idx]
      cur = r.rangeStart
    } else {
      cur++
    }
    if (!isReservedAddress(r, cur) && !used.has(cur)) return { range: r, value: cur }
  }
}
