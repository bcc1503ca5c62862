// What flow records and audit mode add to a compiled PolicyIR, as a pure pass after the compiler:
// which chains log (the namespace's cinch.dev/flow-logs, else --flow-logs), the per-node limit's
// settings, and the audit chains and maps (README "Audit mode"). The renderer turns the flags
// into log rules (render/rules.ts, with flows/nft.ts). Objects a change did not touch keep their
// identity across syncs (cached per compiled object), so renderDiff stays in proportion to it.
import type { IrChain, IrRule, IrSet, MapName, PolicyIR } from '../compile/ir.js'
import { MAP_NAMES } from '../compile/ir.js'
import type { ClusterState } from '../model/cluster.js'
import { namespaceFlowLogs } from './audit.js'
import type { FlowLogOptions } from './options.js'

const AUDIT_CHAIN_PREFIX = 'audit-'

const logged = new WeakMap<IrChain, IrChain>()
const audited = new WeakMap<IrChain, IrChain>()
const auditRule = new WeakMap<IrRule, IrRule>()

/**
 * What withFlowLogs made from which inputs, for a caller that calls it on every sync (FlowCompiler):
 * the chains record with its logged chains flagged, made again only when the compiled chains or
 * the namespaces that log changed (`optInGen`, the caller's count of those); the audit chains,
 * sets and maps, only when one of their three inputs is another object. With flow logging on, each
 * sync rebuilt both from the whole IR (every chain, every set: ~0.3-0.4 ms of every sync with cold
 * caches at 30k, for changes that touched neither).
 */
export interface FlowLogsMemo {
  flagged?: { from: Record<string, IrChain>; optInGen: number; chains: Record<string, IrChain> }
  audit?: { audit: PolicyIR; chains: Record<string, IrChain>; sets: Record<string, IrSet>; out: Pick<PolicyIR, 'chains' | 'sets' | 'auditMaps'> }
}

/**
 * `ir` with flow logging: `flowLog` settings, `flowLog: true` on the chains of logged pods, and
 * from `audit` (the IR of the audit policies alone, compiled for the same pods) an audit chain per
 * pod and direction that audit policies isolate and no enforced NetworkPolicy does. `memo` (with
 * `optInGen`): what the last call made, reused where its inputs are the same.
 */
export function withFlowLogs(ir: PolicyIR, o: { state: ClusterState; options: FlowLogOptions; audit?: PolicyIR; anyOn?: boolean; memo?: FlowLogsMemo; optInGen?: number }): PolicyIR {
  const out: PolicyIR = { ...ir, flowLog: { group: o.options.group, rate: o.options.rate, burst: o.options.burst } }
  const on = new Map<string, boolean>()
  const logs = (pod: string) => {
    const ns = pod.slice(0, pod.indexOf('/'))
    let v = on.get(ns)
    if (v === undefined) on.set(ns, (v = namespaceFlowLogs(o.state.namespaces.get(ns), o.options.clusterWide)))
    return v
  }
  // Whether any namespace logs at all: given by a caller that tracks it (FlowCompiler, from the
  // change log), else a scan of every namespace.
  const anyOn = o.anyOn ?? (o.options.clusterWide || [...o.state.namespaces.values()].some((n) => namespaceFlowLogs(n, false)))
  if (anyOn) {
    const last = o.memo?.flagged
    if (last && last.from === ir.chains && o.optInGen !== undefined && last.optInGen === o.optInGen) out.chains = last.chains
    else {
      const chains: Record<string, IrChain> = {}
      for (const [name, c] of Object.entries(ir.chains)) chains[name] = logs(c.pod) ? flagged(c) : c
      out.chains = chains
      if (o.memo && o.optInGen !== undefined) o.memo.flagged = { from: ir.chains, optInGen: o.optInGen, chains }
    }
  }
  if (o.audit) {
    const last = o.memo?.audit
    if (last && last.audit === o.audit && last.chains === out.chains && last.sets === out.sets) Object.assign(out, last.out)
    else {
      const before = { chains: out.chains, sets: out.sets }
      addAudit(out, o.audit)
      if (o.memo) o.memo.audit = { audit: o.audit, ...before, out: { chains: out.chains, sets: out.sets, auditMaps: out.auditMaps } }
    }
  }
  return out
}

function flagged(c: IrChain): IrChain {
  let f = logged.get(c)
  if (!f) logged.set(c, (f = { ...c, flowLog: true }))
  return f
}

function addAudit(out: PolicyIR, audit: PolicyIR): void {
  // Pods an enforced NetworkPolicy isolates: an audit policy can only add allows there, which the
  // audit pass cannot see (the enforcing chain dropped the rest); explain reports them.
  const isolated = new Set<string>()
  for (const c of Object.values(out.chains)) if (!c.tier) isolated.add(`${c.direction} ${c.pod}`)
  const chains = { ...out.chains }, sets = { ...out.sets }
  const maps = Object.fromEntries(MAP_NAMES.map((m) => [m, {} as Record<string, string>])) as Record<MapName, Record<string, string>>
  const renamed = new Map<string, string>()
  for (const [name, c] of Object.entries(audit.chains)) {
    if (c.tier || isolated.has(`${c.direction} ${c.pod}`)) continue
    const an = AUDIT_CHAIN_PREFIX + name.replace(/^pod-/, '')
    renamed.set(name, an)
    let a = audited.get(c)
    if (!a) {
      // Never a verdict of its own: a match returns (the next look-up runs), the end logs "would
      // deny" and returns. Audit policies count nothing: their counters would report as enforced.
      a = { ...c, rules: c.rules.map(toAuditRule), dropCounter: '', audit: true, flowLog: true, comment: c.comment.replace(/^/, 'audit: ').slice(0, 120) }
      audited.set(c, a)
    }
    chains[an] = a
    for (const r of a.rules) for (const s of [r.peerSet, r.tupleSet, r.portSet?.set]) if (s && audit.sets[s]) sets[s] = sets[s] ?? audit.sets[s]!
  }
  for (const m of MAP_NAMES) for (const [addr, chain] of Object.entries(audit.maps[m])) {
    const an = renamed.get(chain)
    if (an) maps[m][addr] = an
  }
  out.chains = chains
  out.sets = sets
  out.auditMaps = maps
}

function toAuditRule(r: IrRule): IrRule {
  let a = auditRule.get(r)
  if (!a) {
    const { counter: _c, action: _a, ...rest } = r
    auditRule.set(r, (a = { ...rest, counter: '' }))
  }
  return a
}
