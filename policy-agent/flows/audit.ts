// Audit mode and the flow-log opt-in, the pure part. A NetworkPolicy annotated
// `cinch.dev/audit: "true"` is compiled but not enforced: flow records show what it would have
// done. Flow records are on for namespaces annotated `cinch.dev/flow-logs: "true"`, or for all
// with the agent flag --flow-logs (a namespace annotated "false" stays off even then).
// auditDecision is the oracle for the audit pass the renderer emits (see README): the verdict of
// a flow with the audit policies enforced, against the verdict without them.
import type { ClusterState, Namespace, NetworkPolicy } from '../model/cluster.js'
import { decider, type Flow } from '../compile/decide.js'
import { indexCluster, policiesSelecting } from '../compile/cluster-index.js'
import type { Direction } from './prefix.js'

export const AUDIT_ANNOTATION = 'cinch.dev/audit'
export const FLOW_LOGS_ANNOTATION = 'cinch.dev/flow-logs'

type Annotated = { metadata?: object }

/**
 * A boolean annotation: "true" / "false" exactly (as Kubernetes writes booleans in annotations).
 * Anything else is a problem to report, and counts as absent.
 */
export function boolAnnotation(o: Annotated | undefined, key: string): { value?: boolean; problem?: string } {
  const ann = (o?.metadata as { annotations?: unknown } | undefined)?.annotations
  if (ann === undefined || ann === null) return {}
  if (typeof ann !== 'object' || Array.isArray(ann)) return { problem: 'metadata.annotations: not a map' }
  if (!Object.prototype.hasOwnProperty.call(ann, key)) return {}
  const v = (ann as Record<string, unknown>)[key]
  if (v === 'true') return { value: true }
  if (v === 'false') return { value: false }
  return { problem: `annotation ${key}: ${JSON.stringify(v)?.slice(0, 40)} is not "true" or "false"` }
}

/**
 * The audit policies of a state, and the state without them (what is enforced). A policy whose
 * annotation is malformed is ENFORCED and reported: mistyping "ture" must not silently switch
 * off a deny.
 */
export function splitAudit(state: ClusterState): { enforced: ClusterState; audit: Set<string>; problems: { policy: string; reason: string }[] } {
  const audit = new Set<string>(), problems: { policy: string; reason: string }[] = []
  const policies = new Map<string, NetworkPolicy>()
  for (const [k, p] of state.policies) {
    const a = boolAnnotation(p, AUDIT_ANNOTATION)
    if (a.problem) problems.push({ policy: k, reason: `${a.problem}; enforced` })
    if (a.value) audit.add(k)
    else policies.set(k, p)
  }
  return { enforced: audit.size ? { ...state, policies } : state, audit, problems }
}

/** Whether a namespace's pods get flow-log rules. */
export function flowLogsEnabled(ns: Annotated | undefined, clusterWide: boolean): boolean {
  const a = boolAnnotation(ns, FLOW_LOGS_ANNOTATION)
  return a.value ?? clusterWide
}

/** flowLogsEnabled for a Namespace of the cluster state (its cinch.dev annotations sit on the object). */
export function namespaceFlowLogs(ns: Namespace | undefined, clusterWide: boolean): boolean {
  return flowLogsEnabled(ns && { metadata: { annotations: ns.annotations } }, clusterWide)
}

/** Namespaces whose flow-logs annotation is neither "true" nor "false" (for `cinch status`). */
export function annotationProblems(state: ClusterState): { where: string; reason: string }[] {
  const out: { where: string; reason: string }[] = []
  for (const ns of state.namespaces.values()) {
    const a = boolAnnotation({ metadata: { annotations: ns.annotations } }, FLOW_LOGS_ANNOTATION)
    if (a.problem) out.push({ where: `Namespace/${ns.name}`, reason: `${a.problem}; the --flow-logs default applies` })
  }
  for (const p of splitAudit(state).problems) out.push({ where: `NetworkPolicy/${p.policy}`, reason: p.reason })
  return out
}

export interface AuditOutcome {
  /** 'would-deny': allowed now, denied with the audit policies; 'would-allow': the reverse */
  change: 'none' | 'would-deny' | 'would-allow'
  /** for would-deny: the audit policies isolating the pod; for would-allow: those allowing (words) */
  policies: string[]
}

export interface AuditDecision { egress: AuditOutcome; ingress: AuditOutcome; words: string[] }

/**
 * For many flows against one state: what enforcing the audit policies would change, per
 * direction, in words such as "would deny: shop/db-lockdown ingress".
 */
export function auditDecider(state: ClusterState): (flow: Flow) => AuditDecision {
  const { enforced, audit } = splitAudit(state)
  const now = decider(enforced), would = decider(state)
  const ix = indexCluster(state)
  const isolating = (dir: Direction, ns: string, name: string) => {
    const pod = state.pods.get(`${ns}/${name}`)
    if (!pod) return []
    return policiesSelecting(ix, pod.namespace, pod.labels).filter((p) => p[dir] !== null && audit.has(p.key)).map((p) => p.key)
  }
  return (flow) => {
    const a = now(flow), b = would(flow)
    const out: AuditDecision = { egress: { change: 'none', policies: [] }, ingress: { change: 'none', policies: [] }, words: [] }
    for (const dir of ['egress', 'ingress'] as const) {
      const self = dir === 'egress' ? flow.from : flow.to
      if (a[dir].allowed && !b[dir].allowed && !('ip' in self)) {
        out[dir] = { change: 'would-deny', policies: isolating(dir, self.namespace, self.name) }
        out.words.push(`would deny: ${out[dir].policies.join(', ')} ${dir}`)
      } else if (!a[dir].allowed && b[dir].allowed) {
        const by = b[dir].reasons.filter((r) => [...audit].some((k) => r.startsWith(`allowed by ${k} `)))
        out[dir] = { change: 'would-allow', policies: by }
        out.words.push(`would allow: ${by.map((r) => r.replace(/^allowed by /, '')).join('; ')}`)
      }
    }
    return out
  }
}
