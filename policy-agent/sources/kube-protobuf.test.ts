// Protobuf lists (kube-protobuf.ts, kube-http.ts) against the fake API server in process, which
// encodes the same objects it serves as JSON (test/kit/k8s-protobuf.ts): what a protobuf list
// converts to equals what its JSON converts to; hostile bytes fail the page with a clear error and
// the store never holds a half-read list; the CRD stays JSON.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { KubeConfig } from '@kubernetes/client-node'
import { afterEach, describe, expect, it } from 'vitest'
import { FakeApiServer, type Obj } from '../../test/kit/fake-apiserver.js'
import { encodeList, encodeObject, envelope } from '../../test/kit/k8s-protobuf.js'
import { namespaceObject, nodeObject, podObject, policyObject } from '../../bench/policy-scale-objects.mjs'
import { syntheticCluster } from '../../bench/policy-cluster.mjs'
import { convertAs, type Kind } from './convert.js'
import { kubeApi, type ApiError } from './kube-http.js'
import { decodeList } from './kube-protobuf.js'
import { KubeSource } from './kube.js'

const PATHS: Record<string, string> = { Pod: '/api/v1/pods', Namespace: '/api/v1/namespaces', Node: '/api/v1/nodes', NetworkPolicy: '/apis/networking.k8s.io/v1/networkpolicies' }
const PROTOBUF = 'application/vnd.kubernetes.protobuf'

let api: FakeApiServer | undefined, source: KubeSource | undefined
afterEach(async () => { await source?.stop(); await api?.close(); source = undefined; api = undefined })

/** Every page of a kind, as the agent lists it (protobuf asked for), and as JSON. */
async function both(server: FakeApiServer, kind: Kind) {
  const k = kubeApi(server.kubeConfig())
  const proto: unknown[] = []
  let cont: string | undefined
  do {
    const page = await k.listPage(PATHS[kind]!, { limit: '7', ...(cont ? { continue: cont } : {}) }, kind)
    proto.push(...page.items)
    cont = page.continue
  } while (cont)
  const res = await fetch(`${server.url}${PATHS[kind]}`, { headers: { accept: 'application/json' } })
  const json = (await res.json()) as { items: unknown[] }
  return { proto, json: json.items }
}

const converted = (kind: Kind, items: unknown[]) => items.map((o) => {
  try { return convertAs(kind, o) } catch (err) { return `rejected: ${(err as Error).message}` }
})

/** Odd but valid objects: IPv6 only, no addresses, host network, being deleted, odd labels, init containers. */
function edgePods(): Obj[] {
  const pod = (name: string, extra: { metadata?: object; spec?: object; status?: object }): Obj => ({
    kind: 'Pod', metadata: { name, namespace: 'edge', labels: { app: 'x' }, ...extra.metadata },
    spec: { containers: [{ name: 'c', image: 'i' }], ...extra.spec }, status: { phase: 'Running', ...extra.status },
  })
  return [
    pod('v6', { status: { podIP: 'fd00::1', podIPs: [{ ip: 'fd00::1' }] } }),
    pod('dual', { status: { podIP: '10.0.0.9', podIPs: [{ ip: '10.0.0.9' }, { ip: 'fd00::9' }] }, spec: { nodeName: 'node-3', containers: [{ name: 'c', ports: [{ containerPort: 53, protocol: 'UDP', name: 'dns' }, { containerPort: 80 }] }] } }),
    pod('pending', { status: { phase: 'Pending' } }),
    pod('only-podip', { status: { podIP: '10.0.0.7' } }),
    pod('host', { spec: { hostNetwork: true, nodeName: 'node-1' }, status: { podIP: '192.168.0.1', podIPs: [{ ip: '192.168.0.1' }] } }),
    pod('deleting', { metadata: { deletionTimestamp: '2026-05-01T10:00:00Z', deletionGracePeriodSeconds: 30, finalizers: ['x/y'] }, status: { podIP: '10.0.0.5', podIPs: [{ ip: '10.0.0.5' }] } }),
    pod('done', { status: { phase: 'Succeeded', podIP: '10.0.0.6', podIPs: [{ ip: '10.0.0.6' }] } }),
    pod('odd-labels', { metadata: { labels: { '': 'empty-key', 'a.b/c': '', 'ünï': 'cödé ✓', __proto__x: 'y', 'example.com/long': 'v'.repeat(63) }, annotations: { 'cinch.dev/flow-logs': 'true', other: 'x'.repeat(5000) } } }),
    pod('no-labels', { metadata: { labels: undefined } }),
    pod('init', { spec: { initContainers: [{ name: 'i', ports: [{ containerPort: 1, protocol: 'SCTP' }] }], containers: [{ name: 'c', ports: [{ containerPort: 8080, protocol: 'TCP', name: 'http' }] }] } }),
    pod('bad-protocol', { spec: { containers: [{ name: 'c', ports: [{ containerPort: 1, protocol: 'ICMP' }] }] } }),
  ]
}

describe('protobuf lists', () => {
  it('convert exactly as the JSON of the same objects: the bench\'s realistic cluster and edge cases', async () => {
    api = await FakeApiServer.start()
    const { state } = syntheticCluster({ namespaces: 6, podsPerNs: 4, local: 2 })
    for (const ns of state.namespaces.values()) api.create(namespaceObject(ns))
    api.create({ kind: 'Namespace', metadata: { name: 'edge', labels: { 'odd/x': '', e: 'ü' }, annotations: { 'cinch.dev/audit': 'true' } } })
    let i = 0
    for (const p of state.pods.values()) api.create(podObject(p, i++))
    for (const p of edgePods()) api.create(p)
    for (const p of state.policies.values()) api.create(policyObject(p))
    api.create({ kind: 'NetworkPolicy', metadata: { name: 'edge', namespace: 'edge', annotations: { 'cinch.dev/audit': 'true' } }, spec: {
      podSelector: {}, policyTypes: ['Ingress', 'Egress'],
      ingress: [{}, { from: [{ podSelector: {} }, { namespaceSelector: { matchExpressions: [{ key: 'k', operator: 'Exists' }] } }], ports: [{ protocol: 'SCTP', port: 'x', endPort: 9 }, { port: 0 }, {}] }],
      egress: [{ to: [{ ipBlock: { cidr: 'fd00::/8', except: ['fd00::/16'] } }, { ipBlock: { cidr: '' } }] }],
    } })
    for (let n = 0; n < 3; n++) api.create(nodeObject(`node-${n}`, n) as Obj)
    api.create({ kind: 'Node', metadata: { name: 'v6-node' }, spec: { podCIDRs: ['10.1.0.0/24', 'fd00:1::/64'] }, status: { addresses: [{ type: 'InternalIP', address: 'fd00::1' }, { type: 'Hostname', address: '' }] } })

    for (const kind of ['Pod', 'Namespace', 'NetworkPolicy', 'Node'] as const) {
      const { proto, json } = await both(api, kind)
      expect(proto.length, kind).toBe(json.length)
      expect(proto.length, kind).toBeGreaterThan(3)
      expect(converted(kind, proto), kind).toEqual(converted(kind, json))
    }
    // Every list the agent's client made came back as protobuf; the JSON fetches as JSON.
    expect(new Set(api.listTypes)).toEqual(new Set([PROTOBUF, 'application/json']))
    expect(api.listTypes.filter((t) => t === PROTOBUF).length).toBeGreaterThan(8)
    // The edge cases did what they are there for (not vacuously equal).
    const pods = new Map((await both(api, 'Pod')).proto.map((o) => [(o as Obj).metadata.name, o]))
    expect(convertAs('Pod', pods.get('v6')).value).toMatchObject({ ips: ['fd00::1'] })
    expect(convertAs('Pod', pods.get('host')).value).toMatchObject({ hostNetwork: true, nodeName: 'node-1' })
    expect(convertAs('Pod', pods.get('odd-labels')).value).toMatchObject({ labels: { '': 'empty-key', 'a.b/c': '', 'ünï': 'cödé ✓' } })
    expect(() => convertAs('Pod', pods.get('bad-protocol'))).toThrow(/unknown protocol "ICMP"/)
    // Of the annotations only cinch.dev/* are decoded (the 5000-byte one is skipped).
    expect((pods.get('odd-labels') as Obj).metadata).toMatchObject({ annotations: { 'cinch.dev/flow-logs': 'true' } })
    expect(Object.keys((pods.get('odd-labels') as { metadata: { annotations: object } }).metadata.annotations)).toEqual(['cinch.dev/flow-logs'])
  })

  it('come over a few kept-alive connections, not one per page', async () => {
    api = await FakeApiServer.start()
    for (let n = 0; n < 60; n++) api.create(namespaceObject({ name: `ns-${n}`, labels: {} }))
    const k = kubeApi(api.kubeConfig())
    let pages = 0
    for (let round = 0; round < 2; round++) {
      let cont: string | undefined
      do {
        const page = await k.listPage(PATHS.Namespace!, { limit: '5', ...(cont ? { continue: cont } : {}) }, 'Namespace')
        cont = page.continue
        pages++
      } while (cont)
    }
    expect(pages).toBe(24)
    // One connection carried every page (a client without keep-alive opened 24).
    expect(api.connections).toBe(1)
  })

  it('name the item and field of a broken message in the error (paths joined only for errors)', () => {
    const good = encodeObject('NetworkPolicy', { metadata: { name: 'a', namespace: 'x' }, spec: { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { a: 'b' } } }] }] } })
    const cases: [Uint8Array, RegExp][] = [
      // spec { ingress: a varint }: the wrong wire type, two messages deep
      [Uint8Array.from([0x12, 0x02, 0x10, 0x01]), /^protobuf NetworkPolicyList: items\[2\]\.spec\.ingress: wire type 0, expected 2 \(at byte \d+ of \d+\)$/],
      // spec { ingress { from { podSelector { matchLabels entry: its value's length past the entry } } } }
      [Uint8Array.from([0x12, 0x0c, 0x12, 0x0a, 0x12, 0x08, 0x0a, 0x06, 0x0a, 0x04, 0x0a, 0x01, 0x61, 0x12]), /^protobuf NetworkPolicyList: items\[2\]\.spec\.ingress\.from\.podSelector\.matchLabels: length \d+ runs past its message/],
      // metadata { name: a varint }
      [Uint8Array.from([0x0a, 0x02, 0x08, 0x01]), /^protobuf NetworkPolicyList: items\[2\]\.metadata\.name: wire type 0, expected 2/],
      // a skipped field (metadata.uid, 5) whose length runs past its message
      [Uint8Array.from([0x0a, 0x02, 0x2a, 0x05]), /^protobuf NetworkPolicyList: items\[2\]\.metadata field 5: length 5 runs past its message/],
    ]
    for (const [bad, want] of cases) {
      const body = encodeList('networking.k8s.io/v1', 'NetworkPolicyList', { resourceVersion: '1' }, [good, good, bad, good])
      expect(() => decodeList(body, 'NetworkPolicy')).toThrow(want)
    }
    // The good ones decode, and the next list's paths are unaffected.
    expect(decodeList(encodeList('networking.k8s.io/v1', 'NetworkPolicyList', {}, [good, good]), 'NetworkPolicy').items).toHaveLength(2)
  })

  it('are a fraction of the JSON\'s size for realistic pods, and decode only what policy reads', async () => {
    const { state } = syntheticCluster({ namespaces: 2, podsPerNs: 4, local: 1 })
    const pods = [...state.pods.values()].map((p, i) => ({ ...podObject(p, i), metadata: { ...podObject(p, i).metadata, resourceVersion: '5', uid: 'u' } }))
    const body = encodeList('v1', 'PodList', { resourceVersion: '9' }, pods.map((o) => encodeObject('Pod', o)))
    const json = JSON.stringify({ items: pods }).length
    expect(body.length).toBeLessThan(json)
    const decoded = decodeList(body, 'Pod')
    expect(decoded.resourceVersion).toBe('9')
    expect(Object.keys(decoded.items[0]!.metadata as object).sort()).toEqual(['labels', 'name', 'namespace'])
  })

  describe('hostile bytes fail the page, clearly', () => {
    const good = () => encodeList('v1', 'PodList', { resourceVersion: '3', continue: 'c' }, [
      encodeObject('Pod', { metadata: { name: 'a', namespace: 'n', labels: { x: 'y' } }, spec: { containers: [{ name: 'c', ports: [{ containerPort: 1 }] }] }, status: { podIPs: [{ ip: '10.0.0.1' }] } }),
      encodeObject('Pod', { metadata: { name: 'b', namespace: 'n' } }),
    ])

    it('decodes the good body; a __proto__ label stays a label', () => {
      expect(decodeList(good(), 'Pod')).toMatchObject({ resourceVersion: '3', continue: 'c', items: [{ metadata: { name: 'a' } }, { metadata: { name: 'b' } }] })
      const odd = encodeList('v1', 'PodList', { resourceVersion: '1' }, [encodeObject('Pod', JSON.parse('{"metadata":{"name":"a","namespace":"n","labels":{"__proto__":"y","b":"c"}}}'))])
      const pod = convertAs('Pod', decodeList(odd, 'Pod').items[0]).value as { labels: Record<string, string> }
      expect(Object.getPrototypeOf(pod.labels)).toBe(Object.prototype)
      expect(Object.entries(pod.labels)).toEqual([['__proto__', 'y'], ['b', 'c']])
    })

    it('of the annotations keeps exactly the cinch.dev/ keys, by their bytes; a map entry reads its last key and value in any order', () => {
      const annotations = { 'cinch.dev/audit': 'true', 'cinch.dev/ü': 'x', 'cinch.dev/': 'empty name', 'cinch.dev': 'short', 'cinch.devX': 'n', 'xcinch.dev/a': 'n', 'Cinch.dev/a': 'n', 'cinch.dev-a/b': 'n' }
      const body = encodeList('v1', 'NamespaceList', { resourceVersion: '1' }, [encodeObject('Namespace', { metadata: { name: 'a', annotations } })])
      expect(decodeList(body, 'Namespace').items[0]!.metadata).toEqual({ name: 'a', annotations: { 'cinch.dev/audit': 'true', 'cinch.dev/ü': 'x', 'cinch.dev/': 'empty name' } })
      // metadata { labels entry { value "v", key "k", key "j" } }, { labels entry { key "q" } } (no value: empty)
      const raw = envelope('v1', 'NamespaceList', Uint8Array.from([0x12, 0x15, 0x0a, 0x13, 0x0a, 0x01, 0x61,
        0x5a, 0x09, 0x12, 0x01, 0x76, 0x0a, 0x01, 0x6b, 0x0a, 0x01, 0x6a, 0x5a, 0x03, 0x0a, 0x01, 0x71]))
      expect(decodeList(raw, 'Namespace').items[0]).toEqual({ metadata: { name: 'a', labels: { j: 'v', q: '' } } })
    })

    it('every truncation throws, never yields a shorter list', () => {
      const body = good()
      const whole = decodeList(body, 'Pod')
      let threw = 0
      for (let n = 0; n < body.length; n++) {
        // A cut after the raw list, between the envelope's last (unread) fields, loses nothing.
        try { expect(decodeList(body.subarray(0, n), 'Pod'), `cut at ${n}`).toEqual(whole) } catch (err) { threw++; expect((err as Error).message).toMatch(/^protobuf PodList: /) }
      }
      expect(threw).toBeGreaterThan(body.length - 6)
    })

    it('the wrong kind, no magic, a compressed body', () => {
      const ns = encodeList('v1', 'NamespaceList', { resourceVersion: '1' }, [encodeObject('Namespace', { metadata: { name: 'x' } })])
      expect(() => decodeList(ns, 'Pod')).toThrow(/expected a PodList, got "NamespaceList"/)
      expect(() => decodeList(Buffer.from('{"items":[]}'), 'Pod')).toThrow(/no "k8s\\0" prefix/)
      const gz = Buffer.concat([good(), Buffer.from([(3 << 3) | 2, 4]), Buffer.from('gzip')])
      expect(() => decodeList(gz, 'Pod')).toThrow(/contentEncoding "gzip"/)
    })

    it('a huge length prefix, a length past its message, a wrong wire type, a group', () => {
      const raw = (bytes: number[]) => envelope('v1', 'PodList', Uint8Array.from(bytes))
      // items (2, len) with a length of 2^32-1
      expect(() => decodeList(raw([0x12, 0xff, 0xff, 0xff, 0xff, 0x0f]), 'Pod')).toThrow(/items\[0\]: length 4294967295 runs past/)
      // an item whose metadata (1, len 10) claims more than the item's 2 bytes
      expect(() => decodeList(raw([0x12, 0x02, 0x0a, 0x0a]), 'Pod')).toThrow(/length 10 runs past/)
      // metadata.name (1) as a varint
      expect(() => decodeList(raw([0x12, 0x04, 0x0a, 0x02, 0x08, 0x01]), 'Pod')).toThrow(/items\[0\]\.metadata\.name: wire type 0/)
      // a start-group tag inside an item
      expect(() => decodeList(raw([0x12, 0x01, 0x0b]), 'Pod')).toThrow(/wire type 3/)
      // field number 0
      expect(() => decodeList(raw([0x12, 0x01, 0x00]), 'Pod')).toThrow(/field number 0/)
      // IntOrString of type 7
      const policy = envelope('networking.k8s.io/v1', 'NetworkPolicyList', Uint8Array.from([0x12, 0x0a, 0x12, 0x08, 0x12, 0x06, 0x0a, 0x04, 0x12, 0x02, 0x08, 0x07]))
      expect(() => decodeList(policy, 'NetworkPolicy')).toThrow(/IntOrString type 7/)
    })

    it('random corruption throws or decodes to objects the strict converter reads or rejects: it never hangs or crashes', () => {
      const body = good()
      let seed = 7
      const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32)
      for (let k = 0; k < 3000; k++) {
        const b = Buffer.from(body)
        for (let f = 0; f < 1 + Math.floor(rnd() * 3); f++) b[4 + Math.floor(rnd() * (b.length - 4))] = Math.floor(rnd() * 256)
        try {
          for (const item of decodeList(b, 'Pod').items) try { convertAs('Pod', item) } catch { /* rejected whole, as a bad JSON object */ }
        } catch (err) {
          expect((err as Error).message).toMatch(/^protobuf PodList: /)
        }
      }
    })
  })

  it('a corrupted protobuf page fails the whole list; the store keeps the old one and the list is retried', async () => {
    api = await FakeApiServer.start()
    for (let n = 0; n < 30; n++) api.create({ kind: 'Pod', metadata: { name: `p${n}`, namespace: 'a' }, status: { podIP: `10.0.0.${n}` } })
    // The third page of the first list is cut short; later lists are whole.
    let pages = 0
    api.protobufBody = (body, plural) => (plural === 'pods' && ++pages === 3 ? body.subarray(0, body.length - 9) : body)
    const errors: string[] = []
    source = new KubeSource({ kubeConfig: api.kubeConfig(), pageSize: 10, minBackoffMs: 10, maxBackoffMs: 20, onError: (r, e) => errors.push(`${r}: ${(e as Error).message}`) })
    await source.start(() => {})
    expect(errors).toEqual([expect.stringMatching(/^\/api\/v1\/pods: protobuf PodList: .*runs past|overruns/)])
    expect(source.state().pods.size).toBe(30)
    expect(api.counts.get('pods')!.lists).toBeGreaterThanOrEqual(6)
  })

  it('an expired continue token answers 410 in protobuf: the client reads its Status', async () => {
    api = await FakeApiServer.start()
    for (let n = 0; n < 5; n++) api.create({ kind: 'Namespace', metadata: { name: `n${n}` } })
    const k = kubeApi(api.kubeConfig())
    const first = await k.listPage('/api/v1/namespaces', { limit: '2' }, 'Namespace')
    api.create({ kind: 'Namespace', metadata: { name: 'later' } })
    api.compact()
    const err = await k.listPage('/api/v1/namespaces', { limit: '2', continue: first.continue! }, 'Namespace').catch((e: ApiError) => e)
    expect(err).toMatchObject({ code: 410, reason: 'Expired', message: expect.stringMatching(/^HTTP 410: The provided continue parameter is too old/) })
    // It was protobuf the client read.
    const res = await fetch(`${api.url}/api/v1/namespaces?limit=2&continue=${first.continue}`, { headers: { accept: `${PROTOBUF}, application/json` } })
    expect([res.status, res.headers.get('content-type')]).toEqual([410, PROTOBUF])
  })

  it('a protobuf answer to a list asked as JSON only (a CRD), or of another kind, is refused', async () => {
    const body = encodeList('v1', 'NamespaceList', { resourceVersion: '1' }, [encodeObject('Namespace', { metadata: { name: 'x' } })])
    const accepts: string[] = []
    const server = createServer((req, res) => (accepts.push(req.headers.accept ?? ''), res.writeHead(200, { 'content-type': `${PROTOBUF};charset=x` }).end(body)))
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    try {
      const kc = new KubeConfig()
      kc.loadFromOptions({ clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' })
      const k = kubeApi(kc)
      await expect(k.listPage('/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies', {}, 'ClusterNetworkPolicy')).rejects.toThrow(/a protobuf list of ClusterNetworkPolicy, which is asked for as JSON/)
      await expect(k.listPage('/api/v1/pods', {}, 'Pod')).rejects.toThrow(/expected a PodList, got "NamespaceList"/)
      expect((await k.listPage('/api/v1/namespaces', {}, 'Namespace')).items).toEqual([{ metadata: { name: 'x' } }])
      expect(accepts).toEqual(['application/json', `${PROTOBUF}, application/json`, `${PROTOBUF}, application/json`])
    } finally {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    }
  })

  it('say how many items are left (remainingItemCount), in protobuf and in JSON; a value that is no count is dropped', async () => {
    api = await FakeApiServer.start()
    for (let n = 0; n < 12; n++) api.create(namespaceObject({ name: `ns-${n}`, labels: {} }))
    const k = kubeApi(api.kubeConfig())
    const left: (number | undefined)[] = []
    let cont: string | undefined
    do {
      const page = await k.listPage(PATHS.Namespace!, { limit: '5', ...(cont ? { continue: cont } : {}) }, 'Namespace')
      left.push(page.remainingItemCount)
      cont = page.continue
    } while (cont)
    expect(left).toEqual([7, 2, undefined])
    // JSON, from a server of any kind: only a non-negative safe integer is a count.
    const sent = [-1, 1.5, '7', 2 ** 60, null, 3]
    const server = createServer((_req, res) => {
      const remainingItemCount = sent.shift()
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ metadata: { resourceVersion: '1', continue: 'c', remainingItemCount }, items: [] }))
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    try {
      const kc = new KubeConfig()
      kc.loadFromOptions({ clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' })
      const crd = kubeApi(kc)
      const read: (number | undefined)[] = []
      for (let i = 0; i < 6; i++) read.push((await crd.listPage('/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies', {}, 'ClusterNetworkPolicy')).remainingItemCount)
      expect(read).toEqual([undefined, undefined, undefined, undefined, undefined, 3])
    } finally {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    }
  })

  it('a CRD (ClusterNetworkPolicy) stays JSON, even when protobuf is asked for', async () => {
    api = await FakeApiServer.start({ clusterNetworkPolicies: true })
    api.create({ kind: 'ClusterNetworkPolicy', metadata: { name: 'c' }, spec: { tier: 'Admin', priority: 1, subject: { namespaces: {} }, ingress: [] } })
    const k = kubeApi(api.kubeConfig())
    const page = await k.listPage('/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies', {}, 'ClusterNetworkPolicy')
    expect(page.items).toHaveLength(1)
    const res = await fetch(`${api.url}/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies`, { headers: { accept: `${PROTOBUF}, application/json` } })
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(api.listTypes).toEqual(['application/json', 'application/json'])
  })
})
