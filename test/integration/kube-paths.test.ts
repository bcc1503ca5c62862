// Every field policy reads, of every kind, converts to the same ClusterState whether the object was
// listed, watched, relisted after 410 Gone, or read from a manifest file: one reader (convert.ts)
// for all paths. The expected state is written out, so an empty or lenient reading cannot pass.
import test from 'ava'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { KubeSource } from '../../policy-agent/sources/kube.js'
import { readManifestDir } from '../../policy-agent/sources/manifests.js'
import type { ClusterState } from '../../policy-agent/model/cluster.js'
import { FakeApiServer, type Obj } from '../kit/fake-apiserver.js'
import { waitFor } from '../kit/wait.js'

const objects: Obj[] = [
  { kind: 'Namespace', metadata: { name: 'x', labels: { team: 'x', tier: 'web' } } },
  { kind: 'Namespace', metadata: { name: 'y' } },
  {
    kind: 'Pod',
    metadata: { namespace: 'x', name: 'a', labels: { app: 'web', 'example.com/role': 'front' }, annotations: { note: 'dropped' }, deletionTimestamp: '2026-01-01T00:00:00Z', managedFields: [{ manager: 'kubectl' }] },
    spec: {
      nodeName: 'n1', hostNetwork: false,
      initContainers: [{ name: 'init', image: 'i', ports: [{ name: 'init-port', containerPort: 9000 }] }],
      containers: [{ name: 'c', image: 'x', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'dns', containerPort: 53, protocol: 'UDP' }, { containerPort: 9090 }] }],
    },
    // Terminating (deletionTimestamp) but still Running: it keeps its addresses until it is gone.
    status: { phase: 'Running', podIP: '10.0.1.5', podIPs: [{ ip: '10.0.1.5' }, { ip: 'fd00::5' }] },
  },
  // Finished: its address may already be another pod's, so it stands for none.
  { kind: 'Pod', metadata: { namespace: 'x', name: 'done', labels: { app: 'web' } }, spec: { nodeName: 'n2', containers: [{ name: 'c', image: 'x' }] }, status: { phase: 'Succeeded', podIP: '10.0.1.6', podIPs: [{ ip: '10.0.1.6' }] } },
  { kind: 'Pod', metadata: { namespace: 'y', name: 'host' }, spec: { nodeName: 'n1', hostNetwork: true, containers: [{ name: 'c', image: 'x' }] }, status: { phase: 'Running', podIP: '192.168.1.1' } },
  {
    kind: 'NetworkPolicy',
    metadata: { namespace: 'x', name: 'full', annotations: { dropped: 'yes' } },
    spec: {
      podSelector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }, { key: 'canary', operator: 'DoesNotExist' }] },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        {
          from: [
            { namespaceSelector: { matchLabels: { team: 'y' } }, podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['api', 'cli'] }] } },
            { podSelector: {} },
            { ipBlock: { cidr: '10.0.0.0/8', except: ['10.0.1.0/24', '10.0.2.0/24'] } },
          ],
          ports: [{ port: 80 }, { port: 'http', protocol: 'TCP' }, { port: 8000, endPort: 8080, protocol: 'TCP' }, { protocol: 'UDP', port: 53 }],
        },
        { ports: [{ port: 9090 }] },
        { from: [] },
      ],
      egress: [{ to: [{ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'Exists' }] } }, { ipBlock: { cidr: 'fd00::/8' } }], ports: [{ port: 'dns', protocol: 'UDP' }] }],
    },
  },
  { kind: 'NetworkPolicy', metadata: { namespace: 'y', name: 'defaults' }, spec: { podSelector: {} } },
  {
    kind: 'Node',
    metadata: { name: 'n1', labels: { 'kubernetes.io/os': 'linux' } },
    spec: { podCIDR: '10.0.1.0/24', podCIDRs: ['10.0.1.0/24', 'fd00:1::/64'] },
    status: { addresses: [{ type: 'InternalIP', address: '192.168.1.1' }, { type: 'InternalIP', address: 'fd00:ff::1' }, { type: 'ExternalIP', address: '203.0.113.1' }, { type: 'Hostname', address: 'n1' }] },
  },
  { kind: 'Node', metadata: { name: 'n2' }, spec: { podCIDR: '10.0.2.0/24' }, status: { addresses: [{ type: 'InternalIP', address: '192.168.1.2' }] } },
]

const expected = {
  namespaces: {
    x: { name: 'x', labels: { 'kubernetes.io/metadata.name': 'x', team: 'x', tier: 'web' } },
    y: { name: 'y', labels: { 'kubernetes.io/metadata.name': 'y' } },
  },
  pods: {
    'x/a': {
      namespace: 'x', name: 'a', labels: { app: 'web', 'example.com/role': 'front' }, ips: ['10.0.1.5', 'fd00::5'], nodeName: 'n1', hostNetwork: false,
      ports: [{ name: 'init-port', containerPort: 9000, protocol: 'TCP' }, { name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'dns', containerPort: 53, protocol: 'UDP' }, { containerPort: 9090, protocol: 'TCP' }],
    },
    'x/done': { namespace: 'x', name: 'done', labels: { app: 'web' }, ips: [], nodeName: 'n2', hostNetwork: false, ports: [] },
    'y/host': { namespace: 'y', name: 'host', labels: {}, ips: ['192.168.1.1'], nodeName: 'n1', hostNetwork: true, ports: [] },
  },
  policies: {
    // The empty `from` reads as absent (the same rule): the API server omits it, protobuf cannot carry it.
    'x/full': { metadata: { namespace: 'x', name: 'full' }, spec: { ...(objects[5] as any).spec, ingress: [...(objects[5] as any).spec.ingress.slice(0, 2), {}] } },
    'y/defaults': { metadata: { namespace: 'y', name: 'defaults' }, spec: { podSelector: {} } },
  },
  nodes: {
    // addresses: every InternalIP and ExternalIP (what a ClusterNetworkPolicy `nodes` peer matches),
    // never the Hostname; labels: what its nodeSelector selects by.
    n1: { name: 'n1', podCIDRs: ['10.0.1.0/24', 'fd00:1::/64'], internalIPs: ['192.168.1.1', 'fd00:ff::1'], addresses: ['192.168.1.1', 'fd00:ff::1', '203.0.113.1'], labels: { 'kubernetes.io/os': 'linux' } },
    n2: { name: 'n2', podCIDRs: ['10.0.2.0/24'], internalIPs: ['192.168.1.2'], addresses: ['192.168.1.2'], labels: {} },
  },
}

const plain = (s: ClusterState) => ({
  namespaces: Object.fromEntries(s.namespaces), pods: Object.fromEntries(s.pods), policies: Object.fromEntries(s.policies), nodes: Object.fromEntries(s.nodes),
})

async function source(t: import('ava').ExecutionContext, api: FakeApiServer): Promise<KubeSource> {
  const s = new KubeSource({ kubeConfig: api.kubeConfig(), minBackoffMs: 20, maxBackoffMs: 100, pageSize: 3 })
  t.teardown(() => s.stop())
  await s.start(() => {})
  return s
}

test('listed objects convert to the expected state', async (t) => {
  const api = await FakeApiServer.start()
  t.teardown(() => api.close())
  for (const o of objects) api.create(o)
  const s = await source(t, api)
  t.deepEqual(plain(s.state()), expected)
  t.deepEqual(s.problems(), [])
})

test('watched objects convert to the same state; so does a relist after 410 Gone', async (t) => {
  const api = await FakeApiServer.start()
  t.teardown(() => api.close())
  const s = await source(t, api)
  await waitFor('four watches', () => api.watching() === 4, { timeoutMs: 5000 })
  for (const o of objects) api.create(o)
  await waitFor('every object by watch', () => s.state().pods.size === 3 && s.state().policies.size === 2 && s.state().nodes.size === 2 && s.state().namespaces.size === 2, { timeoutMs: 5000 })
  t.deepEqual(plain(s.state()), expected)
  const watched = s.state()
  const lists = api.counts.get('pods')!.lists
  api.endWatches()
  api.create({ kind: 'Namespace', metadata: { name: 'z' } })
  api.compact()
  await waitFor('the relist', () => api.counts.get('pods')!.lists > lists && s.state().namespaces.has('z'), { timeoutMs: 5000 })
  await waitFor('four watches again', () => api.watching() === 4, { timeoutMs: 5000 })
  const relisted = plain(s.state())
  delete relisted.namespaces.z
  t.deepEqual(relisted, expected)
  t.is(s.state().pods.get('x/a'), watched.pods.get('x/a'), 'an object the relist found unchanged keeps its identity (the compiler skips it)')
})

test('manifest files convert to the same state', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cinch-kube-paths-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'cluster.yaml'), objects.map((o) => stringify({ apiVersion: o.kind === 'NetworkPolicy' ? 'networking.k8s.io/v1' : 'v1', ...o })).join('---\n'))
  const { state, problems } = await readManifestDir(dir)
  t.deepEqual(problems, [])
  t.deepEqual(plain(state), expected)
})
