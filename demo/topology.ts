// The demo's pods: a small shop (web frontend, API, database), cluster services (DNS, monitoring)
// and an unrelated client, spread over both nodes so that every policy acts across the overlay.
import type { PodSpec } from '../lab/cluster.js'

export const DEMO_NAMESPACES: Record<string, Record<string, string>> = {
  shop: { team: 'shop' },
  infra: { team: 'platform' },
  lab: {},
}

export const DEMO_PODS: PodSpec[] = [
  { namespace: 'shop', name: 'web', node: 'node1', labels: { app: 'web', role: 'frontend' } },
  { namespace: 'shop', name: 'api', node: 'node2', labels: { app: 'api', role: 'api' } },
  { namespace: 'shop', name: 'db', node: 'node1', labels: { app: 'db', role: 'db' } },
  { namespace: 'infra', name: 'dns', node: 'node2', labels: { app: 'dns', 'k8s-app': 'kube-dns' } },
  { namespace: 'infra', name: 'monitor', node: 'node1', labels: { app: 'monitor' } },
  // Labelled like the frontend, in another namespace: api-from-frontend must still refuse it.
  { namespace: 'lab', name: 'client', node: 'node2', labels: { app: 'client', role: 'frontend' } },
]
