// The nft text of flow logging, for the renderer: the per-node limit and its two counters, and the
// one log statement `L(P)` every verdict point uses (README "The exact rules"). The prefix comes
// from prefix.ts, the contract the agent decodes, and never holds a name: only ids and letters.
import { encodePrefix, refId, type LogPoint } from './prefix.js'
import { FLOWLOG_LIMIT, FLOWLOG_LOGGED_COUNTER, FLOWLOG_SEEN_COUNTER } from './objects.js'
/** Bytes of each logged packet copied to the agent: IPv6 + extension headers + ports fit, payload does not. */
export const SNAPLEN = 128

/** The IR's flow-log settings: present when the agent reads records (then every object below exists). */
export interface IrFlowLog { group: number; rate: number; burst: number }

/** `limit flowlog { ... }`'s body: the budget of the whole node (one object, shared by every rule). */
export const limitSpec = (f: IrFlowLog): string => `rate ${f.rate}/second burst ${f.burst} packets`

/**
 * `L(P)`: counted before and after the limit, so `seen - logged` is what the limit held back. Only
 * a connection's first packet (`ct state new`): the base chains accept established traffic before
 * any pod chain, and invalid packets are not connections. `limit` is a match: over budget the rule
 * ends there and the packet goes on to the next rule, never dropped by logging.
 */
export function logStatement(f: IrFlowLog, p: LogPoint): string {
  return `ct state new counter name "${FLOWLOG_SEEN_COUNTER}" limit name "${FLOWLOG_LIMIT}" counter name "${FLOWLOG_LOGGED_COUNTER}" log group ${f.group} snaplen ${SNAPLEN} prefix "${encodePrefix(p)}"`
}

type Dir = 'ingress' | 'egress'

/** A rule hit of a NetworkPolicy (tier undefined) or ClusterNetworkPolicy rule; undefined when the rule has no index. */
export function rulePoint(o: { direction: Dir; tier?: 'Admin' | 'Baseline'; policy: string; rule?: number; action?: 'drop' | { goto: string } }): LogPoint | undefined {
  if (o.rule === undefined) return undefined
  const tier = o.tier === 'Admin' ? 'admin' : o.tier === 'Baseline' ? 'baseline' : 'networkpolicy'
  const action = o.action === undefined ? 'allow' : o.action === 'drop' ? 'deny' : 'pass'
  if (tier === 'networkpolicy' && action !== 'allow') return undefined
  return { direction: o.direction, tier, hit: 'rule', action, id: refId(tier === 'networkpolicy' ? 'np' : 'cnp', o.policy), rule: o.rule }
}

/** The end of a chain: an isolation drop (NetworkPolicy), an allow (Baseline without a next tier), a would-deny (audit). */
export function endPoint(direction: Dir, chain: string, kind: 'deny' | 'baseline-allow' | 'would-deny'): LogPoint {
  const id = refId('chain', chain)
  if (kind === 'deny') return { direction, tier: 'networkpolicy', hit: 'end', action: 'deny', id }
  if (kind === 'baseline-allow') return { direction, tier: 'baseline', hit: 'end', action: 'allow', id }
  return { direction, tier: 'audit', hit: 'end', action: 'would-deny', id }
}
