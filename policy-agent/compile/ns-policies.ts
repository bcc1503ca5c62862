// One namespace's NetworkPolicies as the compiler checks them (issue 14): its keys, which of them
// are still to be checked, and the valid ones in key order as the local pods' parts read them. A
// change of one policy is checked alone and patched into the list; the API server takes any number
// of policies per namespace, and re-checking all of them (a normalize lookup and a cost each) on
// every change made one tenant's 20,000 policies cost every node ~3 ms per change of theirs.
//
// The compiler writes keys (`put`, `remove`), has `check` run its checker (normalize, cost) over
// what is left, and `publish` applies the results to the list once nothing is left, so the list
// is never half a check's. A new namespace is checked by a walk over its keys in order (a cursor:
// the list built as it goes, no per-key bookkeeping, so a first compile costs what a plain walk
// does); a policy written after that is checked alone. Either can stop between two keys and go on
// later (compiler.ts checkDeferred); a key that changes meanwhile is checked once more if it had
// been, and once in all if not. A policy's check depends on its object and the compiler's cost
// bound alone, which is fixed for the compiler's life: a result holds until its policy changes.
import type { NormPolicy } from './normalize.js'
import { lowerBound } from './sorted-keys.js'

// Up to this many results, each is spliced into a copy of the list (a binary search and a memmove
// per result); past it, the list is rebuilt in one walk of the keys.
const SPLICE_LIMIT = 16
const EMPTY: readonly never[] = Object.freeze([])

export class NamespacePolicies {
  /** every policy key of the namespace, sorted as `[...keys].sort()` */
  readonly #keys: string[] = []
  /**
   * The valid policies, in key order, as of the last complete check: the same array while its
   * contents stay the same, a new one whenever they change (a part is recompiled when it is new).
   */
  list: NormPolicy[] = EMPTY as never[]
  /** list's keys, index for index (a state's key need not be the policy's own `ns/name`) */
  #listKeys: string[] = EMPTY as never[]
  /**
   * The walk of a new namespace: #keys before #at are checked, the valid ones in #walkList and
   * their keys in #walkKeys (made at the first); -1 once published. Fields, not an object: a
   * first compile makes one of these per namespace (7,500 at 30k).
   */
  #at = 0
  #walkList?: NormPolicy[]
  #walkKeys?: string[]
  /** keys written since their check, outside the walk, in arrival order */
  #unchecked?: Set<string>
  /** results of the keys checked alone since the last publish: the policy, or null when not in the list (invalid, removed) */
  #results?: Map<string, NormPolicy | null>

  get size(): number { return this.#keys.length }

  /** A policy added or replaced under `k`: to be checked. */
  put(k: string): void {
    const keys = this.#keys, i = lowerBound(keys, k), had = keys[i] === k
    if (!had) keys.splice(i, 0, k)
    if (this.#at >= 0) {
      if (i >= this.#at) return // the walk gets there, and reads the policy then
      if (!had) this.#at++
    }
    ;(this.#unchecked ??= new Set()).add(k)
  }

  /** The policy under `k` is gone. */
  remove(k: string): void {
    const keys = this.#keys, i = lowerBound(keys, k)
    if (keys[i] !== k) return
    keys.splice(i, 1)
    this.#unchecked?.delete(k)
    if (this.#at >= 0) {
      if (i >= this.#at) return // never walked
      this.#at--
    }
    ;(this.#results ??= new Map()).set(k, null)
  }

  /** Whether nothing is left to check. */
  get complete(): boolean {
    return (this.#at < 0 || this.#at === this.#keys.length) && !this.#unchecked?.size
  }

  /**
   * Checks what is left, each key with `check` (its policy when valid, undefined when not),
   * until `stop` (asked every few keys) says so; returns whether nothing is left. `check` must
   * not put or remove keys.
   */
  check(check: (k: string) => NormPolicy | undefined, stop?: () => boolean): boolean {
    let n = 0
    if (this.#at >= 0) {
      const keys = this.#keys
      let at = this.#at
      while (at < keys.length) {
        const k = keys[at++]!, p = check(k)
        if (p) ((this.#walkList ??= []).push(p), (this.#walkKeys ??= []).push(k))
        // The clock read every few policies: a policy already normalized is a lookup or two.
        if (stop && ++n % 8 === 0 && stop()) break
      }
      this.#at = at
      if (at < keys.length) return false
    }
    const unchecked = this.#unchecked
    if (unchecked) {
      for (const k of unchecked) {
        ;(this.#results ??= new Map()).set(k, check(k) ?? null)
        unchecked.delete(k)
        if (stop && ++n % 8 === 0 && stop()) return this.complete
      }
    }
    return true
  }

  /**
   * Applies what was checked since the last publish to `list`, once nothing is left to check
   * (else it does nothing); returns whether `list` is a new array. A result equal to what the list
   * holds (an invalid policy invalid again, the same object valid again) changes nothing.
   */
  publish(): boolean {
    if (!this.complete) return false
    const walked = this.#at >= 0, results = this.#results
    if (!walked && !results) return false
    // A walk's list is ours to change in place; the list handed out is copied before its first change.
    let list = walked ? this.#walkList ?? [] : this.list, keys = walked ? this.#walkKeys ?? [] : this.#listKeys
    let owned = walked
    this.#at = -1
    this.#walkList = this.#walkKeys = this.#results = undefined
    if (results && results.size <= SPLICE_LIMIT) {
      for (const [k, r] of results) {
        const p = r ?? undefined, i = lowerBound(keys, k), there = keys[i] === k
        if (there ? list[i] === p : p === undefined) continue
        if (!owned) (list = list.slice(), keys = keys.slice(), owned = true)
        if (!there) (keys.splice(i, 0, k), list.splice(i, 0, p!))
        else if (p === undefined) (keys.splice(i, 1), list.splice(i, 1))
        else list[i] = p
      }
    } else if (results) {
      // The keys and the base list in one merge walk: a key's result, else what the list held.
      const next: NormPolicy[] = [], nextKeys: string[] = []
      let j = 0
      for (const k of this.#keys) {
        while (j < keys.length && keys[j]! < k) j++
        const r = results.get(k), p = r !== undefined ? r : keys[j] === k ? list[j] : undefined
        if (p) (next.push(p), nextKeys.push(k))
      }
      ;(list = next, keys = nextKeys, owned = true)
    }
    if (!owned) return false
    this.#listKeys = keys
    const old = this.list
    if (list.length === old.length && list.every((p, i) => p === old[i])) return false
    this.list = list
    return true
  }
}
