// Cluster states for the flow-log rule tests (policy-agent/flows/dataplane.test.ts, the golden text;
// test/integration/flows-render-kernel.test.ts, the same states in a real kernel): a namespace
// opting in to flow logs, a policy in audit mode, a ClusterNetworkPolicy with Deny and Pass.
import { allLocal, clusterOf, policy } from './policy-state.js'
import type { ClusterState, NetworkPolicy } from '../../policy-agent/model/cluster.js'
import { FlowCompiler } from '../../policy-agent/flows/compiler.js'
import { FLOW_LOG_DEFAULTS } from '../../policy-agent/flows/options.js'

export const dbFromApi = policy('shop', 'db-from-api', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'api' } } }] }, { from: [{ ipBlock: { cidr: '192.0.2.0/24' } }] }] })
export const audited = (p: NetworkPolicy): NetworkPolicy => ({ ...p, metadata: { ...p.metadata, annotations: { 'cinch.dev/audit': 'true' } } })
export const lockdown = policy('lab', 'lockdown', { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'api' } } }] }] })
const cnp = {
  apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name: 'adm' },
  spec: { tier: 'Admin', priority: 10, subject: { namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } } }, ingress: [
    { name: 'no-81', action: 'Deny', from: [{ namespaces: {} }], protocols: [{ tcp: { destinationPort: { number: 81 } } }] },
    { name: 'web-pass', action: 'Pass', from: [{ namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'web' } } }] },
  ] },
}

export function state(o: { logs?: string[]; policies?: NetworkPolicy[]; cnp?: boolean } = {}): ClusterState {
  const s = clusterOf({
    namespaces: { shop: {}, web: {}, lab: {} },
    pods: { 'shop/db': { labels: { app: 'db' }, ips: ['10.0.1.1', 'fd00::1'] }, 'shop/api': { labels: { app: 'api' }, ips: ['10.0.1.2'] }, 'lab/box': { ips: ['10.0.1.3'] }, 'web/front': { ips: ['10.0.1.4'] } },
    policies: o.policies ?? [dbFromApi],
  })
  for (const ns of o.logs ?? []) s.namespaces.set(ns, { ...s.namespaces.get(ns)!, annotations: { 'cinch.dev/flow-logs': 'true' } })
  if (o.cnp) s.clusterNetworkPolicies.set('adm', cnp as never)
  return s
}
export const compileWith = (c: FlowCompiler, s: ClusterState) => c.compile(s, allLocal(s)).ir
export const fresh = () => new FlowCompiler({ flowLogs: { ...FLOW_LOG_DEFAULTS, group: 6784 } })

/** The transitions an operator makes: opt in, audit, a ClusterNetworkPolicy arrives, and back. */
export const flowSteps = (): ClusterState[] => [
  state(),
  state({ logs: ['shop'] }),
  state({ logs: ['shop', 'lab'], policies: [dbFromApi, audited(lockdown)] }),
  state({ logs: ['shop', 'lab'], policies: [dbFromApi, audited(lockdown)], cnp: true }),
  state({ logs: ['lab'], policies: [dbFromApi, lockdown], cnp: true }),
  state({ logs: ['shop'], policies: [audited(dbFromApi)] }),
  state(),
]
