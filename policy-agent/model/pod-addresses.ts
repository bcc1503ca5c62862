// Which pod holds an address, for naming a flow's ends (flow records, `cinch explain`, the
// ClusterNetworkPolicy evaluator): one rule, so every place names the same pod.
//
// The rule:
// - hostNetwork pods hold no address: their addresses are their node's, and a probe from the
//   kubelet or a connection from the node itself is not that pod's (an arbitrary host-network pod
//   of the node, kube-proxy say, would be named for it). The record shows the address instead.
// - When two pods claim one address, the pod with the greatest key ("ns/name", string order) holds
//   it. It happens when a terminating pod still lists an address its node has already given to a
//   new pod (a Succeeded/Failed pod lists none: sources/convert.ts). The model has no creation time
//   to prefer the newer pod, so the rule is one that depends on the state alone: an index brought
//   up to date by changes and one built from scratch then agree, whatever the order of events.
import type { ClusterState, Pod } from './cluster.js'
import { LENIENT, canonicalIp } from '../../lib/ip/index.js'

export const NO_ADDRESSES: readonly string[] = Object.freeze([])

/** The canonical addresses a pod holds for attribution: none for a hostNetwork pod, no repeats. */
export function podAddresses(p: Pod | undefined): readonly string[] {
  if (!p || p.hostNetwork || p.ips.length === 0) return NO_ADDRESSES
  // Past a few entries a Set, not includes(): podIPs has no bound in the API, and a pod listing
  // 100k addresses must cost 100k, not 10^10 (a dual-stack pod's two stay a plain array).
  const seen = p.ips.length > 8 ? new Set<string>() : undefined
  const out: string[] = []
  for (const ip of p.ips) {
    const c = canonicalIp(ip, LENIENT)
    if (!c || (seen ? seen.has(c) : out.includes(c))) continue
    seen?.add(c)
    out.push(c)
  }
  return out.length ? out : NO_ADDRESSES
}

/** The rule from scratch: canonical address -> key of the pod holding it (the greatest claimant). */
export function podKeysByAddress(state: ClusterState): Map<string, string> {
  const m = new Map<string, string>()
  for (const [key, p] of state.pods) {
    for (const a of podAddresses(p)) {
      const held = m.get(a)
      if (held === undefined || key > held) m.set(a, key)
    }
  }
  return m
}

