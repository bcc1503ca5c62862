// The Kubernetes objects a demo cluster puts in its manifest directory, as the API would serve
// them (what `cinch agent --manifests` reads): Nodes, Namespaces, Pods with their IPs. Pure.

export interface NodeInfo { name: string; podCIDRs: string[]; internalIPs: string[] }
export interface PodInfo { namespace: string; name: string; node: string; labels: Record<string, string>; ips: string[]; uid: string }

export function nodeObject(n: NodeInfo): object {
  return {
    apiVersion: 'v1', kind: 'Node', metadata: { name: n.name, labels: { 'kubernetes.io/hostname': n.name } },
    spec: { podCIDR: n.podCIDRs[0], podCIDRs: n.podCIDRs },
    status: { addresses: [...n.internalIPs.map((address) => ({ type: 'InternalIP', address })), { type: 'Hostname', address: n.name }] },
  }
}

export function namespaceObject(name: string, labels: Record<string, string> = {}): object {
  // The API server adds this label to every Namespace (since 1.21); policies select on it.
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { ...labels, 'kubernetes.io/metadata.name': name } } }
}

export function podObject(p: PodInfo, ports: { tcp: number[]; udp: number[] }): object {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { namespace: p.namespace, name: p.name, uid: p.uid, labels: p.labels },
    spec: {
      nodeName: p.node,
      containers: [{
        name: 'app', image: 'socat',
        ports: [...ports.tcp.map((containerPort) => ({ containerPort, protocol: 'TCP' })), ...ports.udp.map((containerPort) => ({ containerPort, protocol: 'UDP' }))],
      }],
    },
    status: { phase: 'Running', podIP: p.ips[0], podIPs: p.ips.map((ip) => ({ ip })) },
  }
}
