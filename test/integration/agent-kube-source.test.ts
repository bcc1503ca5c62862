// The kube API source against a small fake API server that speaks list and watch over HTTP for
// Pods, Namespaces, NetworkPolicies and Nodes (the one fake the project allows).
import test from 'ava'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import * as k8s from '@kubernetes/client-node'
import { KubeSource } from '../../policy-agent/sources/kube.js'

interface Resource {
  kind: string
  items: any[]
  watchers: ServerResponse[]
  lists: number
  failLists: number
}

function fakeApi() {
  let rv = 100
  const res: Record<string, Resource> = {
    '/api/v1/pods': { kind: 'PodList', items: [], watchers: [], lists: 0, failLists: 0 },
    '/api/v1/namespaces': { kind: 'NamespaceList', items: [], watchers: [], lists: 0, failLists: 0 },
    '/apis/networking.k8s.io/v1/networkpolicies': { kind: 'NetworkPolicyList', items: [], watchers: [], lists: 0, failLists: 0 },
    '/api/v1/nodes': { kind: 'NodeList', items: [], watchers: [], lists: 0, failLists: 0 },
  }
  const server = createServer((req, out) => {
    const url = new URL(req.url!, 'http://x')
    const r = res[url.pathname]
    if (!r) return void out.writeHead(404).end('{}')
    if (url.searchParams.get('watch') === 'true') {
      out.writeHead(200, { 'content-type': 'application/json' })
      out.flushHeaders()
      r.watchers.push(out)
      req.on('close', () => (r.watchers = r.watchers.filter((w) => w !== out)))
      return
    }
    r.lists++
    if (r.failLists > 0) {
      r.failLists--
      return void out.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: 500, message: 'etcd unavailable' }))
    }
    out.writeHead(200, { 'content-type': 'application/json' })
    out.end(JSON.stringify({ kind: r.kind, apiVersion: 'v1', metadata: { resourceVersion: String(rv) }, items: r.items }))
  })
  const event = (path: string, type: string, object: any) => {
    rv++
    object.metadata = { ...object.metadata, resourceVersion: String(rv) }
    for (const w of res[path].watchers) w.write(JSON.stringify({ type, object }) + '\n')
  }
  return { server, res, event, nextRv: () => String(++rv) }
}

const pod = (ns: string, name: string, ip: string) => ({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { namespace: ns, name, labels: { pod: name }, resourceVersion: '1', uid: `${ns}-${name}` },
  spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x', ports: [{ name: 'http', containerPort: 80 }] }] },
  status: { podIP: ip, podIPs: [{ ip }] },
})

const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}

test('lists every kind before acting, follows watches, relists on 410 Gone', async (t) => {
  const api = fakeApi()
  api.res['/api/v1/pods'].items = [pod('x', 'a', '10.0.0.1')]
  api.res['/api/v1/namespaces'].items = [{ kind: 'Namespace', metadata: { name: 'x', labels: { team: 'blue' }, resourceVersion: '1' } }]
  api.res['/api/v1/nodes'].items = [
    { kind: 'Node', metadata: { name: 'n1', resourceVersion: '1' }, spec: { podCIDRs: ['10.0.0.0/24'] }, status: { addresses: [{ type: 'InternalIP', address: '192.168.1.1' }, { type: 'Hostname', address: 'n1' }] } },
  ]
  api.res['/apis/networking.k8s.io/v1/networkpolicies'].items = [
    { kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'deny', resourceVersion: '1' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } },
  ]
  // The Node list fails twice: the source must retry and must not report ready before it lists.
  api.res['/api/v1/nodes'].failLists = 2
  await new Promise<void>((r) => api.server.listen(0, '127.0.0.1', r))
  t.teardown(() => (api.server.closeAllConnections(), api.server.close()))
  const kc = new k8s.KubeConfig()
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'c', cluster: 'fake', user: 'u' }],
    currentContext: 'c',
  })
  const errors: string[] = []
  const source = new KubeSource({ kubeConfig: kc, minBackoffMs: 50, maxBackoffMs: 200, onError: (r) => errors.push(r) })
  t.teardown(() => source.stop())
  let changes = 0
  await source.start(() => changes++)

  const s = source.state()
  t.true(api.res['/api/v1/nodes'].lists >= 3, 'the failed Node list was retried')
  t.true(errors.includes('/api/v1/nodes'))
  t.deepEqual(s.nodes.get('n1'), { name: 'n1', podCIDRs: ['10.0.0.0/24'], internalIPs: ['192.168.1.1'] })
  t.deepEqual(s.pods.get('x/a')?.ips, ['10.0.0.1'])
  t.deepEqual(s.pods.get('x/a')?.ports, [{ name: 'http', containerPort: 80, protocol: 'TCP' }])
  t.is(s.namespaces.get('x')?.labels.team, 'blue')
  t.truthy(s.policies.get('x/deny'))
  t.is(changes, 0, 'the initial list is not reported as changes')

  // Watch events are applied and reported.
  await until(() => api.res['/api/v1/pods'].watchers.length > 0)
  api.event('/api/v1/pods', 'ADDED', pod('x', 'b', '10.0.0.2'))
  await until(() => source.state().pods.has('x/b'))
  t.true(changes > 0)
  api.event('/apis/networking.k8s.io/v1/networkpolicies', 'DELETED', { kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'deny' }, spec: {} })
  await until(() => !source.state().policies.has('x/deny'))

  // 410 Gone: the watch's resourceVersion expired. Meanwhile x/b went and x/c came; only a relist
  // can tell, so the source must relist and drop x/b.
  api.res['/api/v1/pods'].items = [pod('x', 'a', '10.0.0.1'), pod('x', 'c', '10.0.0.3')]
  const listsBefore = api.res['/api/v1/pods'].lists
  for (const w of api.res['/api/v1/pods'].watchers) {
    w.end(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410 } }) + '\n')
  }
  await until(() => source.state().pods.has('x/c') && !source.state().pods.has('x/b'))
  t.true(api.res['/api/v1/pods'].lists > listsBefore, 'relisted after 410')
})
