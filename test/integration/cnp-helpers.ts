// The ClusterNetworkPolicy fixture (test/fixtures/cnp-extra: five namespaces, pods with named and
// unnamed TCP/UDP ports, host-network pods, two nodes) as a real two-node cinch cluster: the kit's
// Cluster (node namespaces on an underlay bridge, VXLAN, the built agent per node, pods attached by
// the built plugins through libcni), fed from the manifest directory or from the fake API server.
// Pod-network pods alternate between the nodes; a host-network pod is a server process in its
// node's namespace. A step's objects are written, both agents waited for, and every expected cell
// probed with real connections, all sources at once (one prober process per source).
import type { ExecutionContext } from 'ava'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cleanupFor, type Teardown } from '../kit/cleanup.js'
import { clusterFor, type Cluster } from '../kit/cluster.js'
import { FakeApiServer, type Obj } from '../kit/fake-apiserver.js'
import { tempDir, uniqueName } from '../kit/netns.js'
import { cniBin, distDir as dist, refBin } from '../kit/paths.js'
import { probeFrom, type ProbeTarget } from '../kit/probe.js'
import { inNetns as inNs, spawnInNetns } from '../kit/proc.js'
import { waitFor } from '../kit/wait.js'
import { cellsOf, loadFixture, type Family, type FixtureModel, type Step } from '../kit/cnp-fixture.js'
export const { model } = loadFixture('shared')

// One process per pod serves every TCP and UDP port it has (SCTP: no IP_SCTP in this kernel).
const SERVER = `
const net = require('net'), dgram = require('dgram')
for (const spec of process.argv.slice(1)) {
  const [proto, port] = spec.split('/')
  if (proto === 'TCP') net.createServer((c) => { c.on('error', () => {}); c.end('ok\\n') }).listen({ port: Number(port), host: '::', ipv6Only: false })
  else if (proto === 'UDP') { const s = dgram.createSocket({ type: 'udp6', ipv6Only: false }); s.on('message', (_, p) => s.send('ok\\n', p.port, p.address)); s.bind(Number(port)) }
}
`

export interface CnpEnv {
  cluster: Cluster
  api?: FakeApiServer
  /** the family the steps are substituted for and probed over */
  family: Family
  /** `ns/pod` -> its address in `family` (host-network pods: their node's) */
  ip: Map<string, string>
  /** `ns/pod` -> the namespace a probe from it runs in */
  netnsOf: Map<string, string>
  /** cluster node name of model node `node-i` */
  nodeName: (modelNode: string) => string
  /** the objects of the previous step, by manifest base name */
  current: Map<string, string>
  skippedSctp: number
  cells: number
}

const nodeOf = (i: number) => `node${i + 1}`

/**
 * The fixture's cluster, its steps to be probed over `family`. Pods are dual-stack either way (as
 * the cluster is: every Pod's status.podIPs holds both addresses, a host-network pod its node's),
 * so each run also checks that the other family's addresses do not disturb the one probed.
 */
export async function cnpCluster(t: Teardown, source: 'manifests' | 'kube', family: Family = 4): Promise<CnpEnv> {
  // The kit's Cleanup, registered before anything exists: whatever was created (cluster.json
  // records it as it goes) is removed even if creation or a step fails half way.
  const cleanup = cleanupFor(t)
  const name = uniqueName(`cinch-t-cnp${source === 'kube' ? 'k' : 'm'}${family}`)
  const dir = tempDir(cleanup, name)
  let api: FakeApiServer | undefined
  cleanup.add(() => api?.close())
  const kindOf = (o: { kind: string }) => o.kind
  if (source === 'kube') api = await FakeApiServer.start({ clusterNetworkPolicies: true, unixSocket: join(dir, 'api.sock') })
  const kubeconfig = join(dir, 'kubeconfig')
  if (api) writeFileSync(kubeconfig, api.kubeconfigYaml('http://127.0.0.1:6443'))
  const keyOf = (o: Obj) => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name)
  const mirrored = new Map<string, Obj[]>()
  const onWrite = api && ((base: string, obj: object | null) => {
    // A manifest file is a List or one object: the API server gets each object, and loses those
    // the file no longer holds.
    const items = (obj === null ? [] : (obj as { kind: string }).kind === 'List' ? (obj as { items: Obj[] }).items : [obj as Obj])
    const before = mirrored.get(base) ?? []
    for (const o of before) if (!items.some((x) => kindOf(x) === kindOf(o) && keyOf(x) === keyOf(o))) api!.delete(o.kind, keyOf(o))
    for (const o of items) api!.apply(structuredClone(o))
    mirrored.set(base, items)
  })
  const hostPorts = [...new Set(model.pods.filter((p) => p.hostNetwork).flatMap((p) => p.ports.map((x) => x.port)))]
  const cluster = await clusterFor(cleanup, {
    name, dir, nodes: 2, backend: 'vxlan', ports: { tcp: [], udp: [] },
    cinch: [process.execPath, join(dist, 'bin/cinch')], cniPath: `${cniBin}:${refBin}`,
    ...(api ? { kubeconfig, onWrite: onWrite! } : {}),
    beforeAgents: async (c: Cluster) => {
      for (const n of c.nodes) {
        // The host-network pods serve 34345..34352, inside the kernel's ephemeral range: a port the
        // agent's API connections took first would refuse a server its bind (CI once waited 20 s for
        // one). A node that runs host-network servers reserves their ports, as an operator would.
        await inNs(n.netns, 'sysctl', ['-qw', `net.ipv4.ip_local_reserved_ports=${hostPorts.join(',')}`])
        if (!api) continue
        // Each node namespace has its own loopback: socat there carries 127.0.0.1:6443 to the fake.
        spawnInNetns(cleanup, n.netns, 'socat', ['TCP-LISTEN:6443,bind=127.0.0.1,fork,reuseaddr', `UNIX-CONNECT:${join(dir, 'api.sock')}`])
        await waitFor('socat on 6443', async () => /127\.0\.0\.1:6443\s/.test(await inNs(n.netns, 'ss', ['-lnt'])), { timeoutMs: 10_000 })
      }
    },
  })
  // Nodes with the model's labels (CNP `nodes` peers select on them).
  model.nodes.forEach((mn, i) => {
    const n = cluster.nodes[i]!
    cluster.writeManifest(`node-${n.name}`, {
      apiVersion: 'v1', kind: 'Node', metadata: { name: n.name, labels: mn.labels },
      spec: { podCIDR: n.podCIDRs[0], podCIDRs: n.podCIDRs },
      status: { addresses: [...n.internalIPs.map((address) => ({ type: 'InternalIP', address })), { type: 'Hostname', address: n.name }] },
    })
  })
  cluster.writeNamespaces(Object.fromEntries(Object.entries(model.namespaces).map(([k, v]) => [k, v.labels])))
  const podNet = model.pods.filter((p) => !p.hostNetwork)
  const t0 = Date.now()
  await cluster.addPods(podNet.map((p, i) => ({ namespace: p.namespace, name: p.name, node: nodeOf(i % 2), labels: p.labels })))
  const nodeName = (mn: string) => nodeOf(model.nodes.findIndex((n) => n.name === mn))
  const ip = new Map<string, string>(), netnsOf = new Map<string, string>(), servers = new Map<string, ReturnType<typeof spawnInNetns>>()
  for (const p of model.pods) {
    const key = `${p.namespace}/${p.name}`
    const serve = p.ports.filter((x) => x.protocol !== 'SCTP').map((x) => `${x.protocol}/${x.port}`)
    const [netns, addrs, node] = p.hostNetwork
      ? ((n) => [n.netns, [n.ip4, n.ip6], n.name] as const)(cluster.nodes.find((x) => x.name === nodeName(p.nodeName!))!)
      : ((cp) => [cp.netns, [cp.ip4, cp.ip6], cp.node] as const)(cluster.pod(p.namespace, p.name))
    if (addrs.some((a) => !a)) throw new Error(`${key}: not dual-stack (${addrs.join(', ')})`)
    ip.set(key, addrs[family === 4 ? 0 : 1])
    netnsOf.set(key, netns)
    servers.set(key, spawnInNetns(cleanup, netns, process.execPath, ['-e', SERVER, ...serve]))
    cluster.writeManifest(`pod-${p.namespace}-${p.name}`, podManifest(p, node, addrs))
  }
  let notServing: string[] = []
  await waitFor('every pod serving', async () => {
    notServing = []
    for (const p of model.pods) {
      const key = `${p.namespace}/${p.name}`
      const ss = await inNs(netnsOf.get(key)!, 'ss', ['-Hltun'])
      const down = p.ports.filter((x) => x.protocol !== 'SCTP' && !ss.includes(`:${x.port} `))
      if (down.length) notServing.push(`${key} ${down.map((x) => `${x.protocol}/${x.port}`).join(',')}: ${servers.get(key)!.log().slice(-200) || 'no output'}`)
    }
    return notServing.length === 0
  }, { timeoutMs: 20_000 }).catch((err: Error) => { throw new Error(`${err.message}; not serving: ${notServing.join('; ')}`) })
  await cluster.waitSynced(t0)
  return { cluster, api, family, ip, netnsOf, nodeName, current: new Map(), skippedSctp: 0, cells: 0 }
}

function podManifest(p: FixtureModel['pods'][number], node: string, addrs: readonly string[]): object {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { namespace: p.namespace, name: p.name, labels: p.labels },
    spec: {
      nodeName: node, ...(p.hostNetwork ? { hostNetwork: true } : {}),
      // Only declared container ports are in the spec: only they resolve a named port.
      containers: [{ name: 'c', ports: p.ports.filter((x) => x.declared).map((x) => ({ ...(x.name ? { name: x.name } : {}), containerPort: x.port, protocol: x.protocol })) }],
    },
    status: { phase: 'Running', podIP: addrs[0], podIPs: addrs.map((ip) => ({ ip })) },
  }
}

/**
 * The fixture's placeholders filled with the real addresses of the env's family, as the pure
 * tests' `substitute` does with made-up ones: a pod's `/32` network becomes `/128` over IPv6.
 */
export function fill<T>(env: CnpEnv, x: T): T {
  const node = (k: string) => env.cluster.nodes.find((n) => n.name === env.nodeName(k))
  const text = JSON.stringify(x)
    .replace(/\{\{podIP:([^}]+)\}\}\/32/g, (_, k: string) => `${env.ip.get(k) ?? `missing-${k}`}/${env.family === 4 ? 32 : 128}`)
    .replace(/\{\{podIP:([^}]+)\}\}/g, (_, k: string) => env.ip.get(k) ?? `missing-${k}`)
    .replace(/\{\{nodeIP:([^}]+)\}\}/g, (_, k: string) => node(k)?.[env.family === 4 ? 'ip4' : 'ip6'] ?? `missing-${k}`)
  if (text.includes('missing-') || text.includes('{{')) throw new Error(`unfilled placeholder in ${text.slice(0, 200)}`)
  return JSON.parse(text)
}

/** Writes what changed since the previous step (policies, namespace labels); true when something did. */
export function writeStep(env: CnpEnv, step: Step): boolean {
  const want = new Map<string, string>()
  want.set('policies', JSON.stringify({ apiVersion: 'v1', kind: 'List', items: fill(env, step.policies) }))
  for (const [ns, v] of Object.entries(model.namespaces)) {
    const labels = { ...v.labels, ...(step.namespaceLabelUpdates?.[ns] ?? {}) }
    want.set(`ns-${ns}`, JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels } }))
  }
  let changed = false
  for (const [base, text] of want) {
    if (env.current.get(base) === text) continue
    // The first step's namespaces are the ones Cluster wrote: only later differences matter.
    if (!env.current.has(base) && base.startsWith('ns-') && !step.namespaceLabelUpdates?.[base.slice(3)]) { env.current.set(base, text); continue }
    env.cluster.writeManifest(base, JSON.parse(text))
    env.current.set(base, text)
    changed = true
  }
  return changed
}

/**
 * Probes every expected cell of the step (SCTP counted as skipped), all sources in parallel, and
 * returns the cells that differ; a differing cell is probed once more, with a longer timeout,
 * before it counts (a loaded machine can miss one handshake).
 */
export async function probeStep(env: CnpEnv, step: Step): Promise<string[]> {
  const cells: { src: string; dst: string; t: ProbeTarget; want: boolean }[] = []
  for (const c of cellsOf(step)) {
    if (c.protocol === 'SCTP') { env.skippedSctp++; continue }
    cells.push({ src: c.src, dst: c.dst, want: c.want, t: { ip: env.ip.get(c.dst)!, port: c.port, proto: c.protocol === 'UDP' ? 'udp' : 'tcp' } })
  }
  const run = async (list: typeof cells, timeoutMs: number) => {
    const bySrc = new Map<string, typeof cells>()
    for (const c of list) bySrc.set(c.src, [...(bySrc.get(c.src) ?? []), c])
    const wrong: typeof cells = []
    await Promise.all([...bySrc].map(async ([src, cs]) => {
      const r = await probeFrom(env.netnsOf.get(src)!, cs.map((c) => c.t), { timeoutMs })
      cs.forEach((c, i) => { if (r[i]!.ok !== c.want) wrong.push(c) })
    }))
    return wrong
  }
  let wrong = await run(cells, 1000)
  if (wrong.length) wrong = await run(wrong, 3000)
  env.cells += cells.length
  return wrong.map((c) => `${c.src} -> ${c.dst} ${c.t.proto}/${c.t.port}: expected ${c.want ? 'ALLOW' : 'DENY'}`)
}

/** One step: write, wait for both agents, probe, assert. */
export async function checkCnpStep(t: ExecutionContext, env: CnpEnv, name: string, step: Step): Promise<void> {
  const t0 = Date.now()
  if (writeStep(env, step)) await env.cluster.waitSynced(t0)
  const wrong = await probeStep(env, step)
  t.deepEqual(wrong, [], `${name}: cells differ`)
}
