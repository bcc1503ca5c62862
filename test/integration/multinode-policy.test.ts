// Three nodes (network namespaces on an underlay bridge in a fourth), each running the built agent
// (`cinch agent --manifests`, overlay on) and the built plugins driven through libcni (cnictl) with
// the conflist that agent wrote; two pods per node. Per backend: every pod reaches every other pod
// over TCP and UDP, IPv4 and IPv6, and the server sees the client's own address (no masquerade
// between nodes); the MTU is right end to end; a NetworkPolicy on a pod of node1 admits a pod of
// node2 and refuses a pod of node3; a node removed from the manifests loses its routes on the others.
// Needs `npm run build` (dist/) and cnictl. The cluster is the kit's (test/kit/cluster.ts), as the demo's.
import test, { type ExecutionContext } from 'ava'
import { join } from 'node:path'
import { cleanupFor } from '../kit/cleanup.js'
import { clusterFor, type Backend, type Cluster, type ClusterPod } from '../kit/cluster.js'
import { tempDir, uniqueName } from '../kit/netns.js'
import { cniBin, distDir, refBin } from '../kit/paths.js'
import { peerAddress, probeFrom, type ProbeTarget } from '../kit/probe.js'
import { inNetns as inNs } from '../kit/proc.js'
import { waitFor } from '../kit/wait.js'

const PORTS = { tcp: [8080], udp: [8081] }

async function makeCluster(t: ExecutionContext, backend: Backend): Promise<Cluster> {
  const cleanup = cleanupFor(t)
  const name = uniqueName(`cinch-t-mn-${backend === 'vxlan' ? 'vx' : 'gw'}`)
  const c = await clusterFor(cleanup, {
    name, dir: tempDir(cleanup, name), nodes: 3, backend, ports: PORTS,
    cinch: [process.execPath, join(distDir, 'bin/cinch')], cniPath: `${cniBin}:${refBin}`,
  })
  c.writeNamespaces({ mn: {} })
  const t0 = Date.now()
  await c.addPods([
    { namespace: 'mn', name: 'n1a', node: 'node1', labels: { app: 'server' } },
    { namespace: 'mn', name: 'n1b', node: 'node1' },
    { namespace: 'mn', name: 'n2a', node: 'node2', labels: { access: 'yes' } },
    { namespace: 'mn', name: 'n2b', node: 'node2' },
    { namespace: 'mn', name: 'n3a', node: 'node3' },
    { namespace: 'mn', name: 'n3b', node: 'node3' },
  ])
  await c.waitSynced(t0)
  return c
}

const targetsOf = (p: ClusterPod, proto: 'tcp' | 'udp' = 'tcp'): ProbeTarget[] =>
  [p.ip4, p.ip6].map((ip) => ({ ip, port: proto === 'tcp' ? 8080 : 8081, proto }))

/** Every failing flow among `pods`, or one whose server saw another source than the client's own. */
async function brokenFlows(pods: ClusterPod[]): Promise<string[]> {
  const rows = await Promise.all(pods.map(async (a) => {
    const others = pods.filter((b) => b !== a)
    const res = await probeFrom(a.netns, others.flatMap((b) => [...targetsOf(b, 'tcp'), ...targetsOf(b, 'udp')]), { timeoutMs: 4000 })
    return res.flatMap((r) => {
      const to = others.find((b) => b.ips.includes(r.ip))!.name
      const own = r.ip.includes(':') ? a.ip6 : a.ip4
      if (!r.ok) return [`${a.name} -> ${to} ${r.proto} ${r.ip}: ${r.err}`]
      const saw = peerAddress(r.saw)
      return saw === own ? [] : [`${a.name} -> ${to} ${r.proto} ${r.ip}: server saw ${saw}, not ${own}`]
    })
  }))
  return rows.flat()
}

const ourRoutes = async (c: Cluster, node: string) => {
  const n = c.nodes.find((x) => x.name === node)!
  return (await inNs(n.netns, 'ip', ['route', 'show', 'proto', '193'])) + (await inNs(n.netns, 'ip', ['-6', 'route', 'show', 'proto', '193']))
}

async function exercise(t: ExecutionContext, backend: Backend, podMtu: number) {
  const c = await makeCluster(t, backend)
  const [n1a, n1b, n2a, , n3a] = c.pods

  // Every pod reaches every other pod, un-NATed, over both families and both protocols.
  t.deepEqual(await brokenFlows(c.pods), [])

  // MTU: the overlay's MTU reaches the pods through the conflist, and a full-size DF packet crosses.
  t.is(c.podMtu('node1'), podMtu)
  await inNs(n1a!.netns, 'ping', ['-4', '-c1', '-W2', '-M', 'do', '-s', String(podMtu - 28), n2a!.ip4])
  await inNs(n1a!.netns, 'ping', ['-6', '-c1', '-W2', '-M', 'do', '-s', String(podMtu - 48), n2a!.ip6])
  // One byte more does not fit the pod's link: the MTU is not larger than planned either.
  await t.throwsAsync(inNs(n1a!.netns, 'ping', ['-4', '-c1', '-W1', '-M', 'do', '-s', String(podMtu - 27), n2a!.ip4]))

  // A policy on n1a (node1) admits n2a (node2, labelled) and refuses n3a (node3) and n1b (node1).
  const t0 = Date.now()
  c.writeManifest('policy-server', {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'mn', name: 'server-from-access' },
    spec: { podSelector: { matchLabels: { app: 'server' } }, ingress: [{ from: [{ podSelector: { matchLabels: { access: 'yes' } } }], ports: [{ protocol: 'TCP', port: 8080 }] }] },
  })
  await c.waitSynced(t0)
  const admitted = await probeFrom(n2a!.netns, targetsOf(n1a!), { timeoutMs: 3000 })
  t.deepEqual(admitted.map((r) => [r.ok, peerAddress(r.saw)]), [[true, n2a!.ip4], [true, n2a!.ip6]])
  for (const refused of [n3a!, n1b!]) {
    const r = await probeFrom(refused.netns, targetsOf(n1a!), { timeoutMs: 1500 })
    t.deepEqual(r.map((x) => x.ok), [false, false], `${refused.name} -> n1a must be refused`)
  }
  // The policy selects only n1a: n3a still reaches the others.
  t.true((await probeFrom(n3a!.netns, targetsOf(n2a!), { timeoutMs: 3000 })).every((r) => r.ok))

  // node3 leaves the manifests: nodes 1 and 2 drop its routes; 1 <-> 2 keeps working.
  t.regex(await ourRoutes(c, 'node1'), /10\.244\.3\.0\/24/)
  c.removeManifest('node-node3')
  for (const node of ['node1', 'node2']) {
    await waitFor(`${node} to drop node3's routes`, async () => !/10\.244\.3\.0\/24|fd00:10:244:3::\/64/.test(await ourRoutes(c, node)), { timeoutMs: 20_000 })
  }
  t.regex(await ourRoutes(c, 'node1'), /10\.244\.2\.0\/24/)
  t.true((await probeFrom(n2a!.netns, targetsOf(n1a!), { timeoutMs: 3000 })).every((r) => r.ok))
  await t.throwsAsync(inNs(n1b!.netns, 'ping', ['-c1', '-W1', n3a!.ip4]))
}

test.serial('vxlan: all pods reach each other un-NATed, MTU 1450 end to end, policy across nodes, a departed node is unrouted', async (t) => {
  await exercise(t, 'vxlan', 1450)
})

test.serial('host-gw: the same without encapsulation, MTU 1500', async (t) => {
  await exercise(t, 'host-gw', 1500)
  t.pass()
})
