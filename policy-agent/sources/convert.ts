// Turns Kubernetes objects (as the API serves them, or as written in a manifest) into the model
// types of ../model/cluster.ts. Shared by the manifest directory and the kube API source, so both
// read exactly the same fields.
import type { Namespace, NetworkPolicy, Node, Pod, PodPort } from '../model/cluster.js'

/** A Kubernetes object we do not yet know the kind of. */
export interface KubeObject {
  apiVersion?: string
  kind?: string
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> }
  spec?: any
  status?: any
  items?: unknown[]
}

export type Converted =
  | { kind: 'Pod'; key: string; value: Pod }
  | { kind: 'Namespace'; key: string; value: Namespace }
  | { kind: 'NetworkPolicy'; key: string; value: NetworkPolicy }
  | { kind: 'Node'; key: string; value: Node }

const PROTOCOLS = new Set(['TCP', 'UDP', 'SCTP'])

function nameOf(o: KubeObject): string {
  const name = o.metadata?.name
  if (!name) throw new Error(`${o.kind ?? 'object'} without metadata.name`)
  return name
}

export function toPod(o: KubeObject): Pod {
  const namespace = o.metadata?.namespace || 'default'
  // API: status.podIPs holds every address (dual stack); status.podIP only the first.
  const ips: string[] = (o.status?.podIPs ?? []).map((p: { ip: string }) => p.ip).filter(Boolean)
  if (ips.length === 0 && o.status?.podIP) ips.push(o.status.podIP)
  const ports: PodPort[] = []
  for (const c of [...(o.spec?.initContainers ?? []), ...(o.spec?.containers ?? [])]) {
    for (const p of c.ports ?? []) {
      // API: ContainerPort.protocol defaults to TCP.
      const protocol = p.protocol ?? 'TCP'
      if (!PROTOCOLS.has(protocol)) continue
      ports.push({ ...(p.name ? { name: p.name } : {}), containerPort: Number(p.containerPort), protocol })
    }
  }
  return {
    namespace,
    name: nameOf(o),
    labels: { ...(o.metadata?.labels ?? {}) },
    ips,
    nodeName: o.spec?.nodeName,
    hostNetwork: o.spec?.hostNetwork === true,
    ports,
  }
}

export function toNamespace(o: KubeObject): Namespace {
  const name = nameOf(o)
  // Since 1.22 the API server sets kubernetes.io/metadata.name on every namespace; a manifest may
  // omit it, so add it here for selectors that rely on it.
  return { name, labels: { 'kubernetes.io/metadata.name': name, ...(o.metadata?.labels ?? {}) } }
}

export function toNode(o: KubeObject): Node {
  const podCIDRs: string[] = o.spec?.podCIDRs?.length ? [...o.spec.podCIDRs] : o.spec?.podCIDR ? [o.spec.podCIDR] : []
  const internalIPs: string[] = (o.status?.addresses ?? [])
    .filter((a: { type: string }) => a.type === 'InternalIP')
    .map((a: { address: string }) => a.address)
  return { name: nameOf(o), podCIDRs, internalIPs }
}

export function toPolicy(o: KubeObject): NetworkPolicy {
  const namespace = o.metadata?.namespace || 'default'
  return { ...(o as any), metadata: { ...(o.metadata as any), namespace, name: nameOf(o) }, spec: o.spec ?? {} }
}

/** Converts one object of a kind we watch; returns null for other kinds (ignored by design). */
export function convertObject(o: KubeObject): Converted | null {
  switch (o.kind) {
    case 'Pod': {
      const value = toPod(o)
      return { kind: 'Pod', key: `${value.namespace}/${value.name}`, value }
    }
    case 'Namespace': {
      const value = toNamespace(o)
      return { kind: 'Namespace', key: value.name, value }
    }
    case 'NetworkPolicy': {
      const value = toPolicy(o)
      return { kind: 'NetworkPolicy', key: `${value.metadata.namespace}/${value.metadata.name}`, value }
    }
    case 'Node': {
      const value = toNode(o)
      return { kind: 'Node', key: value.name, value }
    }
    default:
      return null
  }
}

/** Flattens `kind: List` (and *List kinds such as PodList) into their items. */
export function flattenList(o: KubeObject): KubeObject[] {
  if (o && Array.isArray(o.items) && (o.kind === 'List' || o.kind?.endsWith('List'))) {
    const itemKind = o.kind === 'List' ? undefined : o.kind.slice(0, -'List'.length)
    return o.items.flatMap((i) => flattenList({ ...(itemKind ? { kind: itemKind } : {}), ...(i as KubeObject) }))
  }
  return [o]
}
