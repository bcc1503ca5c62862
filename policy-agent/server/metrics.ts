// Prometheus metrics. Sync figures are recorded as syncs happen; what lives in the kernel (rules,
// set elements, per-policy counters) is read from nf_tables at scrape time (lib/nft/figures-netlink:
// netlink dumps, not `nft -j list table`, which at 30k policies held the event loop 250 ms per
// scrape), so it reports what is enforced, not what we meant to enforce.
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { readTableFigures, type TableFigures, type TableRef } from '../../lib/nft/figures-netlink.js'
import { BRIDGE_TABLE, POLICY_TABLE } from '../../lib/state/tables.js'
import { SPOOF_COUNTER } from '../render/antispoof.js'
import type { SyncReport } from '../agent.js'
import type { CleanupReport } from '../conntrack/cleaner.js'
import type { PolicyIR } from '../compile/ir.js'
import { createFlowMetrics, type FlowMetrics } from '../flows/metrics.js'

export interface KernelFigures {
  rules: number
  setElements: number
  /** counter name -> packets/bytes */
  counters: Map<string, { packets: number; bytes: number }>
}

/** The table's figures with its counters by name. */
export function kernelFigures(f: TableFigures): KernelFigures {
  return { rules: f.rules, setElements: f.setElements, counters: new Map(f.counters.map((c) => [c.name, { packets: c.packets, bytes: c.bytes }])) }
}

/**
 * Packets/bytes per policy and verdict from the kernel's counters. The IR names each policy's
 * counter (what its rules allowed) and each pod chain's drop counter; a drop in a chain is due to
 * every policy isolating that pod in that direction, so it is reported under each of them.
 */
export function policyTraffic(ir: PolicyIR, counters: KernelFigures['counters']): { policy: string; verdict: 'allowed' | 'dropped'; packets: number; bytes: number }[] {
  const out = new Map<string, { policy: string; verdict: 'allowed' | 'dropped'; packets: number; bytes: number }>()
  const add = (policy: string, verdict: 'allowed' | 'dropped', c?: { packets: number; bytes: number }) => {
    const k = `${verdict} ${policy}`
    const e = out.get(k) ?? { policy, verdict, packets: 0, bytes: 0 }
    e.packets += c?.packets ?? 0
    e.bytes += c?.bytes ?? 0
    out.set(k, e)
  }
  for (const [policy, counter] of Object.entries(ir.policyCounters)) add(policy, 'allowed', counters.get(counter))
  for (const chain of Object.values(ir.chains)) for (const policy of chain.policies) add(policy, 'dropped', counters.get(chain.dropCounter))
  return [...out.values()]
}

export interface AgentMetrics {
  registry: Registry
  recordSync(report: SyncReport): void
  recordCleanup(report: CleanupReport): void
  /** flow records (flows/metrics.ts): verdicts by policy and rule, events lost and limited */
  flows: FlowMetrics
}

export interface MetricsOptions {
  appliedIr: () => PolicyIR | undefined
  /** The tables read per scrape: lib/state/tables.ts's, in this process's namespace, by default. */
  table?: TableRef
  bridgeTable?: TableRef
  /** How a table's figures are read (readTableFigures). */
  readFigures?: (t: TableRef) => Promise<TableFigures>
}

export function createMetrics(opts: MetricsOptions): AgentMetrics {
  const registry = new Registry()
  const table = opts.table ?? POLICY_TABLE
  const bridgeTable = opts.bridgeTable ?? BRIDGE_TABLE
  const readFigures = opts.readFigures ?? readTableFigures
  const syncDuration = new Histogram({
    name: 'cinch_sync_duration_seconds',
    help: 'Time from reading the cluster state to the rules being in the kernel.',
    labelNames: ['mode'],
    buckets: [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  })
  // SIG-Scalability's network programming latency SLI, for policy: per change, not per sync.
  const programming = new Histogram({
    name: 'cinch_policy_programming_latency_seconds',
    help: 'Time from a cluster change (a watch event, a manifest write) reaching the agent to the nft transaction that applied it being committed.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  })
  const lastSync = new Gauge({ name: 'cinch_last_sync_timestamp_seconds', help: 'Unix time of the last successful sync.', registers: [registry] })
  const localPods = new Gauge({ name: 'cinch_local_pods', help: 'Pods attached on this node.', registers: [registry] })
  const invalid = new Gauge({ name: 'cinch_invalid_policies', help: 'NetworkPolicies skipped because they cannot be compiled (1 per policy).', labelNames: ['policy', 'reason'], registers: [registry] })
  const failedClosed = new Gauge({ name: 'cinch_pods_failed_closed', help: 'Local pods whose NetworkPolicy chain of a direction fails closed: the policies selecting it add up to more than --max-pod-policy-cost, or those of all local pods to more than --max-node-policy-cost and its namespace costs the node most (1 per pod and direction).', labelNames: ['pod', 'direction'], registers: [registry] })
  const nodeCost = new Gauge({ name: 'cinch_node_policy_cost', help: 'What the NetworkPolicies selecting the local pods add up to over their open chains, in nftables set elements and rules (estimated): past cinch_node_policy_cost_max the costliest namespace\'s pods fail closed.', registers: [registry] })
  const nodeCostMax = new Gauge({ name: 'cinch_node_policy_cost_max', help: 'The agent\'s --max-node-policy-cost.', registers: [registry] })
  let kernel: Promise<KernelFigures> | undefined
  // One nft read per scrape, shared by every collector below.
  const readKernel = () => (kernel ??= readFigures(table).then(kernelFigures).finally(() => setTimeout(() => (kernel = undefined), 0)))
  new Gauge({
    name: 'cinch_nft_rules', help: 'Rules in cinch\'s nftables table.', registers: [registry],
    async collect() { this.set((await readKernel()).rules) },
  })
  new Gauge({
    name: 'cinch_nft_set_elements', help: 'Elements of the sets and maps in cinch\'s nftables table.', registers: [registry],
    async collect() { this.set((await readKernel()).setElements) },
  })
  const byPolicy = (name: string, help: string, field: 'packets' | 'bytes') =>
    new Counter({
      name, help, labelNames: ['policy', 'verdict'], registers: [registry],
      async collect() {
        this.reset()
        const ir = opts.appliedIr()
        if (!ir) return
        for (const t of policyTraffic(ir, (await readKernel()).counters)) this.inc({ policy: t.policy, verdict: t.verdict }, t[field])
      },
    })
  // Conntrack cleanup runs beside the sync (conntrack/cleaner.ts): its figures are per pass.
  const ctExamined = new Counter({ name: 'cinch_conntrack_flows_examined_total', help: 'Conntrack entries read by cleanup passes.', registers: [registry] })
  const ctDeleted = new Counter({ name: 'cinch_conntrack_flows_deleted_total', help: 'Conntrack entries of denied flows deleted.', registers: [registry] })
  const ctErrors = new Counter({ name: 'cinch_conntrack_cleanup_errors_total', help: 'Deletes the kernel refused, plus cleanup passes that failed as a whole.', registers: [registry] })
  const ctCut = new Counter({ name: 'cinch_conntrack_cleanup_cut_total', help: 'Cleanup passes ended early by a bound (time, examined, deletes) or by stop.', labelNames: ['by'], registers: [registry] })
  const ctDuration = new Histogram({
    name: 'cinch_conntrack_cleanup_duration_seconds',
    help: 'Time of one conntrack cleanup pass (list, judge, delete).',
    buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  })
  byPolicy('cinch_policy_packets_total', 'Packets allowed or dropped per NetworkPolicy (nft counters).', 'packets')
  byPolicy('cinch_policy_bytes_total', 'Bytes allowed or dropped per NetworkPolicy (nft counters).', 'bytes')
  // One named counter per ClusterNetworkPolicy rule (compile/cnp-rules.ts), over all local pods.
  const byCnpRule = (name: string, help: string, field: 'packets' | 'bytes') =>
    new Counter({
      name, help, labelNames: ['policy', 'tier', 'direction', 'index', 'rule', 'action'], registers: [registry],
      async collect() {
        this.reset()
        const ir = opts.appliedIr()
        if (!ir) return
        const counters = (await readKernel()).counters
        for (const [counter, r] of Object.entries(ir.ruleCounters ?? {})) {
          this.inc({ policy: r.policy, tier: r.tier, direction: r.direction, index: String(r.index), rule: r.name, action: r.action }, counters.get(counter)?.[field] ?? 0)
        }
      },
    })
  // Anti-spoofing (render/antispoof.ts) lives in `bridge cinch`: its one counter, read per scrape.
  new Counter({
    name: 'cinch_spoofed_packets_dropped_total',
    help: 'Packets from pod interfaces dropped because their source was not the pod\'s address (bridge cinch, counter drop-spoofed).',
    registers: [registry],
    async collect() {
      this.reset()
      const c = (await readFigures(bridgeTable).catch(() => undefined))?.counters.find((x) => x.name === SPOOF_COUNTER)
      if (c) this.inc(c.packets)
    },
  })
  byCnpRule('cinch_cnp_rule_packets_total', 'Packets matched per ClusterNetworkPolicy rule (nft counters; action is what the rule did).', 'packets')
  byCnpRule('cinch_cnp_rule_bytes_total', 'Bytes matched per ClusterNetworkPolicy rule (nft counters).', 'bytes')
  // What the kernel's flow-log limit held back is read from the same per-scrape listing.
  const flows = createFlowMetrics({ registry, kernelCounters: async () => (await readKernel()).counters })
  return {
    registry,
    flows,
    recordSync(report) {
      syncDuration.observe({ mode: report.apply.mode }, report.durationMs / 1000)
      for (const ms of report.programmingMs) programming.observe(ms / 1000)
      lastSync.set(report.at.getTime() / 1000)
      localPods.set(report.localPods.length)
      invalid.reset()
      for (const i of report.invalid) invalid.set({ policy: i.policy, reason: i.reason }, 1)
      failedClosed.reset()
      for (const f of report.failedClosed) if (!f.audit) failedClosed.set({ pod: f.pod, direction: f.direction }, 1)
      nodeCost.set(report.nodePolicyCost.used)
      nodeCostMax.set(report.nodePolicyCost.max)
    },
    recordCleanup(report) {
      ctExamined.inc(report.examined)
      ctDeleted.inc(report.deleted)
      ctErrors.inc(report.errors)
      if (report.cutBy) ctCut.inc({ by: report.cutBy })
      ctDuration.observe(report.durationMs / 1000)
    },
  }
}
