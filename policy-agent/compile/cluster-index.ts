// Indexes over a ClusterState that the compiler and `decide` share, so that selecting peers costs
// the pods of the matching namespaces, not every pod times every policy.
import type { ClusterState, NetworkPolicy, Pod } from '../model/cluster.js'
import { podKeysByAddress } from '../model/pod-addresses.js'
import { normalizePolicy, type NormPolicy, type PodsPeer } from './normalize.js'
import { hashedWhole } from '../model/text-keys.js'

export interface ClusterIndex {
  state: ClusterState
  podsByNs: Map<string, Pod[]>
  /** valid policies by namespace, sorted by name */
  policiesByNs: Map<string, NormPolicy[]>
  invalid: { policy: string; reason: string }[]
  nsLabels(ns: string): Record<string, string>
  /** non-hostNetwork pods a pod peer selects (memoised by the peer's key) */
  peerPods(peer: PodsPeer): Pod[]
  /** canonical address -> the (non-hostNetwork) pod holding it */
  podByAddr(addr: string): Pod | undefined
}

export function indexCluster(state: ClusterState): ClusterIndex {
  const podsByNs = new Map<string, Pod[]>()
  for (const key of [...state.pods.keys()].sort()) {
    const p = state.pods.get(key)!
    let list = podsByNs.get(p.namespace)
    if (!list) podsByNs.set(p.namespace, (list = []))
    list.push(p)
  }
  const policiesByNs = new Map<string, NormPolicy[]>()
  const invalid: { policy: string; reason: string }[] = []
  for (const key of [...state.policies.keys()].sort()) {
    const raw: NetworkPolicy = state.policies.get(key)!
    const n = normalizePolicy(raw)
    if ('error' in n) { invalid.push({ policy: key, reason: n.error }); continue }
    let list = policiesByNs.get(n.namespace)
    if (!list) policiesByNs.set(n.namespace, (list = []))
    list.push(n)
  }
  // The API server labels every namespace kubernetes.io/metadata.name=<name> (immutable, 1.22+);
  // a namespace known only through its pods gets that label too.
  const nsLabels = (ns: string) => ({ ...(state.namespaces.get(ns)?.labels ?? {}), 'kubernetes.io/metadata.name': ns })
  // By the peer's key, or the peer itself when its key is too long to hash (text-keys.ts).
  const memo = new Map<string | PodsPeer, Pod[]>()
  const peerPods = (peer: PodsPeer): Pod[] => {
    const k = hashedWhole(peer.key) ? peer.key : peer
    let r = memo.get(k)
    if (r) return r
    const namespaces = peer.nsSel ? [...podsByNs.keys()].filter((ns) => peer.nsSel!.matches(nsLabels(ns))) : [peer.namespace]
    r = []
    for (const ns of namespaces) {
      for (const p of podsByNs.get(ns) ?? []) {
        // Pods with hostNetwork carry their node's addresses: a podSelector cannot mean them
        // (NetworkPolicy docs: hostNetwork pods are out of scope / behaviour undefined).
        if (p.hostNetwork) continue
        if (!peer.podSel || peer.podSel.matches(p.labels)) r.push(p)
      }
    }
    memo.set(k, r)
    return r
  }
  // Which pod holds an address: model/pod-addresses.ts's rule, as flow records and the
  // ClusterNetworkPolicy evaluator name it.
  let byAddr: Map<string, string> | null = null
  const podByAddr = (addr: string) => {
    byAddr ??= podKeysByAddress(state)
    const key = byAddr.get(addr)
    return key === undefined ? undefined : state.pods.get(key)
  }
  return { state, podsByNs, policiesByNs, invalid, nsLabels, peerPods, podByAddr }
}

/** The valid policies of the pod's namespace whose podSelector selects it. */
export function policiesSelecting(ix: ClusterIndex, ns: string, labels: Record<string, string>): NormPolicy[] {
  return (ix.policiesByNs.get(ns) ?? []).filter((p) => p.podSel.matches(labels))
}
