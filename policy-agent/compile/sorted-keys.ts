// Sorted string lists kept in `[...keys].sort()` order by binary search (a change is a splice, not
// a sort of the whole list): the compiler's invalid keys, a namespace's policy keys, the IR's
// record keys, a set's members.

/** The first index at or after `lo` whose element is not below `x`. */
export function lowerBound(a: readonly string[], x: string, lo = 0): number {
  let hi = a.length
  while (lo < hi) { const mid = (lo + hi) >>> 1; if (a[mid]! < x) lo = mid + 1; else hi = mid }
  return lo
}

/** Keys kept in sorted order (as `[...keys].sort()` gives them) by binary search, not re-sorted per change. */
export class SortedKeys {
  readonly keys: string[] = []
  add(k: string): void { const i = lowerBound(this.keys, k); if (this.keys[i] !== k) this.keys.splice(i, 0, k) }
  delete(k: string): void { const i = lowerBound(this.keys, k); if (this.keys[i] === k) this.keys.splice(i, 1) }
}
