// `cinch explain`: one connection, judged as the dataplane would (sender's egress AND receiver's
// ingress, each through the Admin tier, NetworkPolicy and the Baseline tier), with the policies and
// rules that decide, in words.
import { enforcedState, failedClosedPods, skippedPolicies, tieredDecider, withoutSkipped } from '../policy-agent/cnp/tiered.js'
import type { DirectionVerdict } from '../policy-agent/cnp/evaluate.js'
import type { ClusterState } from '../policy-agent/model/cluster.js'
import { auditDecider, splitAudit } from '../policy-agent/flows/audit.js'
import { UsageError } from './args.js'

type Endpoint = { namespace: string; name: string } | { ip: string }

export function parseEndpoint(flag: string, v: string | undefined): Endpoint {
  if (!v) throw new UsageError(`--${flag} is required (NS/POD or an IP address)`)
  const slash = v.indexOf('/')
  // An IP (v4 or v6, no slash) stands for a peer outside the cluster's pods.
  if (slash === -1) return { ip: v }
  return { namespace: v.slice(0, slash), name: v.slice(slash + 1) }
}

export function parsePort(v: string | undefined): { port: number; protocol: 'TCP' | 'UDP' | 'SCTP' } {
  const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/i.exec(v ?? '')
  if (!m) throw new UsageError('--port must be PORT or PORT/PROTO, e.g. 80/TCP')
  return { port: Number(m[1]), protocol: (m[2]?.toUpperCase() ?? 'TCP') as 'TCP' | 'UDP' | 'SCTP' }
}

const show = (e: Endpoint) => ('ip' in e ? e.ip : `${e.namespace}/${e.name}`)

/**
 * The verdict and, per direction, each tier in the order the dataplane walks them: the Admin
 * ClusterNetworkPolicy rule that matched (and its action), the NetworkPolicies, the Baseline rule.
 * A NetworkPolicy-only cluster reads as before, plus one line per empty tier. `maxPolicyCost` is
 * the agent's --max-policy-cost: a policy over it is not in the kernel, so it decides nothing here;
 * `maxPodPolicyCost` its --max-pod-policy-cost: a pod whose policies add up to more fails closed;
 * `maxNodePolicyCost` its --max-node-policy-cost, over the pods of the endpoint's node (spec.nodeName).
 */
export function explainText(state: ClusterState, from: Endpoint, to: Endpoint, p: { port: number; protocol: 'TCP' | 'UDP' | 'SCTP' }, opts: { maxPolicyCost?: number; maxPodPolicyCost?: number; maxNodePolicyCost?: number } = {}): { text: string; allowed: boolean } {
  for (const e of [from, to]) {
    if (!('ip' in e) && !state.pods.has(`${e.namespace}/${e.name}`)) throw new Error(`pod ${show(e)} not found in the cluster state`)
  }
  // Judged by what the kernel enforces: the policies the agent's compiler skips (invalid, over the
  // cost bound) are out, and audit policies (cinch.dev/audit: "true") are logged, not enforced:
  // the verdict is without them, and what they would change is said on its own lines.
  const skipped = skippedPolicies(state, opts.maxPolicyCost)
  const skippedKeys = skipped.map((s) => s.policy)
  const { audit, problems } = splitAudit(state)
  const flow = { from, to, port: p.port, protocol: p.protocol }
  const closed = failedClosedPods(state, [from, to].flatMap((e) => ('ip' in e ? [] : [`${e.namespace}/${e.name}`])), opts)
  const d = tieredDecider(enforcedState(state, skippedKeys), closed.sides)(flow)
  const auditWords = audit.size ? auditDecider(withoutSkipped(state, skippedKeys))(flow).words : []
  const verdict = (v: DirectionVerdict) => {
    const by = v.rule
      ? `${v.rule.tier} ClusterNetworkPolicy ${v.rule.policy} ${v.rule.direction}[${v.rule.index}]${v.rule.name ? ` ${v.rule.name}` : ''}: ${v.rule.action}`
      : v.decidedBy === 'NetworkPolicy' ? 'NetworkPolicy' : 'no tier decided'
    return `${v.allowed ? 'allowed' : 'denied'} (${by})`
  }
  const lines = [
    `${show(from)} -> ${show(to)} ${p.port}/${p.protocol}: ${d.allowed ? 'ALLOWED' : 'DENIED'}`,
    `  egress from ${show(from)}: ${verdict(d.egress)}`,
    ...d.egress.reasons.map((r) => `    - ${r}`),
    `  ingress to ${show(to)}: ${verdict(d.ingress)}`,
    ...d.ingress.reasons.map((r) => `    - ${r}`),
    ...closed.list.map((f) => `  note: pod ${f.pod} fails closed for ${f.direction}: ${f.reason}`),
    ...skipped.map((i) => `  note: ${i.policy.startsWith('ClusterNetworkPolicy/') ? i.policy.replace('/', ' ') : `NetworkPolicy ${i.policy}`} is not applied: ${i.reason}`),
    ...(audit.size ? [`  audit (not enforced: ${[...audit].join(', ')}): ${auditWords.length ? auditWords.join('; ') : 'would change nothing'}`] : []),
    ...problems.map((q) => `  note: NetworkPolicy ${q.policy}: ${q.reason}`),
  ]
  return { text: lines.join('\n') + '\n', allowed: d.allowed }
}
