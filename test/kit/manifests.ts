// Shared with `cinch demo`, which ships: the code lives in lab/ (see lab/README.md).
export * from '../../lab/manifests.js'

/**
 * The smallest cluster an agent test needs, as a manifest file's text: namespace `x`, pod `x/a`
 * at 10.9.0.2 on node `n1`, and with `denyAll` the NetworkPolicy `x/deny-all` isolating its ingress.
 */
export function podAManifest(o: { denyAll?: boolean } = {}): string {
  const items: object[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } },
    { apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'x', name: 'a' }, spec: { nodeName: 'n1', containers: [{ name: 'c' }] }, status: { podIPs: [{ ip: '10.9.0.2' }] } },
  ]
  if (o.denyAll) {
    items.push({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'deny-all' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } })
  }
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items }, null, 1)
}
