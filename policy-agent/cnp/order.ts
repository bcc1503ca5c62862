// The order of ClusterNetworkPolicies within a tier, and the overlaps that order decides.
//
// ClusterNetworkPolicySpec.priority: "Policies with lower priority values have higher precedence,
// and are checked before policies with higher priority values in the same tier." Two policies of
// one tier and priority that "could match a connection" are implementation-defined: "the
// implementation can apply any of the matching policies". cinch's rule, everywhere (evaluator,
// compiler, nft rule order): priority ascending, then metadata.name ascending by UTF-16 code
// units (plain `<`, never localeCompare, so no locale changes the order). Names are unique among
// cluster-scoped objects, so the order is total. Within a policy, rules keep their written order.
import type { ClusterState, Pod } from '../model/cluster.js'
import type { Direction, Policy, Subject, Tier } from './types.js'

export function comparePolicies(a: Policy, b: Policy): number {
  if (a.priority !== b.priority) return a.priority - b.priority
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0
}

/** The policies of one tier, in evaluation order. */
export function tierOrder(policies: readonly Policy[], tier: Tier): Policy[] {
  return policies.filter((p) => p.tier === tier).sort(comparePolicies)
}

/** The namespace labels the API server guarantees (kubernetes.io/metadata.name), over the stored ones. */
export function namespaceLabels(state: ClusterState, ns: string): Record<string, string> {
  return { ...(state.namespaces.get(ns)?.labels ?? {}), 'kubernetes.io/metadata.name': ns }
}

/**
 * Whether the subject selects the pod. ClusterNetworkPolicySubject: "host-networked pods are not
 * included in subject selection."
 */
export function subjectSelects(subject: Subject, pod: Pod, nsLabels: Record<string, string>): boolean {
  if (pod.hostNetwork) return false
  if (!subject.nsSel.matches(nsLabels)) return false
  return subject.kind === 'namespaces' || subject.podSel.matches(pod.labels)
}

export interface Overlap {
  tier: Tier
  priority: number
  /** the two policies, `first` being the one cinch applies first (name order) */
  first: string
  second: string
  directions: Direction[]
  /** `ns/name` of pods both select (sorted, at most 5 listed) */
  pods: string[]
  podCount: number
  /** for `cinch status` */
  words: string
}

/**
 * Pairs of policies with the same tier and priority whose subjects share at least one pod of the
 * current state and which both have rules in one direction: a connection could match both, so
 * the name order decides. Reported as warnings; nothing is rejected.
 */
export function findOverlaps(policies: readonly Policy[], state: ClusterState): Overlap[] {
  const pods = [...state.pods.values()].filter((p) => !p.hostNetwork)
  const subjects = new Map<Policy, Set<string>>()
  const selected = (p: Policy) => {
    let s = subjects.get(p)
    if (!s) {
      s = new Set(pods.filter((pod) => subjectSelects(p.subject, pod, namespaceLabels(state, pod.namespace))).map((pod) => `${pod.namespace}/${pod.name}`))
      subjects.set(p, s)
    }
    return s
  }
  const out: Overlap[] = []
  const groups = new Map<string, Policy[]>()
  for (const p of [...policies].sort(comparePolicies)) {
    const key = `${p.tier}/${p.priority}`
    groups.set(key, [...(groups.get(key) ?? []), p])
  }
  for (const group of groups.values()) {
    for (let i = 0; i < group.length; i++) {
      for (let j = i + 1; j < group.length; j++) {
        const a = group[i]!, b = group[j]!
        const directions = (['ingress', 'egress'] as const).filter((d) => a[d].length > 0 && b[d].length > 0)
        if (directions.length === 0) continue
        const sb = selected(b)
        const both = [...selected(a)].filter((k) => sb.has(k)).sort()
        if (both.length === 0) continue
        const list = both.slice(0, 5).join(', ') + (both.length > 5 ? `, ... (${both.length} pods)` : '')
        out.push({
          tier: a.tier, priority: a.priority, first: a.name, second: b.name, directions, pods: both.slice(0, 5), podCount: both.length,
          words: `${a.tier} policies ${a.name} and ${b.name} share priority ${a.priority} and both select ${list} (${directions.join(', ')}); ` +
            `cinch applies ${a.name} first (name order): give them distinct priorities to make the order explicit`,
        })
      }
    }
  }
  return out
}
