// The NetworkPolicy tier for evaluate.ts: compile/decide.ts's verdict of that direction, final
// when a NetworkPolicy of that direction selects the pod (`selected`: "v1.NetworkPolicy always
// makes a final decision for selected pods"), else the Baseline tier comes next.
import type { ClusterState } from '../model/cluster.js'
import { decider, type Decision } from '../compile/decide.js'
import type { Flow, NetworkPolicyTier } from './evaluate.js'

export function networkPolicyTier(state: ClusterState): NetworkPolicyTier {
  const decide = decider(state)
  let last: { flow: Flow; d: Decision } | null = null
  return (direction, flow) => {
    if (last?.flow !== flow) last = { flow, d: decide(flow) }
    return last.d[direction]
  }
}
