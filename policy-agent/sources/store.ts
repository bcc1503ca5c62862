// The cluster as a source holds it: one map per kind, handed out as immutable snapshots by
// copy-on-write. `state()` marks the current maps shared; the first write after that copies the
// one map it touches (O(objects of that kind), once per sync at most), so a snapshot never changes
// under its reader while writes between two syncs stay O(1). The compiler diffs a snapshot against
// the objects it saw last by identity (compile/compiler.ts), so a write that changes nothing policy
// reads keeps the old object and reports no change.
//
// Problems are kept per object: an object that fails conversion is removed (skipped whole) and its
// problem recorded; the problem goes when the object is fixed, deleted or relisted without it.
import type { ClusterState } from '../model/cluster.js'
import { convertAs, keyOf, type Kind } from './convert.js'
import type { Json } from './fields.js'
import type { ProblemReport } from './types.js'

/** A Map whose mutators throw: what `state()` hands out. The store writes through Map.prototype. */
export class SnapshotMap<K, V> extends Map<K, V> {
  static copy<K, V>(src?: Map<K, V>): SnapshotMap<K, V> {
    const m = new SnapshotMap<K, V>()
    if (src) for (const [k, v] of src) MAP_SET.call(m, k, v)
    return m
  }
  override set(): never {
    throw new TypeError('a ClusterState snapshot is read-only')
  }
  override delete(): never {
    throw new TypeError('a ClusterState snapshot is read-only')
  }
  override clear(): never {
    throw new TypeError('a ClusterState snapshot is read-only')
  }
}
const MAP_SET = Map.prototype.set
const MAP_DELETE = Map.prototype.delete

const FIELD: Record<Kind, keyof ClusterState> = { Pod: 'pods', Namespace: 'namespaces', NetworkPolicy: 'policies', Node: 'nodes', ClusterNetworkPolicy: 'clusterNetworkPolicies' }

export class ClusterStore {
  #maps = { pods: SnapshotMap.copy(), namespaces: SnapshotMap.copy(), policies: SnapshotMap.copy(), nodes: SnapshotMap.copy(), clusterNetworkPolicies: SnapshotMap.copy() } as Record<keyof ClusterState, SnapshotMap<string, unknown>>
  #shared = new Set<keyof ClusterState>()
  #snapshot?: ClusterState
  #problems = new Map<string, ProblemReport>()
  #problemList?: ProblemReport[]

  /** Applies an added or modified object; true when what policy reads of it changed. */
  upsert(kind: Kind, raw: Json): boolean {
    let key: string
    try {
      key = keyOf(kind, raw)
    } catch (err) {
      // No name, no key: nothing to replace or remove. The API server never sends such an object.
      this.#setProblem(`${kind} ?`, (err as Error).message)
      return false
    }
    try {
      const c = convertAs(kind, raw)
      this.#clearProblem(`${kind} ${key}`)
      return this.#put(kind, key, c.value)
    } catch (err) {
      // Skipped whole: the previous version of the object is no longer what the cluster holds.
      this.#setProblem(`${kind} ${key}`, (err as Error).message)
      return this.#remove(kind, key)
    }
  }

  /** Applies a deleted object; true when it was known. */
  remove(kind: Kind, raw: Json): boolean {
    let key: string
    try { key = keyOf(kind, raw) } catch { return false }
    this.#clearProblem(`${kind} ${key}`)
    return this.#remove(kind, key)
  }

  /**
   * Replaces every object of `kind` with a complete list (a relist): converts as it goes, and
   * swaps in only at `done()`, so no snapshot ever holds a half-listed kind.
   */
  replace(kind: Kind): { add: (raw: Json) => void; done: () => boolean } {
    const next = new Map<string, unknown>()
    const problems = new Map<string, ProblemReport>()
    return {
      add: (raw) => {
        try {
          const c = convertAs(kind, raw)
          next.set(c.key, c.value)
        } catch (err) {
          let where = `${kind} ?`
          try { where = `${kind} ${keyOf(kind, raw)}` } catch { /* unnamed */ }
          problems.set(where, { where, reason: (err as Error).message })
        }
      },
      done: () => {
        for (const where of [...this.#problems.keys()]) if (where.startsWith(`${kind} `)) this.#clearProblem(where)
        for (const [where, p] of problems) this.#setProblem(where, p.reason)
        let changed = false
        const cur = this.#maps[FIELD[kind]]
        for (const key of [...cur.keys()]) if (!next.has(key)) changed = this.#remove(kind, key) || changed
        for (const [key, value] of next) changed = this.#put(kind, key, value) || changed
        return changed
      },
    }
  }

  /** The current cluster: a snapshot that later writes never change. */
  state(): ClusterState {
    if (!this.#snapshot) {
      this.#snapshot = { ...this.#maps } as unknown as ClusterState
      for (const f of Object.keys(this.#maps) as (keyof ClusterState)[]) this.#shared.add(f)
    }
    return this.#snapshot
  }

  /** The problems of the objects as they are now, sorted by object. */
  problems(): ProblemReport[] {
    return (this.#problemList ??= Object.freeze([...this.#problems.keys()].sort().map((k) => Object.freeze(this.#problems.get(k)!))) as ProblemReport[])
  }

  #writable(kind: Kind): Map<string, unknown> {
    const f = FIELD[kind]
    if (this.#shared.has(f)) {
      this.#maps[f] = SnapshotMap.copy(this.#maps[f])
      this.#shared.delete(f)
    }
    this.#snapshot = undefined
    return this.#maps[f]
  }

  #put(kind: Kind, key: string, value: unknown): boolean {
    const old = this.#maps[FIELD[kind]].get(key)
    // Same content (most Pod updates are status or annotation changes policy does not read).
    if (old !== undefined && sameJson(old, value)) return false
    MAP_SET.call(this.#writable(kind), key, value)
    return true
  }

  #remove(kind: Kind, key: string): boolean {
    if (!this.#maps[FIELD[kind]].has(key)) return false
    MAP_DELETE.call(this.#writable(kind), key)
    return true
  }

  #setProblem(where: string, reason: string): void {
    if (this.#problems.get(where)?.reason === reason) return
    this.#problems.set(where, { where, reason })
    this.#problemList = undefined
  }

  #clearProblem(where: string): void {
    if (this.#problems.delete(where)) this.#problemList = undefined
  }
}

/** Deep equality of converted values (plain JSON data: objects, arrays, strings, numbers, booleans). */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const ka = Object.keys(a)
  if (ka.length !== Object.keys(b).length) return false
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && sameJson((a as any)[k], (b as any)[k]))
}
