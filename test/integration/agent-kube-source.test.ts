// The kube API source against the fake API server (test/kit/fake-apiserver.ts), which lists and
// watches as kube-apiserver does: every path an object can take (list at start, watch, relist after
// 410 Gone, a watch that ends or dies, 429/500 on lists, paged lists with an expired continue
// token, bookmarks) must leave a from-restricted NetworkPolicy with its peers in the compiled rules.
import test, { type ExecutionContext } from 'ava'
import { KubeSource } from '../../policy-agent/sources/kube.js'
import { Compiler } from '../../policy-agent/compile/compiler.js'
import type { ClusterState } from '../../policy-agent/model/cluster.js'
import { FakeApiServer, type Obj } from '../kit/fake-apiserver.js'
import { waitFor } from '../kit/wait.js'

const ns = (name: string, labels: Record<string, string>): Obj => ({ kind: 'Namespace', metadata: { name, labels } })
const pod = (namespace: string, name: string, ip: string, labels: Record<string, string> = { pod: name }): Obj => ({
  kind: 'Pod',
  metadata: { namespace, name, labels, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' }, managedFields: [{ manager: 'kubelet', operation: 'Update' }] },
  spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x', ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }] }] },
  status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
})
const node = (name: string, cidr: string, ip: string): Obj => ({
  kind: 'Node', metadata: { name }, spec: { podCIDR: cidr, podCIDRs: [cidr] },
  status: { addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }] },
})
/** x/* accept ingress only from pods labelled pod=a in namespaces labelled team=y. */
const fromPolicy = (): Obj => ({
  kind: 'NetworkPolicy',
  metadata: { namespace: 'x', name: 'from-y-a' },
  spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'y' } }, podSelector: { matchLabels: { pod: 'a' } } }], ports: [{ port: 80, protocol: 'TCP' }] }] },
})

async function cluster(t: ExecutionContext, opts: ConstructorParameters<typeof KubeSource>[0] = {}) {
  const api = await FakeApiServer.start()
  t.teardown(() => api.close())
  api.create(ns('x', { team: 'x' }))
  api.create(ns('y', { team: 'y' }))
  api.create(pod('x', 'a', '10.0.1.1'))
  api.create(pod('y', 'a', '10.0.1.2'))
  api.create(pod('y', 'b', '10.0.1.3'))
  api.create(node('n1', '10.0.1.0/24', '192.168.1.1'))
  api.create(fromPolicy())
  const errors: string[] = []
  const source = new KubeSource({ kubeConfig: api.kubeConfig(), minBackoffMs: 20, maxBackoffMs: 200, onError: (r, e) => errors.push(`${r}: ${(e as Error).message}`), ...opts })
  t.teardown(() => source.stop())
  let changes = 0
  return { api, source, errors, changes: () => changes, start: () => source.start(() => changes++) }
}

/**
 * Which sources may reach x/a on 80/TCP, as compiled: the addresses in its ingress rules' peer
 * sets, plus 'ANY' for a rule without a peer set (the bug: a listed policy lost `from` and its rule
 * accepted every source).
 */
function allowedSources(s: ClusterState): string[] {
  const { ir } = new Compiler().compile(s, [{ namespace: 'x', name: 'a', ips: ['10.0.1.1'], hostVeth: 'cinchxa' }])
  const chain = Object.values(ir.chains).find((c) => c.pod === 'x/a' && c.direction === 'ingress')
  if (!chain) throw new Error('x/a is not isolated for ingress')
  return [...new Set(chain.rules.flatMap((r) => (r.peerSet ? ir.sets[r.peerSet]!.elements : ['ANY'])))].sort()
}

const peersOk = (t: ExecutionContext, s: ClusterState, what: string) => t.deepEqual(allowedSources(s), ['10.0.1.2'], `${what}: only y/a may reach x/a`)

test('lists every kind before start resolves, through 500s and a 429 with Retry-After; the listed policy keeps its peers', async (t) => {
  const c = await cluster(t)
  c.api.fail({ resource: 'nodes', verb: 'list', code: 500, times: 2 })
  c.api.fail({ resource: 'pods', verb: 'list', code: 429, retryAfterSeconds: 1 })
  const t0 = Date.now()
  await c.start()
  t.true(c.api.counts.get('nodes')!.lists >= 3, 'the failed Node list was retried')
  t.true(c.errors.some((e) => e.startsWith('/api/v1/nodes: HTTP 500')), c.errors.join('\n'))
  t.true(c.errors.some((e) => e.startsWith('/api/v1/pods: HTTP 429')), c.errors.join('\n'))
  t.true(Date.now() - t0 >= 900, 'the 429 was retried only after its Retry-After (1 s), not after the 20 ms backoff')
  const s = c.source.state()
  t.deepEqual([...s.pods.keys()].sort(), ['x/a', 'y/a', 'y/b'])
  t.deepEqual(s.nodes.get('n1'), { name: 'n1', podCIDRs: ['10.0.1.0/24'], internalIPs: ['192.168.1.1'], addresses: ['192.168.1.1'], labels: {} })
  t.deepEqual(s.policies.get('x/from-y-a')?.spec.ingress?.[0]?.from, fromPolicy().spec && (fromPolicy() as any).spec.ingress[0].from)
  peersOk(t, s, 'after the first list')
  t.is(c.changes(), 0, 'the initial list is not reported as changes')
})

test('watch events apply; a 410 on the watch relists, and the relist drops what went away meanwhile', async (t) => {
  const c = await cluster(t)
  await c.start()
  await waitFor('four watches', () => c.api.watching() === 4, { timeoutMs: 5000 })
  c.api.create(pod('y', 'c', '10.0.1.4', { pod: 'a' }))
  await waitFor('y/c by watch', () => c.source.state().pods.has('y/c'), { timeoutMs: 5000 })
  t.deepEqual(allowedSources(c.source.state()), ['10.0.1.2', '10.0.1.4'], 'a new pod labelled pod=a joins the peers')
  t.true(c.changes() > 0)

  // The watch ends; meanwhile y/c goes, y/d comes and history is compacted: resuming from the old
  // resourceVersion gets 410 Gone, and only a relist can tell that y/c is gone.
  const lists = c.api.counts.get('pods')!.lists
  const policyLists = c.api.counts.get('networkpolicies')!.lists
  c.api.endWatches()
  c.api.delete('Pod', 'y/c')
  c.api.create(pod('y', 'd', '10.0.1.5'))
  c.api.compact()
  await waitFor('the relist', () => c.source.state().pods.has('y/d') && !c.source.state().pods.has('y/c'), { timeoutMs: 5000 })
  t.true(c.api.counts.get('pods')!.lists > lists, 'relisted pods after 410')
  await waitFor('policies relisted too', () => c.api.counts.get('networkpolicies')!.lists > policyLists, { timeoutMs: 5000 })
  peersOk(t, c.source.state(), 'after the 410 relist')
})

test('a watch that dies or ends resumes from its resourceVersion: no event lost, no relist', async (t) => {
  const c = await cluster(t)
  await c.start()
  await waitFor('four watches', () => c.api.watching() === 4, { timeoutMs: 5000 })
  const lists = c.api.counts.get('pods')!.lists
  c.api.resetWatches('pods')
  c.api.create(pod('y', 'e', '10.0.1.6', { pod: 'a' }))
  await waitFor('y/e after the reset', () => c.source.state().pods.has('y/e'), { timeoutMs: 5000 })
  c.api.endWatches('networkpolicies')
  c.api.update({ ...fromPolicy(), spec: { ...(fromPolicy() as any).spec, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } }, namespaceSelector: { matchLabels: { team: 'y' } } }] }] } })
  await waitFor('the policy update', () => (c.source.state().policies.get('x/from-y-a')?.spec.ingress?.[0]?.from?.[0]?.podSelector?.matchLabels?.pod === 'b'), { timeoutMs: 5000 })
  t.deepEqual(allowedSources(c.source.state()), ['10.0.1.3'], 'the updated peers: y/b only')
  t.is(c.api.counts.get('pods')!.lists, lists, 'no relist')
  t.true(c.api.counts.get('pods')!.watches >= 2)
})

test('a 500 or 429 on a watch backs off and resumes; a 429 on the relist waits for Retry-After', async (t) => {
  const c = await cluster(t)
  await c.start()
  await waitFor('four watches', () => c.api.watching() === 4, { timeoutMs: 5000 })
  c.api.fail({ resource: 'networkpolicies', verb: 'watch', code: 500, times: 2 })
  c.api.fail({ resource: 'networkpolicies', verb: 'list', code: 429, retryAfterSeconds: 1 })
  c.api.endWatches('networkpolicies')
  c.api.create(pod('z', 'bump', '10.0.4.2'))
  c.api.compact() // the resumed watch will be too old: 410, then a relist that gets the 429
  await waitFor('the 429', () => c.errors.some((e) => e.includes('HTTP 429')), { timeoutMs: 10_000 })
  await waitFor('the policy watch back', () => c.api.watching('networkpolicies') === 1, { timeoutMs: 10_000 })
  t.true(c.errors.filter((e) => e.includes('networkpolicies: HTTP 500')).length >= 2, c.errors.join('\n'))
  peersOk(t, c.source.state(), 'after 500s, 410 and 429')
})

test('paged lists: every page counts, and a continue token expired mid-list restarts the list', async (t) => {
  const c = await cluster(t, { pageSize: 2 })
  for (let i = 0; i < 7; i++) c.api.create(pod('y', `p${i}`, `10.0.2.${i + 1}`, { pod: i === 3 ? 'a' : 'p' }))
  let compacted = false
  c.api.beforeList = (plural, continued) => {
    if (plural !== 'pods' || !continued || compacted) return
    compacted = true
    c.api.create(pod('z', 'late', '10.0.4.1')) // a write, then compaction past the token's snapshot
    c.api.compact()
  }
  await c.start()
  t.true(compacted)
  t.is(c.source.state().pods.size, 11)
  t.true(c.api.requests.some((r) => r.startsWith('GET /api/v1/pods?limit=2&continue=')))
  t.is(c.api.counts.get('pods')!.lists, 2 + 6, 'a page, a page answered 410, then six pages of 11 pods')
  t.deepEqual(allowedSources(c.source.state()), ['10.0.1.2', '10.0.2.4'])
})

test('bookmarks carry the resourceVersion forward: a quiet kind resumes after compaction without a relist', async (t) => {
  const c = await cluster(t)
  await c.start()
  await waitFor('four watches', () => c.api.watching() === 4, { timeoutMs: 5000 })
  const lists = c.api.counts.get('nodes')!.lists
  for (let i = 0; i < 5; i++) c.api.create(pod('x', `q${i}`, `10.0.3.${i + 1}`)) // the global RV moves, nodes stay quiet
  c.api.compact()
  c.api.bookmark()
  await waitFor('pods', () => c.source.state().pods.size === 8, { timeoutMs: 5000 })
  // The stream carries the bookmark before its end, so the client reads them in that order.
  const watches = c.api.counts.get('nodes')!.watches
  c.api.endWatches('nodes')
  await waitFor('the node watch back', () => c.api.counts.get('nodes')!.watches > watches && c.api.watching('nodes') === 1, { timeoutMs: 5000 })
  const lastNodeWatch = c.api.requests.filter((r) => r.startsWith('GET /api/v1/nodes?')).pop()!
  t.regex(lastNodeWatch, new RegExp(`resourceVersion=${c.api.resourceVersion}&`), 'the new watch starts at the bookmark')
  t.is(c.api.counts.get('nodes')!.lists, lists, 'resumed from the bookmark: no 410, no relist')
})

test('an object of the wrong shape is skipped whole and reported; fixing or deleting it clears the problem', async (t) => {
  const c = await cluster(t)
  await c.start()
  await waitFor('four watches', () => c.api.watching() === 4, { timeoutMs: 5000 })
  // `from` as a string: read leniently it would be "no from", i.e. every source.
  c.api.update({ ...fromPolicy(), spec: { podSelector: {}, ingress: [{ from: 'y/a' }] } })
  await waitFor('the broken policy skipped', () => !c.source.state().policies.has('x/from-y-a'), { timeoutMs: 5000 })
  t.deepEqual(c.source.problems(), [{ where: 'NetworkPolicy x/from-y-a', reason: 'spec.ingress[0].from: expected a list, got string "y/a"' }])
  c.api.update({ kind: 'Pod', metadata: { namespace: 'y', name: 'b', labels: { pod: 7 } } } as unknown as Obj)
  await waitFor('the broken pod reported', () => c.source.problems().length === 2, { timeoutMs: 5000 })
  t.false(c.source.state().pods.has('y/b'), 'the broken pod is skipped, not kept as it was')
  c.api.update(fromPolicy())
  await waitFor('the fixed policy', () => c.source.state().policies.has('x/from-y-a'), { timeoutMs: 5000 })
  c.api.delete('Pod', 'y/b')
  await waitFor('problems of objects that are fixed or gone disappear', () => c.source.problems().length === 0, { timeoutMs: 5000 })
  peersOk(t, c.source.state(), 'after the fix')
})

test('state() is a snapshot: later events never change it, and it cannot be written', async (t) => {
  const c = await cluster(t)
  await c.start()
  await waitFor('four watches', () => c.api.watching() === 4, { timeoutMs: 5000 })
  const before = c.source.state()
  t.is(c.source.state(), before, 'no change, same snapshot')
  const podsBefore = [...before.pods.keys()]
  const xa = before.pods.get('x/a')
  c.api.create(pod('y', 'z', '10.0.1.9'))
  c.api.update(pod('x', 'a', '10.0.1.1', { pod: 'a', new: 'label' }))
  await waitFor('the events', () => c.source.state().pods.has('y/z') && c.source.state().pods.get('x/a')?.labels.new === 'label', { timeoutMs: 5000 })
  t.deepEqual([...before.pods.keys()], podsBefore, 'the old snapshot kept its pods')
  t.is(before.pods.get('x/a'), xa, 'and its objects')
  t.deepEqual(xa?.labels, { pod: 'a' })
  t.throws(() => before.pods.set('x/evil', xa!), { instanceOf: TypeError })
  t.throws(() => (xa!.labels as Record<string, string>).evil = 'yes', { instanceOf: TypeError })
  // A status-only update (what kubelet sends most) changes nothing policy reads: same object, no change.
  const changes = c.changes()
  const now = c.source.state()
  c.api.update({ ...pod('y', 'z', '10.0.1.9'), status: { phase: 'Running', podIP: '10.0.1.9', podIPs: [{ ip: '10.0.1.9' }], conditions: [{ type: 'Ready', status: 'True' }] } })
  c.api.create(pod('y', 'marker', '10.0.1.10'))
  await waitFor('the marker', () => c.source.state().pods.has('y/marker'), { timeoutMs: 5000 })
  t.is(c.source.state().pods.get('y/z'), now.pods.get('y/z'), 'the status-only update kept the object')
  t.is(c.changes(), changes + 1, 'only the marker counted as a change')
})

test('the fake API server: the ClusterNetworkPolicy CRD path is 404 unless enabled', async (t) => {
  const path = '/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies'
  const off = await FakeApiServer.start()
  t.teardown(() => off.close())
  t.is((await fetch(off.url + path)).status, 404)
  const on = await FakeApiServer.start({ clusterNetworkPolicies: true })
  t.teardown(() => on.close())
  on.create({ kind: 'ClusterNetworkPolicy', metadata: { name: 'c1' }, spec: {} })
  const list = await (await fetch(on.url + path)).json()
  t.is(list.kind, 'ClusterNetworkPolicyList')
  t.deepEqual(list.items.map((i: Obj) => i.metadata.name), ['c1'])
  t.is((await fetch(on.url + '/api/v1/namespaces/x/pods?limit=1')).status, 200)
})
