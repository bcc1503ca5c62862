// A pod's addresses: by family, as the policy compiler's sets hold them (addressesByFamily), and
// which pod holds an address, for naming a flow's ends (flow records, `cinch explain`, the
// ClusterNetworkPolicy evaluator): one rule, so every place names the same pod.
//
// The attribution rule:
// - hostNetwork pods hold no address: their addresses are their node's, and a probe from the
//   kubelet or a connection from the node itself is not that pod's (an arbitrary host-network pod
//   of the node, kube-proxy say, would be named for it). The record shows the address instead.
// - When two pods claim one address, the pod with the greatest key ("ns/name", string order) holds
//   it. It happens when a terminating pod still lists an address its node has already given to a
//   new pod (a Succeeded/Failed pod lists none: sources/convert.ts). The model has no creation time
//   to prefer the newer pod, so the rule is one that depends on the state alone: an index brought
//   up to date by changes and one built from scratch then agree, whatever the order of events.
import type { ClusterState, Pod } from './cluster.js'
import { canonicalAddress, isCanonicalV4, isCanonicalV6 } from '../../lib/ip/canonical.js'

export const NO_ADDRESSES: readonly string[] = Object.freeze([])

/** A pod's canonical addresses by family, in its own order, repeats kept; read only. */
export interface AddressesByFamily { v4: readonly string[]; v6: readonly string[] }
const byFamily = new WeakMap<Pod, AddressesByFamily>()

/**
 * A pod's addresses as the policy compiler's sets hold them (every address of the pod, a
 * hostNetwork pod's too: the compiler decides what a pod peer selects), made when first asked
 * for and cached per object: sources replace a pod, never mutate it. Not made as each pod
 * arrives: that took ~80-90 ms out of a cold start's first compile at 30k pods, and cost more than
 * that in converting the lists and a restart's snapshot (bench/README.md phase 21).
 */
export function addressesByFamily(pod: Pod): AddressesByFamily {
  let r = byFamily.get(pod)
  if (!r) byFamily.set(pod, (r = split(pod.ips)))
  return r
}

function split(ips: string[]): AddressesByFamily {
  // Most pods: one family, written canonically (what the API server writes), as parseIp +
  // formatIp would give it, at a fraction of the cost. Copied all the same, not the pod's own
  // list: with the pods' own lists the agent's first compile at 30k/30k read 25-330 ms slower in
  // nine of nine runs (bench/README.md phase 21); likely locality: copies made together lie
  // together, and the compile reads them pod after pod for every set.
  let fours = 0, sixes = 0
  for (const ip of ips) {
    if (isCanonicalV4(ip)) fours++
    else if (isCanonicalV6(ip)) sixes++
    else break
  }
  if (fours === ips.length) return { v4: fours ? ips.slice() : NO_ADDRESSES, v6: NO_ADDRESSES }
  if (sixes === ips.length) return { v4: NO_ADDRESSES, v6: ips.slice() }
  let v4: string[] | undefined, v6: string[] | undefined
  for (const ip of ips) {
    const a = canonicalAddress(ip)
    if (a === null) continue
    // formatIp writes every IPv6 address with a colon, no IPv4 address.
    if (a.includes(':')) v6 = added(v6, a)
    else v4 = added(v4, a)
  }
  return { v4: v4 ?? NO_ADDRESSES, v6: v6 ?? NO_ADDRESSES }
}

/**
 * `list` with `a`: a copy at its size while short (a list grown by push from empty holds room for
 * 17: ~10 MB at 30k dual-stack pods), pushed past that, so that a list costs its length, not its
 * square (podIPs has no bound in the API).
 */
function added(list: string[] | undefined, a: string): string[] {
  if (!list) return [a]
  if (list.length < 8) return [...list, a]
  list.push(a)
  return list
}

/** The canonical addresses a pod holds for attribution: none for a hostNetwork pod, no repeats. */
export function podAddresses(p: Pod | undefined): readonly string[] {
  if (!p || p.hostNetwork || p.ips.length === 0) return NO_ADDRESSES
  // Past a few entries a Set, not includes(): podIPs has no bound in the API, and a pod listing
  // 100k addresses must cost 100k, not 10^10 (a dual-stack pod's two stay a plain array).
  const seen = p.ips.length > 8 ? new Set<string>() : undefined
  const out: string[] = []
  for (const ip of p.ips) {
    const c = canonicalAddress(ip)
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

