// The restart snapshot (snapshot.ts, unconvert.ts, the kube source's resume): what is saved reads
// back as the same store, a resumed start lists nothing and ends where a fresh list would, a
// compacted version relists, and every file the agent must not trust is refused with its reason.
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { FakeApiServer, type Obj } from '../../test/kit/fake-apiserver.js'
import { namespaceObject, nodeObject, podObject, policyObject } from '../../bench/policy-scale-objects.mjs'
import { clusterNetworkPoliciesOf, syntheticCluster } from '../../bench/policy-cluster.mjs'
import { convertAs, type Kind } from './convert.js'
import { KubeSource, type RestartSnapshotOptions } from './kube.js'
import { decodeSnapshot, encodeSnapshot, takeSnapshotFile, type SnapshotIdentity } from './snapshot.js'
import { toRaw } from './unconvert.js'
import { hasLine, snapshotLines } from './snapshot-lines.js'
import { ClusterStore } from './store.js'

let api: FakeApiServer | undefined
const sources: KubeSource[] = []
let dir = ''
afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.stop()))
  await api?.close()
  api = undefined
  if (dir) rmSync(dir, { recursive: true, force: true })
})

function edgeObjects(): Obj[] {
  return [
    { kind: 'Pod', metadata: { namespace: 'e', name: 'done', labels: { a: '1' } }, spec: { nodeName: 'n', containers: [{ name: 'c', ports: [{ containerPort: 80 }] }] }, status: { phase: 'Succeeded', podIPs: [{ ip: '10.0.0.9' }] } },
    { kind: 'Pod', metadata: { namespace: 'e', name: 'init', labels: {} }, spec: { hostNetwork: true, initContainers: [{ name: 'i', ports: [{ name: 'x', containerPort: 1, protocol: 'UDP' }] }], containers: [{ name: 'c', ports: [{ containerPort: 2, protocol: 'SCTP' }] }] }, status: { podIP: '10.0.0.8' } },
    { kind: 'Pod', metadata: { namespace: 'e', name: 'pending' }, spec: { containers: [{ name: 'c' }] } },
    { kind: 'Namespace', metadata: { name: 'e', labels: { 'kubernetes.io/metadata.name': 'other', 'odd/x': '' }, annotations: { 'cinch.dev/audit': 'true', other: 'x' } } },
    { kind: 'Node', metadata: { name: 'mixed', labels: { zone: 'a' } }, spec: { podCIDR: '10.9.0.0/24' }, status: { addresses: [{ type: 'ExternalIP', address: '1.1.1.1' }, { type: 'InternalIP', address: '10.1.1.1' }, { type: 'Hostname', address: 'h' }, { type: 'InternalIP', address: '1.1.1.1' }, { type: 'ExternalIP', address: '10.1.1.1' }] } },
    { kind: 'NetworkPolicy', metadata: { namespace: 'e', name: 'edge', annotations: { 'cinch.dev/audit': 'true' } }, spec: { podSelector: {}, ingress: [{}, { from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }], ports: [{ port: 'http' }, { protocol: 'UDP', port: 53, endPort: 60 }] }] } },
  ]
}

function fill(server: FakeApiServer, cnps = true) {
  const { state } = syntheticCluster({ namespaces: 6, podsPerNs: 4, local: 2 })
  for (const ns of state.namespaces.values()) server.create(namespaceObject(ns))
  let i = 0
  for (const p of state.pods.values()) server.create(podObject(p, i++))
  for (const p of state.policies.values()) server.create(policyObject(p))
  for (let n = 0; n < 3; n++) server.create(nodeObject(`node-${n}`, n) as Obj)
  if (cnps) for (const c of clusterNetworkPoliciesOf(3)) server.create(c as Obj)
  for (const o of edgeObjects()) server.create(o)
  // One that does not convert: reported as a problem, kept as one across the restart.
  server.create({ kind: 'Pod', metadata: { namespace: 'e', name: 'bad' }, spec: { containers: [{ name: 'c', ports: [{ containerPort: 1, protocol: 'ICMP' }] }] } })
}

describe('unconvert', () => {
  it('gives back objects that convert to exactly what the store held (the bench\'s cluster and edge cases)', () => {
    const server = { objects: [] as Obj[], create(o: Obj) { this.objects.push(o) } }
    fill(server as unknown as FakeApiServer)
    let n = 0
    for (const o of server.objects) {
      let c
      try { c = convertAs(o.kind as Kind, o) } catch { continue }
      const again = convertAs(o.kind as Kind, JSON.parse(JSON.stringify(toRaw(c.kind, c.value))))
      expect(again, `${o.kind} ${c.key}`).toEqual(c)
      n++
    }
    expect(n).toBeGreaterThan(60)
  })
})

const ID: SnapshotIdentity = { server: 'https://api:6443', ca: 'c'.repeat(64), node: 'n1', agentVersion: '1 2.3' }

describe('decodeSnapshot', () => {
  const now = 1_000_000_000
  const kinds = [
    { kind: 'Namespace' as const, resourceVersion: '42', items: [{ metadata: { name: 'p', labels: { x: 'y' } } }, { metadata: { name: 'q\nr' } }], problems: [{ where: 'Namespace q', reason: 'r' }] },
    { kind: 'Node' as const, resourceVersion: '43', items: [], problems: [] },
  ]
  const text = () => encodeSnapshot(ID, now - 1000, kinds.map(({ items, ...k }) => ({ ...k, lines: items.map((o) => JSON.stringify(o)) })))
  const lines = () => text().split('\n')
  const header = () => JSON.parse(lines()[0]!)
  const withHeader = (h: object) => [JSON.stringify(h), ...lines().slice(1)].join('\n')
  const decode = (t: string, at = now) => {
    const got: unknown[] = []
    const headers = decodeSnapshot(Buffer.from(t), ID, at, 300_000, (h) => (got.push(h.kind), (raw) => void got.push(raw)))
    return { headers, got }
  }
  const refused = (t: string, re: RegExp) => expect(() => decode(t)).toThrow(re)

  it('accepts its own: one object per line, even with a newline inside a string', () => {
    expect(lines()).toHaveLength(1 + 2 + 1)
    expect(decode(text())).toEqual({
      headers: kinds.map(({ items: _, ...h }) => h),
      got: ['Namespace', ...kinds[0]!.items, 'Node'],
    })
  })
  it('reads multi-byte text per line; a broken UTF-8 sequence reads as U+FFFD within its own line', () => {
    const items = [{ metadata: { name: 'é', namespace: '日本' } }, { metadata: { name: '🙂\u2028' } }]
    const own = encodeSnapshot(ID, now - 1000, [{ kind: 'Namespace', resourceVersion: '1', lines: items.map((o) => JSON.stringify(o)), problems: [] }])
    const read = (buf: Buffer) => {
      const got: unknown[] = []
      decodeSnapshot(buf, ID, now, 300_000, () => (raw) => void got.push(raw))
      return got
    }
    expect(read(Buffer.from(own))).toEqual(items)
    // A lead byte with no continuation byte after it, in the first object's string.
    const [h, , b] = own.split('\n')
    const broken = Buffer.concat([Buffer.from(`${h}\n{"metadata":{"name":"x`), Buffer.from([0xc3]), Buffer.from(`"}}\n${b}\n`)])
    expect(read(broken)).toEqual([{ metadata: { name: 'x\uFFFD' } }, items[1]])
  })
  it.each([
    ['truncated in an object', () => text().slice(0, text().length - 10), /Namespace 1: truncated/],
    ['truncated at a line end', () => lines().slice(0, 2).join('\n') + '\n', /Namespace 1: truncated/],
    ['with more after the end', () => text() + '{}\n', /more after the last object/],
    ['empty', () => '', /header: truncated/],
    ['a corrupt object', () => text().replace('"p"', '"p'), /Namespace 0: not JSON/],
    ['not an object', () => '[]\n', /header: not an object/],
    ['another format', () => withHeader({ ...header(), format: 'x/2' }), /format/],
    ['another API server', () => withHeader({ ...header(), server: 'https://other:6443' }), /another server/],
    ['another CA', () => withHeader({ ...header(), ca: 'd'.repeat(64) }), /another CA/],
    ['another node', () => withHeader({ ...header(), node: 'n2' }), /another node/],
    ['another agent build', () => withHeader({ ...header(), agentVersion: '1 2.4' }), /another agent version/],
    ['too old', () => withHeader({ ...header(), writtenAt: now - 301_000 }), /301 s old/],
    ['from the future', () => withHeader({ ...header(), writtenAt: now + 60_000 }), /future/],
    ['no time', () => withHeader({ ...header(), writtenAt: '1' }), /writtenAt/],
    ['unknown kind', () => withHeader({ ...header(), kinds: [{ ...header().kinds[0], kind: 'Secret' }] }), /unknown or repeated/],
    ['repeated kind', () => withHeader({ ...header(), kinds: [header().kinds[0], header().kinds[0]] }), /unknown or repeated/],
    ['odd resourceVersion', () => withHeader({ ...header(), kinds: [{ ...header().kinds[0], resourceVersion: '1&watch=false' }] }), /resourceVersion/],
    ['a negative count', () => withHeader({ ...header(), kinds: [{ ...header().kinds[0], count: -1 }] }), /count/],
    ['a problem of another kind', () => withHeader({ ...header(), kinds: [{ ...header().kinds[0], problems: [{ where: 'Node n', reason: 'r' }] }] }), /problems\[0\]/],
    ['a huge problem', () => withHeader({ ...header(), kinds: [{ ...header().kinds[0], problems: [{ where: 'Namespace a', reason: 'r'.repeat(5000) }] }] }), /problems\[0\]/],
    ['a spec table of a kind without one', () => withHeader({ ...header(), kinds: [{ ...header().kinds[0], specs: 1 }, header().kinds[1]] }), /specs is not a count/],
    ['no spec count', () => withHeader({ ...header(), kinds: [{ ...header().kinds[0], specs: undefined }, header().kinds[1]] }), /specs is not a count/],
  ])('refuses one %s', (_name, make, re) => refused(make(), re))
})

describe('decodeSnapshot: a kind\'s spec table', () => {
  const now = 1_000_000_000
  const specA = { containers: [{ ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }] }], hostNetwork: false, nodeName: 'n1' }
  const specB = { containers: [], hostNetwork: true }
  const own = ['{"spec":0,"metadata":{"namespace":"x","name":"a"},"status":{"podIPs":[{"ip":"10.0.0.1"}]}}', '{"spec":1,"metadata":{"namespace":"x","name":"b"}}', '{"spec":0,"metadata":{"namespace":"x","name":"c"}}']
  const text = (lines = own, specs = [JSON.stringify(specA), JSON.stringify(specB)]) => encodeSnapshot(ID, now - 1000, [{ kind: 'Pod', resourceVersion: '7', specs, lines, problems: [] }])
  const decode = (t: string) => {
    const got: { raw: Record<string, unknown>; line?: string; specLine?: string }[] = []
    decodeSnapshot(Buffer.from(t), ID, now, 300_000, () => (raw, line, specLine) => void got.push({ raw: raw as Record<string, unknown>, line, specLine }))
    return got
  }

  it('gives each object its spec back (one raw object for all its holders) and its line without the spec', () => {
    const got = decode(text())
    expect(got.map((g) => g.raw)).toEqual([
      { spec: specA, metadata: { namespace: 'x', name: 'a' }, status: { podIPs: [{ ip: '10.0.0.1' }] } },
      { spec: specB, metadata: { namespace: 'x', name: 'b' } },
      { spec: specA, metadata: { namespace: 'x', name: 'c' } },
    ])
    expect(got[0]!.raw.spec).toBe(got[2]!.raw.spec)
    expect(got.map((g) => g.line)).toEqual([',"metadata":{"namespace":"x","name":"a"},"status":{"podIPs":[{"ip":"10.0.0.1"}]}}', ',"metadata":{"namespace":"x","name":"b"}}', ',"metadata":{"namespace":"x","name":"c"}}'])
    expect(got.map((g) => g.specLine)).toEqual([JSON.stringify(specA), JSON.stringify(specB), JSON.stringify(specA)])
    expect(decode(text(['{"spec":1}']))).toEqual([{ raw: { spec: specB }, line: '}', specLine: JSON.stringify(specB) }])
  })

  it('converts a shared spec once, frozen, for all its holders; one that does not convert is each holder\'s problem, with its path', () => {
    const store = new ClusterStore()
    const replace = store.replace('Pod')
    decodeSnapshot(Buffer.from(text()), ID, now, 300_000, () => (raw) => void replace.add(raw))
    replace.done()
    const pods = store.state().pods
    const [a, c] = [pods.get('x/a'), pods.get('x/c')]
    expect(a!.ports).toEqual([{ name: 'http', containerPort: 80, protocol: 'TCP' }])
    expect(a!.ports).toBe(c!.ports)
    expect(Object.isFrozen(a!.ports) && Object.isFrozen(a!.ports[0])).toBe(true)
    const bad = new ClusterStore()
    const r2 = bad.replace('Pod')
    decodeSnapshot(Buffer.from(text(own, [JSON.stringify({ containers: [{ ports: [{ containerPort: 1, protocol: 'ICMP' }] }] }), '{}'])), ID, now, 300_000, () => (raw) => void r2.add(raw))
    r2.done()
    expect([...bad.state().pods.keys()]).toEqual(['x/b'])
    expect(bad.problems().map((p) => p.where)).toEqual(['Pod x/a', 'Pod x/c'])
    for (const p of bad.problems()) expect(p.reason).toMatch(/spec\.containers\[0\]\.ports\[0\]\.protocol: unknown protocol "ICMP"/)
  })

  it.each([
    ['an index past the table', ['{"spec":2,"metadata":{"name":"a"}}']],
    ['a spec that is not the first member', ['{"metadata":{"name":"a"},"spec":0}']],
    ['a later spec member that replaces the index', ['{"spec":0,"metadata":{"name":"a"},"spec":{"hostNetwork":true}}']],
    ['a spec inline', ['{"spec":{"hostNetwork":true},"metadata":{"name":"a"}}']],
    ['a fraction', ['{"spec":1.5,"metadata":{"name":"a"}}']],
    ['a negative index', ['{"spec":-1,"metadata":{"name":"a"}}']],
    ['an index in another form', ['{"spec":1e0,"metadata":{"name":"a"}}']],
    ['no spec', ['{"metadata":{"name":"a"}}']],
  ])('refuses the file for %s', (_name, lines) => {
    expect(() => decode(text(lines))).toThrow(/Pod 0: its spec is not one of the kind's 2 specs/)
  })
  it('refuses a spec line that is not JSON, naming it', () => {
    expect(() => decode(text(own, ['{"containers":', '{}']))).toThrow(/Pod spec 0: not JSON/)
  })
})

describe('takeSnapshotFile', () => {
  it('reads once and removes; refuses an oversized file or a symlink without reading it', () => {
    dir = mkdtempSync(join(tmpdir(), 'cinch-snap-'))
    const f = join(dir, 's.json')
    expect(takeSnapshotFile(f)).toBeUndefined()
    writeFileSync(f, 'hello')
    expect(takeSnapshotFile(f)?.toString()).toBe('hello')
    expect(existsSync(f)).toBe(false)
    writeFileSync(f, 'x'.repeat(100))
    expect(() => takeSnapshotFile(f, 99)).toThrow(/100 bytes, over 99/)
    expect(existsSync(f)).toBe(false)
    writeFileSync(join(dir, 'target'), 'secret')
    symlinkSync(join(dir, 'target'), f)
    expect(() => takeSnapshotFile(f)).toThrow(/ELOOP/)
    expect(existsSync(f)).toBe(false)
    expect(readFileSync(join(dir, 'target'), 'utf8')).toBe('secret')
  })
})

describe('takeSnapshotFile and a planted FIFO', () => {
  it('refuses it at once instead of blocking the start until a writer opens it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cinch-snap-'))
    const f = join(dir, 's.json')
    execFileSync('mkfifo', [f])
    // The only writer comes seconds later: an open that waits for one blocks this thread that long.
    const writer = spawn('sh', ['-c', 'sleep 4; exec 3>"$0"', f], { stdio: 'ignore' })
    try {
      const t0 = performance.now()
      expect(() => takeSnapshotFile(f)).toThrow(/not a regular file/)
      expect(performance.now() - t0).toBeLessThan(2000)
      expect(existsSync(f)).toBe(false)
    } finally {
      writer.kill('SIGKILL')
    }
  })
})

describe('KubeSource with a restart snapshot', () => {
  const logs: string[] = []
  const snapOpts = (path: string): RestartSnapshotOptions => ({
    path, node: 'n1', agentVersion: 'test', quietMs: 50,
    info: (f, m) => logs.push(`info ${m} ${JSON.stringify(f)}`), warn: (f, m) => logs.push(`warn ${m} ${JSON.stringify(f)}`),
  })
  const start = async (server: FakeApiServer, path?: string) => {
    const s = new KubeSource({ kubeConfig: server.kubeConfig(), minBackoffMs: 10, maxBackoffMs: 50, ...(path ? { restartSnapshot: snapOpts(path) } : {}) })
    sources.push(s)
    await s.start(() => {})
    return s
  }
  const stop = async (s: KubeSource) => (sources.splice(sources.indexOf(s), 1), await s.stop())
  const lists = (server: FakeApiServer) => [...server.counts.values()].reduce((n, c) => n + c.lists, 0)
  const plain = (s: KubeSource) => Object.fromEntries(Object.entries(s.state()).map(([k, m]) => [k, Object.fromEntries([...(m as Map<string, unknown>)].sort())]))
  /** While the agent is down: one change of each sort, in each kind. */
  const changeWhileDown = (server: FakeApiServer) => {
    server.create({ kind: 'Namespace', metadata: { name: 'new', labels: { team: 'n' } } })
    server.delete('Namespace', 'e')
    server.update({ ...server.get('Pod', 'e/init')!, metadata: { ...server.get('Pod', 'e/init')!.metadata, labels: { moved: 'yes' } } })
    server.create({ kind: 'Pod', metadata: { namespace: 'new', name: 'p' }, spec: { containers: [{ name: 'c' }] }, status: { podIPs: [{ ip: '10.7.7.7' }] } })
    server.delete('Pod', 'e/bad')
    server.update({ ...server.get('NetworkPolicy', 'e/edge')!, spec: { podSelector: { matchLabels: { v: '2' } } } })
    server.delete('Node', 'mixed')
    server.delete('ClusterNetworkPolicy', 'bench-admin-0')
  }

  it('a graceful stop saves; the next start watches from it, lists nothing, and ends exactly where a fresh list does', async () => {
    api = await FakeApiServer.start({ clusterNetworkPolicies: true })
    fill(api)
    dir = mkdtempSync(join(tmpdir(), 'cinch-snap-'))
    const path = join(dir, 'restart-snapshot.json')
    const first = await start(api, path)
    expect(first.problems().map((p) => p.where)).toEqual(['Pod e/bad'])
    await stop(first)
    expect(logs.at(-1)).toMatch(/^info restart snapshot written .*"kinds":\["Namespace","Pod","NetworkPolicy","Node","ClusterNetworkPolicy"\]/)
    changeWhileDown(api)
    api.create({ kind: 'Pod', metadata: { namespace: 'new', name: 'bad2' }, spec: { containers: [{ name: 'c', ports: [{ containerPort: 1, protocol: 'ICMP' }] }] } })
    const listed = lists(api)

    const resumed = await start(api, path)
    // Taken as start() resolves, before anything else is awaited: what the agent's first sync
    // reads. Compared later only, the watch would have had the fresh list's time to catch up.
    const atStart = plain(resumed)
    const problemsAtStart = resumed.problems()
    expect(lists(api), 'no LIST for any kind').toBe(listed)
    expect(existsSync(path), 'used once').toBe(false)
    expect(logs.at(-1)).toMatch(/^info restart snapshot loaded; resuming watches .*"objects":/)
    const fresh = await start(api)
    expect(atStart, 'at start: the changes made while down').toEqual(plain(fresh))
    expect(problemsAtStart).toEqual(fresh.problems())
    expect(plain(resumed)).toEqual(plain(fresh))
    expect(resumed.state().namespaces.has('new') && !resumed.state().namespaces.has('e')).toBe(true)
    expect(resumed.problems()).toEqual(fresh.problems())
    expect(resumed.problems().map((p) => p.where)).toEqual(['Pod new/bad2'])
  })

  it('keeps a problem saved with the snapshot until its object changes', async () => {
    api = await FakeApiServer.start()
    fill(api, false)
    dir = mkdtempSync(join(tmpdir(), 'cinch-snap-'))
    const path = join(dir, 's.json')
    await stop(await start(api, path))
    const resumed = await start(api, path)
    expect(resumed.problems().map((p) => p.where)).toEqual(['Pod e/bad'])
    // The CRD is absent: that kind was not saved, so it lists (404) as a start without a snapshot.
    expect(logs.at(-1)).toMatch(/"kinds":\["Namespace","Pod","NetworkPolicy","Node"\]/)
  })

  it('a compacted version (410 Gone) relists that kind and ends exact', async () => {
    api = await FakeApiServer.start({ clusterNetworkPolicies: true })
    fill(api)
    dir = mkdtempSync(join(tmpdir(), 'cinch-snap-'))
    const path = join(dir, 's.json')
    await stop(await start(api, path))
    changeWhileDown(api)
    api.compact()
    const before = Object.fromEntries([...api.counts].map(([p, c]) => [p, c.lists]))
    const resumed = await start(api, path)
    for (const [p, c] of api.counts) expect(c.lists, p).toBe(before[p]! + 1)
    const fresh = await start(api)
    expect(plain(resumed)).toEqual(plain(fresh))
    expect(resumed.problems()).toEqual(fresh.problems())
  })

  it('a resumed watch that fails otherwise (a restored etcd refusing a version from its future) lists that kind alone', async () => {
    api = await FakeApiServer.start()
    fill(api, false)
    dir = mkdtempSync(join(tmpdir(), 'cinch-snap-'))
    const path = join(dir, 's.json')
    await stop(await start(api, path))
    api.update({ ...api.get('Pod', 'e/init')!, metadata: { ...api.get('Pod', 'e/init')!.metadata, labels: { moved: 'again' } } })
    api.fail({ resource: 'pods', verb: 'watch', code: 500 })
    const before = Object.fromEntries([...api.counts].map(([p, c]) => [p, c.lists]))
    const resumed = await start(api, path)
    for (const [p, c] of api.counts) expect(c.lists, p).toBe(before[p]! + (p === 'pods' ? 1 : 0))
    expect(resumed.state().pods.get('e/init')?.labels).toEqual({ moved: 'again' })
  })

  it('a resumed watch answered 429 (the server shedding load, as when every agent restarts) waits as asked and watches again: no list', async () => {
    api = await FakeApiServer.start()
    fill(api, false)
    dir = mkdtempSync(join(tmpdir(), 'cinch-snap-'))
    const path = join(dir, 's.json')
    await stop(await start(api, path))
    api.update({ ...api.get('Pod', 'e/init')!, metadata: { ...api.get('Pod', 'e/init')!.metadata, labels: { moved: 'later' } } })
    api.fail({ resource: 'pods', verb: 'watch', code: 429, retryAfterSeconds: 0, times: 2 })
    const before = lists(api)
    const resumed = await start(api, path)
    expect(lists(api), 'no LIST for any kind').toBe(before)
    expect(api.counts.get('pods')!.watches).toBeGreaterThanOrEqual(3)
    expect(resumed.state().pods.get('e/init')?.labels).toEqual({ moved: 'later' })
  })

  it('another API server\'s snapshot (same path, same resourceVersions) is refused and the cluster listed', async () => {
    api = await FakeApiServer.start()
    fill(api, false)
    dir = mkdtempSync(join(tmpdir(), 'cinch-snap-'))
    const path = join(dir, 's.json')
    await stop(await start(api, path))
    const other = await FakeApiServer.start()
    try {
      fill(other, false)
      other.create({ kind: 'Namespace', metadata: { name: 'only-other' } })
      const s = await start(other, path)
      expect(logs.some((l) => /^warn restart snapshot ignored; listing the cluster .*another server/.test(l))).toBe(true)
      expect(other.counts.get('namespaces')!.lists).toBe(1)
      expect(s.state().namespaces.has('only-other')).toBe(true)
      await stop(s)
    } finally {
      await other.close()
    }
  })

  // The stop's cost is the restart's: each object's line is made once, as it arrives (listed or
  // watched) or read from the snapshot loaded, and a stop only joins them (snapshot-lines.ts).
  it('a stop writes the lines made before it: no object is turned into JSON again at SIGTERM, and the next start reads the same store', async () => {
    api = await FakeApiServer.start({ clusterNetworkPolicies: true })
    fill(api)
    dir = mkdtempSync(join(tmpdir(), 'cinch-snap-'))
    const path = join(dir, 's.json')
    const s = new KubeSource({ kubeConfig: api.kubeConfig(), minBackoffMs: 10, maxBackoffMs: 50, restartSnapshot: snapOpts(path) })
    sources.push(s)
    await s.start(() => {})
    const objects = () => Object.values(s.state()).flatMap((m) => [...(m as Map<string, object>).values()])
    expect(objects().every(hasLine), 'every listed object has its line').toBe(true)
    // A watched change: its new object gets its line as it arrives.
    const changed = new Promise<void>((resolve) => { const t = setInterval(() => { if (s.state().pods.get('e/init')?.labels.moved === 'yes') { clearInterval(t); resolve() } }, 5) })
    api.update({ ...api.get('Pod', 'e/init')!, metadata: { ...api.get('Pod', 'e/init')!.metadata, labels: { moved: 'yes' } } })
    await changed
    expect(hasLine(s.state().pods.get('e/init')!)).toBe(true)
    // What the stop's log reports as made at SIGTERM: none of these, one of an object new to lines.
    expect(snapshotLines('Pod', s.state().pods.values()).made).toBe(0)
    const unlined = convertAs('Pod', toRaw('Pod', s.state().pods.get('e/init')!)).value as object
    expect(snapshotLines('Pod', [unlined, unlined]).made).toBe(1)
    const stringify = vi.spyOn(JSON, 'stringify')
    try {
      await stop(s)
      // The header, and this test's logger's own: nothing per object.
      expect(stringify.mock.calls.length).toBeLessThanOrEqual(2)
    } finally {
      stringify.mockRestore()
    }
    expect(logs.at(-1)).toMatch(/^info restart snapshot written /)
    const saved = readFileSync(path, 'utf8')
    const resumed = await start(api, path)
    const fresh = await start(api)
    expect(plain(resumed)).toEqual(plain(fresh))
    expect(resumed.state().pods.get('e/init')?.labels).toEqual({ moved: 'yes' })
    // Read back from the snapshot, each line is kept as read: the next stop writes the same lines.
    await stop(resumed)
    expect(readFileSync(path, 'utf8').split('\n').slice(1)).toEqual(saved.split('\n').slice(1))
  })

  it('a snapshot fatter than its objects can be (padding the converter drops) is not kept as read: the next stop writes the objects anew', async () => {
    api = await FakeApiServer.start()
    fill(api, false)
    dir = mkdtempSync(join(tmpdir(), 'cinch-snap-'))
    const path = join(dir, 's.json')
    await stop(await start(api, path))
    // Every object padded with 8 KB no reader uses: the file averages over 2 KiB an object.
    const [header, ...rest] = readFileSync(path, 'utf8').split('\n')
    const pad = 'x'.repeat(8192)
    writeFileSync(path, [header, ...rest.map((l) => (l ? JSON.stringify({ ...JSON.parse(l), pad }) : l))].join('\n'))
    const resumed = await start(api, path)
    expect(logs.at(-1)).toMatch(/^info restart snapshot loaded; resuming watches/)
    await stop(resumed)
    const written = readFileSync(path, 'utf8')
    expect(written.includes(pad)).toBe(false)
    expect(written.length).toBeLessThan(rest.join('\n').length + header!.length + 64 * 1024)
  })
})

// V8 hashes a string of more than 16,383 characters by its length alone (model/text-keys.ts): a
// tenant's many long specs of one length would share one bucket of the stop's table of distinct
// specs, each lookup comparing with all the others (3,000 of 20,000 characters: ~19 s in one Map,
// the agent's stop blocked for it).
describe('snapshotLines and a tenant\'s long specs', () => {
  it('3,000 policies whose 20,000-character specs differ only at their ends are gathered at once, each spec its own', () => {
    const store = new ClusterStore({ snapshotLines: true })
    const filler = Array.from({ length: 2600 }, (_, i) => `v${String(i).padStart(4, '0')}`)
    for (let k = 0; k < 3000; k++) {
      const values = [...filler, `z${String(k).padStart(6, '0')}`]
      store.upsert('NetworkPolicy', { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 't', name: `p${k}` }, spec: { podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values }] }, policyTypes: ['Ingress'] } })
    }
    const lengths = new Set<number>()
    const r = snapshotLines('NetworkPolicy', store.objects('NetworkPolicy') as Iterable<object>)
    for (const s of r.specs!) lengths.add(s.length)
    expect(r.lines).toHaveLength(3000)
    expect(r.specs).toHaveLength(3000)
    expect([...lengths].every((n) => n > 16_383), 'the specs are past what V8 hashes whole').toBe(true)
    expect(lengths.size, 'and of one length').toBe(1)
    expect(new Set(r.specOf).size).toBe(3000)
  }, 10_000)

  it('equal short specs made apart still share one entry', () => {
    const store = new ClusterStore({ snapshotLines: true })
    for (let k = 0; k < 50; k++) store.upsert('NetworkPolicy', { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 't', name: `p${k}` }, spec: { podSelector: { matchLabels: { app: `a${k % 5}` } } } })
    const r = snapshotLines('NetworkPolicy', store.objects('NetworkPolicy') as Iterable<object>)
    expect(r.specs).toHaveLength(5)
  })
})
