// What each local pod's record contributes to the IR (its pod's chains, counters, verdict map
// entries, its veth and addresses, the sets its rules use), kept between compiles so that a change
// recomputes only the records it touches and the IR is reassembled from the parts that changed
// (compiler.ts). A pod has one record per attachment: the parts of a pod with several (a pod on
// two cinch networks under Multus) claim the same chains and counters as one owner, the pod.
//
// A full compile names objects through NameBooks, first come first served in local-pod order: a
// name two owners would share gets a hash suffix for the later one. Parts are computed alone, so
// they take every name as objectName gives it and record who claimed it (ClaimBook); as long as
// no name, verdict map address or veth is claimed by two owners, those names are the full
// compile's and the union of the parts is order-free. The first claim by a second owner makes
// `add` fail, and the Compiler compiles in full instead.
import type { IrChain, MapName, PolicyIR, RuleCounter } from './ir.js'
import type { LocalPod } from '../model/cluster.js'
import { MAP_NAMES } from './ir.js'
import { objectName } from './names.js'
import type { SetDef } from './sets.js'

/** The `name` of a NameBook, which the chain builders take. */
export interface Namer { name(prefix: string, ns: string, name: string): string }

/** Names as a collision-free NameBook gives them, each claim recorded as `tag + name` -> owner. */
export class ClaimBook implements Namer {
  constructor(readonly tag: string, readonly claims: [string, string][]) {}
  name(prefix: string, ns: string, name: string): string {
    const n = objectName(prefix, ns, name)
    this.claims.push([this.tag + n, `${ns}/${name}`])
    return n
  }
}

/** One local pod's contribution, with the inputs it was computed from. */
export interface PodPart {
  inputs: {
    namespace: string; name: string; hostVeth: string; ips: string[]; pod: unknown; nsPolicies: unknown; nsLabels: unknown; gen: number
    /** the node bound's closures of its two directions, as one string ('' when none is closed on the node) */
    nodeClosed: string
  }
  /** the pod's share of the IR, as a compile of this pod alone writes it */
  ir: PolicyIR
  used: Map<string, () => SetDef>
  /** the chain memo keys it uses */
  live: Set<string>
  /** chain and counter names (tagged by book), verdict map addresses and veths: name -> owner */
  claims: [string, string][]
}

export function samePartInputs(a: PodPart['inputs'], b: PodPart['inputs']): boolean {
  return a.pod === b.pod && a.nsPolicies === b.nsPolicies && a.nsLabels === b.nsLabels && a.gen === b.gen && a.nodeClosed === b.nodeClosed &&
    a.hostVeth === b.hostVeth && a.namespace === b.namespace && a.name === b.name &&
    a.ips.length === b.ips.length && a.ips.every((ip, i) => ip === b.ips[i])
}

const count = <K, V>(m: Map<K, { v: V; n: number }>, k: K, v: V, d: 1 | -1) => {
  const e = m.get(k)
  if (d > 0) { if (e) e.n++; else m.set(k, { v, n: 1 }) } else if (e && --e.n === 0) m.delete(k)
}

/** Where two lists differ: old[from, oldTo) and next[from, nextTo) lie between the ends they share. */
interface Middles { from: number; oldTo: number; nextTo: number }

/** A part being replaced by its pod's next one (PartsUnion.swapOut, then swapIn). */
export interface Swap { old: PodPart; next: PodPart; nextPc: [string, string][]; claims: Middles; pc: Middles }

const samePair = (a: readonly [string, string], b: readonly [string, string]) => a[0] === b[0] && a[1] === b[1]

/** The union of the parts, kept up to date part by part, and which names each field saw change. */
export class PartsUnion {
  readonly claims = new Map<string, { v: string; n: number }>()
  readonly chains = new Map<string, IrChain>()
  /** how many parts name each chain (several when a pod has several records) */
  readonly #chainHolders = new Map<string, number>()
  readonly policyCounters = new Map<string, { v: string; n: number }>()
  readonly ruleCounters = new Map<string, { v: RuleCounter; n: number }>()
  readonly maps = new Map<MapName, Map<string, string>>(MAP_NAMES.map((m) => [m, new Map()]))
  readonly vethAddrs = new Map<string, string[]>()
  readonly sets = new Map<string, { v: () => SetDef; n: number }>()
  /** names touched since the last `takeTouched`, per field (maps: the addresses, per map) */
  touched = touchedNone()

  /** Removes a part (which must have been added). */
  remove(p: PodPart): void {
    for (const [k] of p.claims) count(this.claims, k, '', -1)
    for (const [k, n] of Object.entries(p.ir.policyCounters)) { count(this.policyCounters, k, n, -1); this.touched.policyCounters.add(k) }
    this.#rest(p, -1)
  }

  /**
   * Adds a part; false (and nothing added) when one of its claims has another owner already: the
   * names would then depend on the order of the pods, which only a full compile reproduces.
   */
  add(p: PodPart): boolean {
    for (const [k, owner] of p.claims) { const e = this.claims.get(k); if (e && e.v !== owner) return false }
    for (const [k, owner] of p.claims) count(this.claims, k, owner, 1)
    for (const [k, n] of Object.entries(p.ir.policyCounters)) { count(this.policyCounters, k, n, 1); this.touched.policyCounters.add(k) }
    this.#rest(p, 1)
    return true
  }

  /**
   * Takes out what of a part its same pod's next one does not share, the first half of replacing
   * it (swapIn, once every part going out is out, puts the next one in). Its claims and policy
   * counters, thousands for a pod that one tenant's many policies select, are compared at their
   * ends (both lists are in policy order): only what lies between the ends they share moves, so a
   * tenant's change on such a pod costs the policies it changed, not all of them (remove and add
   * whole: ~22 ms a change at 6,650 policies). The rest of the part (two chains, its addresses, a
   * few sets) moves whole.
   */
  swapOut(old: PodPart, next: PodPart): Swap {
    const oldPc = Object.entries(old.ir.policyCounters), nextPc = Object.entries(next.ir.policyCounters)
    const sw: Swap = { old, next, nextPc, claims: middles(old.claims, next.claims, samePair), pc: middles(oldPc, nextPc, samePair) }
    for (let i = sw.claims.from; i < sw.claims.oldTo; i++) count(this.claims, old.claims[i]![0], '', -1)
    for (let i = sw.pc.from; i < sw.pc.oldTo; i++) { const [k, n] = oldPc[i]!; count(this.policyCounters, k, n, -1); this.touched.policyCounters.add(k) }
    this.#rest(old, -1)
    return sw
  }

  /** The second half of swapOut: false (as add, before adding anything) when a claim of the next part has another owner. */
  swapIn(sw: Swap): boolean {
    const { next, claims, pc, nextPc } = sw
    for (let i = claims.from; i < claims.nextTo; i++) { const [k, owner] = next.claims[i]!; const e = this.claims.get(k); if (e && e.v !== owner) return false }
    for (let i = claims.from; i < claims.nextTo; i++) { const [k, owner] = next.claims[i]!; count(this.claims, k, owner, 1) }
    for (let i = pc.from; i < pc.nextTo; i++) { const [k, n] = nextPc[i]!; count(this.policyCounters, k, n, 1); this.touched.policyCounters.add(k) }
    this.#rest(next, 1)
    return true
  }

  /** A part's chains, rule counters, verdict map entries, veth addresses and sets, out (-1) or in (1). */
  #rest(p: PodPart, d: 1 | -1): void {
    // A pod's records (one per attachment: a second cinch network under Multus) are parts of their
    // own that share the pod's chains: a chain goes when the last part naming it does.
    for (const [n, c] of Object.entries(p.ir.chains)) {
      const held = (this.#chainHolders.get(n) ?? 0) + d
      if (held > 0) this.#chainHolders.set(n, held)
      else this.#chainHolders.delete(n)
      if (d > 0) this.chains.set(n, c)
      else if (held <= 0) this.chains.delete(n)
      this.touched.chains.add(n)
    }
    for (const [k, c] of Object.entries(p.ir.ruleCounters)) { count(this.ruleCounters, k, c, d); this.touched.ruleCounters.add(k) }
    for (const m of MAP_NAMES) for (const [a, c] of Object.entries(p.ir.maps[m])) { if (d > 0) this.maps.get(m)!.set(a, c); else this.maps.get(m)!.delete(a); touchAddr(this.touched.maps, m, a) }
    for (const [v, addrs] of Object.entries(p.ir.vethAddrs)) { if (d > 0) this.vethAddrs.set(v, [...addrs].sort()); else this.vethAddrs.delete(v); this.touched.vethAddrs.add(v) }
    for (const [n, def] of p.used) { count(this.sets, n, def, d); this.touched.sets.add(n) }
  }

  takeTouched(): PartsUnion['touched'] {
    const t = this.touched
    this.touched = touchedNone()
    return t
  }
}

/** `from` the length of the prefix two lists share, `oldTo` and `nextTo` where the suffix they share begins in each. */
function middles<T>(old: readonly T[], next: readonly T[], same: (a: T, b: T) => boolean): Middles {
  let from = 0
  const min = Math.min(old.length, next.length)
  while (from < min && same(old[from]!, next[from]!)) from++
  let oldTo = old.length, nextTo = next.length
  while (oldTo > from && nextTo > from && same(old[oldTo - 1]!, next[nextTo - 1]!)) (oldTo--, nextTo--)
  return { from, oldTo, nextTo }
}

function touchedNone() {
  return { chains: new Set<string>(), policyCounters: new Set<string>(), ruleCounters: new Set<string>(), maps: new Map<MapName, Set<string>>(), vethAddrs: new Set<string>(), sets: new Set<string>() }
}

function touchAddr(maps: Map<MapName, Set<string>>, m: MapName, a: string): void {
  let s = maps.get(m)
  if (!s) maps.set(m, (s = new Set()))
  s.add(a)
}

/** The claims a part makes beyond its names: each verdict map address and its veth belong to it alone. */
export function ownershipClaims(ir: PolicyIR, owner: string): [string, string][] {
  const out: [string, string][] = []
  for (const m of MAP_NAMES) for (const a of Object.keys(ir.maps[m])) out.push([`a${m} ${a}`, owner])
  for (const v of ir.veths) out.push([`v${v}`, owner])
  return out
}

/**
 * What the Compiler (#localsByKey) remembers of a list of records, flat (one array, read in order): each record,
 * its namespace, name, hostVeth, its addresses' count and addresses. A record is a value: the
 * agent makes new ones when the records change, but one changed in place is noticed too.
 */
export function recordsSeen(localPods: LocalPod[]): unknown[] {
  const seen: unknown[] = []
  for (const lp of localPods) {
    seen.push(lp, lp.namespace, lp.name, lp.hostVeth, lp.ips.length)
    for (let j = 0; j < lp.ips.length; j++) seen.push(lp.ips[j])
  }
  return seen
}

/**
 * Whether `lp` holds the fields recordsSeen wrote of a record at offset `i` of `seen` (not the
 * record itself: the agent lists new objects when any record changed, most of them equal).
 */
export function sameRecordAt(lp: LocalPod, seen: unknown[], i: number): boolean {
  const ips = lp.ips
  if (seen[i + 1] !== lp.namespace || seen[i + 2] !== lp.name || seen[i + 3] !== lp.hostVeth || seen[i + 4] !== ips.length) return false
  for (let j = 0; j < ips.length; j++) if (seen[i + 5 + j] !== ips[j]) return false
  return true
}

export function sameRecords(localPods: LocalPod[], seen: unknown[]): boolean {
  let i = 0
  for (const lp of localPods) {
    if (seen[i] !== lp || !sameRecordAt(lp, seen, i)) return false
    i += 5 + lp.ips.length
  }
  return i === seen.length
}
