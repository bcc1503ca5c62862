// Builders for synthetic cluster states in the compiler's tests.
import { emptyClusterState, type ClusterState, type LocalPod, type NetworkPolicy, type Pod, type PodPort } from '../model/cluster.js'

export interface PodSpec { labels?: Record<string, string>; ips: string[]; ports?: PodPort[]; hostNetwork?: boolean; nodeName?: string }

export function clusterOf(opts: {
  namespaces: Record<string, Record<string, string>>
  pods: Record<string, PodSpec> // key ns/name
  policies?: NetworkPolicy[]
  nodes?: { name: string; internalIPs: string[] }[]
}): ClusterState {
  const s = emptyClusterState()
  for (const [name, labels] of Object.entries(opts.namespaces)) s.namespaces.set(name, { name, labels })
  for (const [key, p] of Object.entries(opts.pods)) {
    const [namespace, name] = key.split('/') as [string, string]
    const pod: Pod = { namespace, name, labels: p.labels ?? {}, ips: p.ips, ports: p.ports ?? [], hostNetwork: p.hostNetwork, nodeName: p.nodeName }
    s.pods.set(key, pod)
  }
  for (const p of opts.policies ?? []) s.policies.set(`${p.metadata.namespace}/${p.metadata.name}`, p)
  for (const n of opts.nodes ?? []) s.nodes.set(n.name, { name: n.name, internalIPs: n.internalIPs, podCIDRs: [] })
  return s
}

/** Every non-hostNetwork pod as a local pod (one node holds them all). */
export function allLocal(s: ClusterState): LocalPod[] {
  return [...s.pods.values()].filter((p) => !p.hostNetwork)
    .map((p) => ({ namespace: p.namespace, name: p.name, ips: p.ips, hostVeth: `cinch${p.namespace}${p.name}`.replace(/[^a-z0-9]/g, '').slice(0, 15) }))
}

export function policy(ns: string, name: string, spec: NetworkPolicy['spec']): NetworkPolicy {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: ns, name }, spec }
}
