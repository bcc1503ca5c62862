// The records of the IR as the compiler hands them out: sorted (as a fresh compile writes them),
// and, after a change, with every part equal to the last IR's replaced by that object, so that
// renderDiff skips unchanged parts by identity.
import { recordDeltaFrom, recordRecordDelta, type PolicyIR, type RuleCounter } from './ir.js'

/**
 * A record of the (sorted) keys and their values (chain and set names, policy keys `ns/name`:
 * never `__proto__`), recording how it differs from `base` (ir.ts recordRecordDelta): the keys whose
 * value is not base's are found on the way; the keys gone must be among `touched` (the names the
 * change removed or added), in base's order, which is sorted like `keys`. `onlyTouched`: the
 * caller knows that no value but those of `touched` can differ from base's, so the others are
 * base's, read there (not through `value`: ~440 sets scattered over the heap, a cache miss each).
 */
export function inOrderFrom<T>(keys: string[], value: (k: string) => T, base: Record<string, T>, touched: ReadonlySet<string>, onlyTouched = false): Record<string, T> {
  const r = dictionary<T>()
  const changed: string[] = []
  for (const k of keys) {
    if (onlyTouched && !touched.has(k)) { r[k] = base[k]!; continue }
    const v = (r[k] = value(k))
    // (a key base lacks reads undefined, or a function of Object.prototype: never a value here)
    if (base[k] !== v) changed.push(k)
  }
  const removed: string[] = []
  for (const k of touched) if (Object.hasOwn(base, k) && !Object.hasOwn(r, k)) removed.push(k)
  recordRecordDelta(r, { base, changed, removed: removed.sort() })
  return r
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
