// Prometheus figures of flow logging, on the agent's registry (server/metrics.ts wires it in phase
// 2). Verdict counters count EVENTS (first packets logged), not records, so they do not depend on
// the interval; a drop at the end of a chain counts once under each policy that isolates the pod,
// as cinch_policy_packets_total does. What the kernel rate limit held back is read from two nft
// counters at scrape time: every logging rule counts `flowlog-seen` before `limit name` and
// `flowlog-logged` after it, so their difference is exactly what the limit suppressed.
import { Counter, type Registry } from 'prom-client'
import type { AssembledEvent } from './events.js'
import { FLOWLOG_LOGGED_COUNTER, FLOWLOG_SEEN_COUNTER } from './objects.js'

export type EventOutcome = 'recorded' | 'bad_prefix' | 'bad_headers' | 'unresolved' | 'incomplete' | 'overflow'

export interface FlowMetrics {
  /** one assembled event: a verdict count per hit of its trace */
  recordEvent(ev: AssembledEvent): void
  recordOutcome(outcome: EventOutcome, n?: number): void
  /** messages lost between kernel and agent (nflog sequence gaps) */
  recordLost(n: number): void
  /** drops the label sets of policies no longer in the applied IR (bounded label sets) */
  retainPolicies(live: Set<string>): void
}

export function createFlowMetrics(o: { registry: Registry; kernelCounters?: () => Promise<Map<string, { packets: number }>> }): FlowMetrics {
  const registers = [o.registry]
  const verdicts = new Counter({
    name: 'cinch_flow_verdicts_total',
    help: 'First packets logged at a verdict point, by direction, tier, action (allow, deny, pass, would-deny), policy and rule index ("" at the end of a chain).',
    labelNames: ['direction', 'tier', 'action', 'policy', 'rule'], registers,
  })
  const events = new Counter({ name: 'cinch_flow_events_total', help: 'Log events read from the kernel, by what became of them.', labelNames: ['outcome'], registers })
  const lost = new Counter({ name: 'cinch_flow_events_lost_total', help: 'Log events lost between the kernel and the agent (socket buffer full), from nflog sequence gaps.', registers })
  const kc = o.kernelCounters
  new Counter({
    name: 'cinch_flow_events_limited_total',
    help: 'First packets the kernel rate limit (nft limit) kept from being logged: flowlog-seen minus flowlog-logged.',
    registers,
    async collect() {
      if (!kc) return
      const c = await kc()
      this.reset()
      this.inc(Math.max(0, (c.get(FLOWLOG_SEEN_COUNTER)?.packets ?? 0) - (c.get(FLOWLOG_LOGGED_COUNTER)?.packets ?? 0)))
    },
  })
  const seen = new Map<string, Record<string, string>>()
  return {
    recordEvent(ev) {
      for (const h of ev.trace) {
        for (const policy of h.policy !== undefined ? [h.policy] : h.policies?.length ? h.policies : ['']) {
          const labels = { direction: ev.direction, tier: h.tier, action: h.action, policy, rule: h.rule === undefined ? '' : String(h.rule) }
          seen.set(JSON.stringify(labels), labels)
          verdicts.inc(labels)
        }
      }
      events.inc({ outcome: 'recorded' })
    },
    recordOutcome(outcome, n = 1) { if (n > 0) events.inc({ outcome }, n) },
    recordLost(n) { if (n > 0) lost.inc(n) },
    retainPolicies(live) {
      for (const [k, labels] of seen) {
        if (labels.policy !== '' && !live.has(labels.policy)) { verdicts.remove(labels); seen.delete(k) }
      }
    },
  }
}
