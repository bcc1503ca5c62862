// The way back from what the store holds (convert.ts's output) to an API object that convert.ts
// reads into the same value: what a restart snapshot (snapshot.ts) saves. The snapshot is a file
// on the node, so it is read back through the ONE converter like any object from the API server
// (a tampered file can only produce what a hostile API object could); this module only has to
// make objects that round-trip: convertAs(kind, toRaw(kind, v)).value equals v (unconvert.test.ts).
import type { ClusterNetworkPolicyObject, Namespace, NetworkPolicy, Node, Pod } from '../model/cluster.js'
import type { Kind } from './convert.js'
import type { Json } from './fields.js'

export function toRaw(kind: Kind, value: unknown): Json {
  switch (kind) {
    case 'Pod': return podRaw(value as Pod)
    case 'Namespace': return namespaceRaw(value as Namespace)
    case 'Node': return nodeRaw(value as Node)
    // Already in the API's shape (convert.ts keeps only the fields policy reads, under their names).
    case 'NetworkPolicy': return value as NetworkPolicy as unknown as Json
    case 'ClusterNetworkPolicy': return value as ClusterNetworkPolicyObject as unknown as Json
  }
}

function podRaw(p: Pod): Json {
  // toPod reads initContainers' ports then containers': one container keeps their order. A
  // finished pod was stored without addresses, so it comes back without them (and without a phase).
  const spec: Record<string, Json> = { containers: [{ ports: p.ports as unknown as Json }], hostNetwork: p.hostNetwork === true }
  if (p.nodeName) spec.nodeName = p.nodeName
  return {
    metadata: { namespace: p.namespace, name: p.name, labels: p.labels },
    spec,
    status: { podIPs: p.ips.map((ip) => ({ ip })) },
  }
}

function namespaceRaw(n: Namespace): Json {
  // kubernetes.io/metadata.name is among the labels already; toNamespace keeps a label's own value.
  return { metadata: n.annotations ? { name: n.name, labels: n.labels, annotations: n.annotations } : { name: n.name, labels: n.labels } }
}

function nodeRaw(n: Node): Json {
  // toNode splits status.addresses into internalIPs (InternalIP) and addresses (InternalIP and
  // ExternalIP, in order); internalIPs is a subsequence of addresses, matched here greedily, which
  // gives back both lists exactly. Other address types (Hostname, DNS) are not kept, nor needed.
  const internal = n.internalIPs
  const addresses: { type: string; address: string }[] = []
  let i = 0
  for (const a of n.addresses ?? []) {
    if (i < internal.length && internal[i] === a) (addresses.push({ type: 'InternalIP', address: a }), i++)
    else addresses.push({ type: 'ExternalIP', address: a })
  }
  // Never taken for toNode's output; here so that no internal IP could be lost silently.
  for (; i < internal.length; i++) addresses.push({ type: 'InternalIP', address: internal[i]! })
  return { metadata: { name: n.name, labels: n.labels ?? {} }, spec: { podCIDRs: n.podCIDRs }, status: { addresses } }
}
