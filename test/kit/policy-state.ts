// Builders for synthetic cluster states (the compiler's, renderer's and applier's unit tests, and the
// renderer's kernel tests). Pure: no I/O.
import { emptyClusterState, type ClusterState, type LocalPod, type NetworkPolicy, type Pod, type PodPort } from '../../policy-agent/model/cluster.js'
import { compile } from '../../policy-agent/compile/index.js'
import type { PolicyIR } from '../../policy-agent/compile/ir.js'

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

/**
 * The renderer tests' small cluster: namespaces x and y, four pods (x/a serving a named port),
 * a policy with every peer kind on x/a and a deny-all on x/b; labels and policies replaceable.
 */
export function smallState(opts: { policies?: NetworkPolicy[]; labels?: Record<string, Record<string, string>> } = {}): ClusterState {
  const l = opts.labels ?? {}
  return clusterOf({
    namespaces: { x: {}, y: { team: 'red' } },
    pods: {
      'x/a': { labels: l['x/a'] ?? { app: 'web' }, ips: ['10.0.1.1', 'fd00::1:1'], ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] },
      'x/b': { labels: l['x/b'] ?? { app: 'db' }, ips: ['10.0.1.2', 'fd00::1:2'] },
      'y/a': { labels: l['y/a'] ?? { app: 'client' }, ips: ['10.0.2.1', 'fd00::2:1'], ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }] },
      'y/b': { labels: l['y/b'] ?? { app: 'other' }, ips: ['10.0.2.2'] },
    },
    policies: opts.policies ?? [
      policy('x', 'web', {
        podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress', 'Egress'],
        ingress: [
          { from: [{ namespaceSelector: { matchLabels: { team: 'red' } }, podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 'http' }, { protocol: 'UDP', port: 53, endPort: 60 }] },
          { from: [{ ipBlock: { cidr: '192.168.0.0/16', except: ['192.168.1.0/24'] } }] },
        ],
        egress: [{ to: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 'http' }, { protocol: 'SCTP', port: 9000 }] }],
      }),
      policy('x', 'deny-db', { podSelector: { matchLabels: { app: 'db' } } }),
    ],
  })
}

/** Names no API server would admit (quotes, braces, 253-character names): what manifests may hold. */
export function hostileState(): ClusterState {
  const long = 'p'.repeat(253)
  return clusterOf({
    namespaces: { 'x"y': {}, ns: { team: 'r\u00e9d "quoted" \\ }' } },
    pods: {
      [`ns/${long}`]: { labels: { app: 'w\u00ebb { }', ['k'.repeat(63)]: 'v'.repeat(63) }, ips: ['10.0.3.1', 'fd00::3:1'] },
      'ns/evil { } ;': { labels: { app: 'x' }, ips: ['10.0.3.2'] },
      'x"y/a': { labels: {}, ips: ['10.0.3.3'] },
    },
    policies: [
      policy('ns', `evil { }\n"${'q'.repeat(240)}`, {
        podSelector: {}, policyTypes: ['Ingress', 'Egress'],
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'r\u00e9d "quoted" \\ }' } }, podSelector: { matchLabels: { app: 'w\u00ebb { }', ['k'.repeat(63)]: 'v'.repeat(63) } } }] }],
        egress: [{ to: [{ podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['"; flush ruleset; "', 'b'.repeat(300)] }] } }] }],
      }),
      policy('x"y', long, { podSelector: {} }),
    ],
  })
}

/** The IR of namespace x, every pod local: pod a labelled app=`app`, pod b app=db, whose policy lets in app=web only (the applier's tests). */
export function webDbIr(app: string): PolicyIR {
  const s = clusterOf({
    namespaces: { x: {} },
    pods: { 'x/a': { labels: { app }, ips: ['10.0.1.1'] }, 'x/b': { labels: { app: 'db' }, ips: ['10.0.1.2'] } },
    policies: [policy('x', 'p', { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }] }] })],
  })
  return compile(s, allLocal(s)).ir
}
