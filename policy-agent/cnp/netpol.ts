// The NetworkPolicy tier for evaluate.ts, from compile/decide.ts as it is (read-only use): decide
// gives the verdict in words; whether it is FINAL depends on whether a NetworkPolicy of that
// direction selects the pod ("v1.NetworkPolicy always makes a final decision for selected pods"),
// which cluster-index answers. TODO(#10): phase 2 moves `selected` into decide's Verdict.
import type { ClusterState, Pod } from '../model/cluster.js'
import { decider, type Decision } from '../compile/decide.js'
import { indexCluster, policiesSelecting } from '../compile/cluster-index.js'
import { LENIENT, canonicalIp } from '../../lib/ip/index.js'
import type { Flow, NetworkPolicyTier } from './evaluate.js'

export function networkPolicyTier(state: ClusterState): NetworkPolicyTier {
  const decide = decider(state)
  const ix = indexCluster(state)
  let last: { flow: Flow; d: Decision } | null = null
  const podOf = (ep: Flow['from']): Pod | undefined => {
    if ('ip' in ep) { const c = canonicalIp(ep.ip, LENIENT); return c ? ix.podByAddr(c) : undefined }
    return state.pods.get(`${ep.namespace}/${ep.name}`)
  }
  return (direction, flow) => {
    if (last?.flow !== flow) last = { flow, d: decide(flow) }
    const v = last.d[direction]
    const pod = podOf(direction === 'egress' ? flow.from : flow.to)
    const selected = !!pod && !pod.hostNetwork && policiesSelecting(ix, pod.namespace, pod.labels).some((p) => p[direction] !== null)
    return { selected, allowed: v.allowed, reasons: v.reasons }
  }
}
