// The named counters a diff adds and deletes: counterNames(next) against counterNames(prev), in
// their sorted order, without gathering either IR's counters whole when a Compiler recorded what
// its records changed (compile/ir.ts recordDeltaFrom): a policy create at 30k policies touches a
// few of ~400 counters, and reading them all (Object.values of ~220 policy counters and ~180
// chains, a cache miss per name) was most of its planDiff.
import { counterCounts, recordDeltaFrom, type IrChain, type PolicyIR } from '../compile/ir.js'

interface Counted { policyCounters: object; ruleCounters: object; flowLog: boolean; counts: Map<string, number> }

/** Each IR's counter counts, kept by its chains record (a diff's prev was the last diff's next). */
const kept = new WeakMap<object, Counted>()

function countsOf(ir: PolicyIR): Counted {
  const c = kept.get(ir.chains)
  if (c && c.policyCounters === ir.policyCounters && c.ruleCounters === ir.ruleCounters && c.flowLog === !!ir.flowLog) return c
  return keep(ir, counterCounts(ir))
}

function keep(ir: PolicyIR, counts: Map<string, number>): Counted {
  const c = { policyCounters: ir.policyCounters, ruleCounters: ir.ruleCounters, flowLog: !!ir.flowLog, counts }
  kept.set(ir.chains, c)
  return c
}

const own = <T>(r: Record<string, T>, k: string): T | undefined => (Object.hasOwn(r, k) ? r[k] : undefined)

/** The counters only `next` has, and those only `prev` has, each sorted (as counterNames sorts). */
export function counterChanges(prev: PolicyIR, next: PolicyIR): { added: string[]; removed: string[] } {
  const p = countsOf(prev)
  const chains = prev.chains === next.chains ? { changed: [], removed: [] } : recordDeltaFrom(prev.chains, next.chains)
  const policies = prev.policyCounters === next.policyCounters ? { changed: [], removed: [] } : recordDeltaFrom(prev.policyCounters, next.policyCounters)
  if (!chains || !policies || prev.ruleCounters !== next.ruleCounters || !!prev.flowLog !== !!next.flowLog) {
    // Not derived from prev by a Compiler: both whole.
    const n = countsOf(next).counts
    const only = (a: Map<string, number>, b: Map<string, number>) => [...a.keys()].filter((c) => !b.has(c)).sort()
    return { added: only(n, p.counts), removed: only(p.counts, n) }
  }
  // prev's counts become next's (a copy of ~400 entries cost more than the rest): prev's are forgotten.
  const counts = p.counts, before = new Map<string, number>()
  kept.delete(prev.chains)
  const move = (name: string, d: 1 | -1) => {
    const was = counts.get(name) ?? 0
    if (!before.has(name)) before.set(name, was)
    if (was + d > 0) counts.set(name, was + d)
    else counts.delete(name)
  }
  const drop = (c: IrChain | undefined) => c?.dropCounter
  for (const k of [...chains.changed, ...chains.removed]) {
    const a = drop(own(prev.chains, k)), b = drop(own(next.chains, k))
    if (a) move(a, -1)
    if (b) move(b, 1)
  }
  for (const k of [...policies.changed, ...policies.removed]) {
    const a = own(prev.policyCounters, k), b = own(next.policyCounters, k)
    if (a !== undefined) move(a, -1)
    if (b !== undefined) move(b, 1)
  }
  keep(next, counts)
  const t = [...before]
  return { added: t.filter(([c, was]) => was === 0 && counts.has(c)).map(([c]) => c).sort(), removed: t.filter(([c, was]) => was > 0 && !counts.has(c)).map(([c]) => c).sort() }
}
