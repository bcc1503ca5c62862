// One namespace's NetworkPolicies as the compiler checks them (issue 14): its keys, which of them
// are still to be checked, and the valid ones in key order as the local pods' parts read them. A
// change of one policy is checked alone and patched into the list; the API server takes any number
// of policies per namespace, and re-checking all of them (a normalize lookup and a cost each) on
// every change made one tenant's 20,000 policies cost every node ~3 ms per change of theirs.
//
// The compiler checks a key (normalize, cost) and reports the result with `checked`; `publish`
// applies the results to the list once none is left unchecked, so the list is never half a
// check's. Unchecked keys are also the cursor of a deferred check (compiler.ts checkDeferred): it
// can stop between any two keys and go on at its next call; a key that changes meanwhile is
// unchecked once more, whether it had been checked or not, and counted once.
import type { NormPolicy } from './normalize.js'
import { SortedKeys } from './local-parts.js'

// Up to this many results, each is spliced into a copy of the list (a binary search and a memmove
// per result); past it, the list is rebuilt in one walk of the keys.
const SPLICE_LIMIT = 16

/** The first index of `keys` (sorted) whose key is not below `k`. */
function lowerBound(keys: readonly string[], k: string): number {
  let lo = 0, hi = keys.length
  while (lo < hi) { const mid = (lo + hi) >>> 1; if (keys[mid]! < k) lo = mid + 1; else hi = mid }
  return lo
}

export class NamespacePolicies {
  /** every policy key of the namespace, sorted as `[...keys].sort()` */
  readonly keys = new SortedKeys()
  /**
   * The valid policies, in key order, as of the last complete check: the same array while its
   * contents stay the same, a new one whenever they change (a part is recompiled when it is new).
   */
  list: NormPolicy[] = []
  /** list's keys, index for index (a state's key need not be the policy's own `ns/name`) */
  #listKeys: string[] = []
  /** keys added or replaced since their last check, in arrival order (none: undefined) */
  #unchecked?: Set<string>
  /** results since the last publish: the policy, or undefined when it is not in the list (invalid, removed) */
  #results?: Map<string, NormPolicy | undefined>

  /** A policy added or replaced under `k`: to be checked. */
  put(k: string): void {
    this.keys.add(k)
    ;(this.#unchecked ??= new Set()).add(k)
  }

  /** The policy under `k` is gone. */
  remove(k: string): void {
    this.keys.delete(k)
    this.#unchecked?.delete(k)
    ;(this.#results ??= new Map()).set(k, undefined)
  }

  /** The keys still to be checked; `checked` may be called while iterating. */
  unchecked(): Iterable<string> { return this.#unchecked ?? [] }

  get complete(): boolean { return !this.#unchecked?.size }

  /** `k` was checked: `p` its policy when valid, undefined when not. */
  checked(k: string, p: NormPolicy | undefined): void {
    this.#unchecked?.delete(k)
    ;(this.#results ??= new Map()).set(k, p)
  }

  /**
   * Applies the results since the last publish to `list` (only once `complete`); returns whether
   * `list` is a new array. A result equal to what the list holds (an invalid policy invalid again,
   * the same object valid again) changes nothing.
   */
  publish(): boolean {
    const results = this.#results
    if (!results || !this.complete) return false
    this.#results = undefined
    if (results.size <= SPLICE_LIMIT) {
      let list = this.list
      const keys = this.#listKeys
      for (const [k, p] of results) {
        const i = lowerBound(keys, k), there = keys[i] === k
        if (there ? list[i] === p : p === undefined) continue
        if (list === this.list) list = list.slice()
        if (!there) (keys.splice(i, 0, k), list.splice(i, 0, p!))
        else if (p === undefined) (keys.splice(i, 1), list.splice(i, 1))
        else list[i] = p
      }
      if (list === this.list) return false
      this.list = list
      return true
    }
    // Keys and the old list in one merge walk: a key's result, else what the list held.
    const list: NormPolicy[] = [], listKeys: string[] = [], old = this.list, oldKeys = this.#listKeys
    let j = 0
    for (const k of this.keys.keys) {
      while (j < oldKeys.length && oldKeys[j]! < k) j++
      const p = results.has(k) ? results.get(k) : oldKeys[j] === k ? old[j] : undefined
      if (p) (list.push(p), listKeys.push(k))
    }
    if (list.length === old.length && list.every((p, i) => p === old[i])) return false
    this.list = list
    this.#listKeys = listKeys
    return true
  }
}
