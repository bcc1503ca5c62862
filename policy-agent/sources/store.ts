// The cluster as a source holds it: one map per kind, handed out as immutable snapshots. Each
// kind is a ShardedMap (snapshot-map.ts): `state()` takes a snapshot of each kind written since the
// last one, and the first write to a shard after that copies that shard alone, so a snapshot never
// changes under its reader while a write costs O(1) plus, once per sync, ~120 entries. The store
// also logs which keys it wrote, so each snapshot can tell the compiler what changed since an
// earlier one (compile/changes.ts) instead of the compiler scanning every object. A write that
// changes nothing policy reads keeps the old object, reports no change and logs nothing.
//
// Problems are kept per object: an object that fails conversion is removed (skipped whole) and its
// problem recorded; the problem goes when the object is fixed, deleted or relisted without it.
import type { ClusterState } from '../model/cluster.js'
import { CHANGES, type Changes } from '../compile/changes.js'
import { normalizePolicy } from '../compile/normalize.js'
import type { NetworkPolicy } from '../model/cluster.js'
import { convertAs, keyOf, type Kind } from './convert.js'
import type { Json } from './fields.js'
import { ShardedMap } from './snapshot-map.js'
import { rememberLine, snapshotLine } from './snapshot-lines.js'
import type { ProblemReport } from './types.js'

const FIELD: Record<Kind, keyof ClusterState> = { Pod: 'pods', Namespace: 'namespaces', NetworkPolicy: 'policies', Node: 'nodes', ClusterNetworkPolicy: 'clusterNetworkPolicies' }
const FIELDS = Object.values(FIELD)
// Past this many logged writes the log starts over: a compiler further behind scans once instead.
const MAX_LOG = 100_000

export class ClusterStore {
  /** Whether each object's restart-snapshot line is made as it is stored (snapshot-lines.ts). */
  readonly #lines: boolean
  #maps = Object.fromEntries(FIELDS.map((f) => [f, new ShardedMap<unknown>()])) as Record<keyof ClusterState, ShardedMap<unknown>>
  #snapshot?: ClusterState
  /** where each snapshot's writes end in the log (absolute positions) */
  #logAt = new WeakMap<ClusterState, number>()
  #log: { field: keyof ClusterState; key: string }[] = []
  /** the absolute position of #log[0] */
  #logStart = 0
  #snapshotTaken = false
  #problems = new Map<string, ProblemReport>()
  #problemList?: ProblemReport[]

  /**
   * `snapshotLines`: each object's restart-snapshot line is made as it arrives (~4 us an object),
   * so a graceful stop only joins them (snapshot-lines.ts).
   */
  constructor(opts: { snapshotLines?: boolean } = {}) {
    this.#lines = opts.snapshotLines ?? false
  }

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
      const changed = this.#put(kind, key, c.value)
      if (changed && this.#lines) snapshotLine(kind, c.value as object)
      return changed
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
   * swaps in only at `done()`, so no snapshot ever holds a half-listed kind, but for `publish()`.
   */
  replace(kind: Kind): Replace {
    const next = new Map<string, unknown>()
    const problems = new Map<string, ProblemReport>()
    // A first list (the kind holds nothing yet) may show what it has so far; a relist never does:
    // it would hide, for a while, objects the last list had.
    const first = this.#maps[FIELD[kind]].size === 0
    return {
      publish: () => {
        if (!first) return false
        const cur = this.#maps[FIELD[kind]]
        next.forEach((value, key) => cur.get(key) !== value && this.#put(kind, key, value))
        return true
      },
      problem: (p) => void problems.set(p.where, { where: p.where, reason: p.reason }),
      add: (raw, line, specLine) => {
        try {
          const c = convertAs(kind, raw)
          next.set(c.key, c.value)
          if (line !== undefined) rememberLine(c.value as object, line, specLine)
          else if (this.#lines) snapshotLine(kind, c.value as object)
          // A listed policy is normalised now (cached per object), while the longer lists still
          // arrive: at 30k policies ~0.3 s the first compile after the lists no longer spends. Not
          // one read from a restart snapshot, whose load the restart waits for: the first sync
          // normalises only the namespaces with local pods, the rest follow between changes
          // (agent.ts #scheduleDeferredCheck).
          if (c.kind === 'NetworkPolicy' && line === undefined) normalizePolicy(c.value as NetworkPolicy)
          return c.value
        } catch (err) {
          let where = `${kind} ?`
          try { where = `${kind} ${keyOf(kind, raw)}` } catch { /* unnamed */ }
          problems.set(where, { where, reason: (err as Error).message })
          return undefined
        }
      },
      done: () => {
        for (const where of [...this.#problems.keys()]) if (where.startsWith(`${kind} `)) this.#clearProblem(where)
        for (const [where, p] of problems) this.#setProblem(where, p.reason)
        let changed = false
        const cur = this.#maps[FIELD[kind]]
        for (const key of [...cur.keys()]) if (!next.has(key)) changed = this.#remove(kind, key) || changed
        // forEach, not for-of: no [key, value] array per entry (30k pods, 30k policies).
        next.forEach((value, key) => (changed = this.#put(kind, key, value) || changed))
        return changed
      },
    }
  }

  /** The objects of one kind, as converted (for a restart snapshot: snapshot.ts). */
  objects(kind: Kind): Iterable<unknown> {
    return this.state()[FIELD[kind]].values()
  }

  /** The current cluster: a snapshot that later writes never change. */
  state(): ClusterState {
    if (!this.#snapshot) {
      const snap = Object.fromEntries(FIELDS.map((f) => [f, this.#maps[f].snapshot()])) as unknown as ClusterState
      const at = this.#logStart + this.#log.length
      this.#logAt.set(snap, at)
      Object.defineProperty(snap, CHANGES, { value: (since: ClusterState) => this.#changes(since, at) })
      this.#snapshot = snap
      this.#snapshotTaken = true
    }
    return this.#snapshot
  }

  /** The keys written between the snapshot `since` and the one whose writes end at `at`. */
  #changes(since: ClusterState, at: number): Changes | undefined {
    const from = this.#logAt.get(since)
    if (from === undefined || from < this.#logStart || from > at) return undefined
    const out = Object.fromEntries(FIELDS.map((f) => [f, new Set<string>()])) as unknown as Record<keyof ClusterState, Set<string>>
    for (let i = from - this.#logStart; i < at - this.#logStart; i++) out[this.#log[i]!.field].add(this.#log[i]!.key)
    return out
  }

  /** The problems of the objects as they are now, sorted by object. */
  problems(): ProblemReport[] {
    return (this.#problemList ??= Object.freeze([...this.#problems.keys()].sort().map((k) => Object.freeze(this.#problems.get(k)!))) as ProblemReport[])
  }

  #put(kind: Kind, key: string, value: unknown): boolean {
    const m = this.#maps[FIELD[kind]]
    const old = m.get(key)
    // Same content (most Pod updates are status or annotation changes policy does not read).
    if (old !== undefined && sameJson(old, value)) return false
    m.set(key, value)
    this.#logged(kind, key)
    return true
  }

  #remove(kind: Kind, key: string): boolean {
    if (!this.#maps[FIELD[kind]].delete(key)) return false
    this.#logged(kind, key)
    return true
  }

  #logged(kind: Kind, key: string): void {
    this.#snapshot = undefined
    // Before the first snapshot nobody can ask what changed since one: the initial lists go unlogged.
    if (!this.#snapshotTaken) return
    if (this.#log.length >= MAX_LOG) {
      this.#logStart += this.#log.length
      this.#log = []
    }
    this.#log.push({ field: FIELD[kind], key })
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

/** One kind's list as it arrives (ClusterStore.replace). */
export interface Replace {
  /**
   * Converts and keeps one listed object; what it became (undefined: it did not convert, its
   * problem is kept). `line`: the restart snapshot's line it was read from, kept as its line (it
   * converts to it again), and `specLine` its spec's (snapshot-lines.ts).
   */
  add: (raw: Json, line?: string, specLine?: string) => unknown
  /** An object known not to convert without its raw form (a restart snapshot's, snapshot.ts). */
  problem: (p: ProblemReport) => void
  /**
   * Puts what a first list has given so far into the store, so that a snapshot taken now holds
   * it: the agent compiles the cluster before its last page and the first sync compiles that page
   * alone (agent.ts compileAhead). False, and nothing moves, for a relist.
   */
  publish: () => boolean
  /** Swaps the list in: the objects it lacks go. True when what policy reads changed. */
  done: () => boolean
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
