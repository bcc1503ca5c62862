// The records of the IR as the compiler hands them out: sorted (as a fresh compile writes them),
// and, after a change, with every part equal to the last IR's replaced by that object, so that
// renderDiff skips unchanged parts by identity.
import { recordDeltaFrom, recordRecordDelta, type PolicyIR, type RuleCounter } from './ir.js'
import { lowerBound } from './sorted-keys.js'

/**
 * A record the compiler handed out (keys sorted, as a fresh compile writes them) with its keys and
 * values in that order, kept beside it (never changed): the next record is derived from the lists,
 * not by looking each of its hundreds of keys up in the last record.
 */
export interface Ordered<T> { rec: Record<string, T>; keys: readonly string[]; vals: readonly T[] }

/** `rec` with its keys and values listed (a lookup per key: once, for a record not derived here). */
export function orderedOf<T>(rec: Record<string, T>): Ordered<T> {
  const keys = Object.keys(rec)
  return { rec, keys, vals: keys.map((k) => rec[k]!) }
}

/**
 * `base` with the entries of `touched` as `get` gives them (undefined: the key goes), in sorted
 * key order (chain and set names, policy keys `ns/name`: never `__proto__` nor an array index), and
 * how it differs from base recorded (ir.ts recordRecordDelta); `base` itself when nothing does.
 * Every other value is base's, copied from its lists in order: in an idle agent each lookup of a
 * key in the last record was a cache miss or two (its string's hash, the record's bucket), for
 * each of ~445 sets, ~220 chains and ~440 policy counters, when one entry came or went.
 */
export function derive<T>(base: Ordered<T>, touched: Iterable<string>, get: (k: string) => T | undefined): Ordered<T> {
  const changed: string[] = [], added: string[] = [], removed: string[] = []
  const next = new Map<string, T>()
  for (const k of touched) {
    const v = get(k), had = Object.hasOwn(base.rec, k)
    if (v === undefined) { if (had) removed.push(k) } else if (!had) { added.push(k); next.set(k, v) } else if (base.rec[k] !== v) { changed.push(k); next.set(k, v) }
  }
  if (changed.length === 0 && added.length === 0 && removed.length === 0) return base
  added.sort()
  removed.sort()
  const merged = mergeKeys(base, added, removed, next) ?? rebuiltKeys(base, added, removed, next)
  const { keys, vals } = merged
  for (const k of changed) vals[lowerBound(keys, k)] = next.get(k)!
  const r = dictionary<T>()
  for (let i = 0; i < keys.length; i++) r[keys[i]!] = vals[i]!
  recordRecordDelta(r, { base: base.rec, changed: [...changed, ...added].sort(), removed })
  return { rec: r, keys, vals }
}

/** base's keys and values without `removed` and with `added` at their sorted places; undefined if base's lists are not what they should be. */
function mergeKeys<T>(base: Ordered<T>, added: string[], removed: string[], next: Map<string, T>): { keys: string[]; vals: T[] } | undefined {
  const keys: string[] = [], vals: T[] = []
  let from = 0, i = 0, j = 0
  const copyTo = (end: number) => { for (; from < end; from++) { keys.push(base.keys[from]!); vals.push(base.vals[from]!) } }
  while (i < removed.length || j < added.length) {
    if (j >= added.length || (i < removed.length && removed[i]! < added[j]!)) {
      const at = lowerBound(base.keys, removed[i]!, from)
      if (base.keys[at] !== removed[i]) return undefined
      copyTo(at)
      from = at + 1
      i++
    } else {
      const at = lowerBound(base.keys, added[j]!, from)
      if (base.keys[at] === added[j]) return undefined
      copyTo(at)
      keys.push(added[j]!)
      vals.push(next.get(added[j++]!)!)
    }
  }
  copyTo(base.keys.length)
  return { keys, vals }
}

/** The slow way, from the record itself (only if the lists and the record disagree: a bug). */
function rebuiltKeys<T>(base: Ordered<T>, added: string[], removed: string[], next: Map<string, T>): { keys: string[]; vals: T[] } {
  const gone = new Set(removed)
  const keys = [...Object.keys(base.rec).filter((k) => !gone.has(k)), ...added].sort()
  return { keys, vals: keys.map((k) => (next.has(k) ? next.get(k)! : base.rec[k]!)) }
}

/**
 * An empty record already in dictionary mode: filled key by key with hundreds of names (a set or
 * chain name each), a fresh `{}` first walks through a hidden class per key added before V8 gives
 * up on them, and those classes are new for every new key order (half the cost of the fill).
 */
function dictionary<T>(): Record<string, T> {
  const r: Record<string, T> = { dictionary: undefined as T }
  delete r.dictionary
  return r
}

/** A record of `m`'s entries in sorted key order (as sortIR writes every record of the IR). */
export function sorted<V, T>(m: Map<string, V>, value: (v: V, k: string) => T): Record<string, T> {
  return Object.fromEntries([...m.keys()].sort().map((k) => [k, value(m.get(k)!, k)]))
}

export const sameList = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i])

export function sameRuleCounter(a: RuleCounter | undefined, b: RuleCounter | undefined): boolean {
  return a === b || (!!a && !!b && a.policy === b.policy && a.tier === b.tier && a.direction === b.direction && a.index === b.index && a.name === b.name && a.action === b.action)
}

const same = (x: unknown, y: unknown) => x === y

/**
 * `next` with every part equal to `prev`'s replaced by `prev`'s object, so that renderDiff skips
 * unchanged parts by identity (a whole-IR walk of a few hundred entries here saves it re-deriving
 * the anti-spoofing elements and counter names of every local pod on each change).
 */
export function keepUnchanged(prev: PolicyIR | undefined, next: PolicyIR): PolicyIR {
  if (!prev) return next
  const sameRec = <T>(a: Record<string, T>, b: Record<string, T>, eq: (x: T, y: T) => boolean = same) => {
    // The same record (what a Compiler hands out for a field no change touched): no walk.
    if (a === b) return true
    // Derived from it with what changed recorded (compared by identity: chains, sets): its delta.
    const d = eq === same ? recordDeltaFrom(a, b) : undefined
    if (d) return d.changed.length === 0 && d.removed.length === 0
    const ka = Object.keys(a), kb = Object.keys(b)
    return ka.length === kb.length && ka.every((k, i) => k === kb[i] && eq(a[k]!, b[k]!))
  }
  const keep = <T>(a: T, b: T, eq: (x: T, y: T) => boolean) => (a === b || eq(a, b) ? a : b)
  const keepMaps = (a: PolicyIR['maps'], b: PolicyIR['maps']) => {
    const maps = { ...b }
    for (const m of MAP_KEYS) maps[m] = keep(a[m], b[m], sameRec)
    return MAP_KEYS.every((m) => maps[m] === a[m]) ? a : maps
  }
  // `next`'s own keys in its order (a fresh compile's IR and this one print the same JSON).
  const out: PolicyIR = { ...next }
  out.chains = keep(prev.chains, next.chains, sameRec)
  out.sets = keep(prev.sets, next.sets, sameRec)
  out.maps = keepMaps(prev.maps, next.maps)
  out.policyCounters = keep(prev.policyCounters, next.policyCounters, sameRec)
  // Rule counters are rebuilt with their tier chain: equal ones are the same counters.
  out.ruleCounters = keep(prev.ruleCounters, next.ruleCounters, (a, b) => sameRec(a, b, sameRuleCounter))
  out.veths = keep(prev.veths, next.veths, sameList)
  out.vethAddrs = keep(prev.vethAddrs, next.vethAddrs, (a, b) => sameRec(a, b, sameList))
  // Flow logging's parts (flows/compiler.ts), only where `next` has them.
  if (next.auditMaps) out.auditMaps = prev.auditMaps ? keepMaps(prev.auditMaps, next.auditMaps) : next.auditMaps
  if (next.flowLog) out.flowLog = JSON.stringify(prev.flowLog) === JSON.stringify(next.flowLog) ? prev.flowLog! : next.flowLog
  return IR_KEYS.every((k) => out[k] === prev[k]) ? prev : out
}
const MAP_KEYS = ['ingress-v4', 'ingress-v6', 'egress-v4', 'egress-v6'] as const
const IR_KEYS: (keyof PolicyIR)[] = ['chains', 'sets', 'maps', 'policyCounters', 'ruleCounters', 'veths', 'vethAddrs', 'auditMaps', 'flowLog']

export function sortIR(ir: PolicyIR): PolicyIR {
  const sortRec = <T>(r: Record<string, T>) => Object.fromEntries(Object.keys(r).sort().map((k) => [k, r[k]!]))
  return {
    chains: sortRec(ir.chains), sets: ir.sets,
    maps: { 'ingress-v4': sortRec(ir.maps['ingress-v4']), 'ingress-v6': sortRec(ir.maps['ingress-v6']),
      'egress-v4': sortRec(ir.maps['egress-v4']), 'egress-v6': sortRec(ir.maps['egress-v6']) },
    policyCounters: sortRec(ir.policyCounters), ruleCounters: sortRec(ir.ruleCounters), veths: [...new Set(ir.veths)].sort(),
    vethAddrs: Object.fromEntries(Object.keys(ir.vethAddrs).sort().map((v) => [v, [...ir.vethAddrs[v]!].sort()])),
  }
}
