// Three "nodes" (network namespaces) on an underlay bridge that lives in a fourth namespace, two
// "pods" per node (veth pairs into their own namespaces off a cinch0 bridge), the overlay
// programmed inside each node by policy-agent/overlay in a child `node` run under `ip netns exec`.
// Asserted with real traffic: ping and TCP/UDP over IPv4 and IPv6 between every pair of pods,
// a full-size DF packet, and a node that leaves the Node list losing its entries on the others.
import test from 'ava'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Cleanup } from '../kit/cleanup.js'
import { addUnderlayBridge, plugIntoUnderlay } from '../kit/cluster.js'
import { makeNetns, tempDir, uniqueName } from '../kit/netns.js'
import { repoRoot } from '../kit/paths.js'
import { peerAddress } from '../kit/probe.js'
import { NFT, run, spawnInNetns } from '../kit/proc.js'
import { waitFor } from '../kit/wait.js'

// Registered before anything exists: whatever test.before built is removed even if it fails half way.
const cleanup = new Cleanup()
test.after.always(() => cleanup.run())

const id = uniqueName('ovl').slice(4)
const ulay = `cinch-t-ovl-u-${id}`
const tmp = tempDir(cleanup, 'cinch-ovl')

interface TNode { name: string; ns: string; ip4: string; ip6: string; cidr4: string; cidr6: string; pods: TPod[] }
interface TPod { ns: string; ip4: string; ip6: string; node: TNode; veth: string }

const nodes: TNode[] = [1, 2, 3].map((i) => ({
  name: `node${i}`, ns: `cinch-t-ovl-n${i}-${id}`, ip4: `192.168.50.${i}`, ip6: `fd50::${i}`,
  cidr4: `10.244.${i}.0/24`, cidr6: `fd00:244:${i}::/64`, pods: [],
}))
const nodeObj = (n: TNode) => ({ name: n.name, podCIDRs: [n.cidr4, n.cidr6], internalIPs: [n.ip4, n.ip6] })

const sh = (ns: string, ...args: string[]) => run('ip', ['netns', 'exec', ns, ...args])

// The code under test, run inside a node's namespace: its netlink socket and nft belong there.
const runner = join(tmp, 'sync.mts')
writeFileSync(runner, `
import { syncOverlay } from '${repoRoot}/policy-agent/overlay/apply.ts'
import { ensureNoMasq } from '${repoRoot}/policy-agent/overlay/nomasq.ts'
import { renderConflist, ensureConflistFile } from '${repoRoot}/policy-agent/cniconf/index.ts'
import { runNft } from '${repoRoot}/lib/nft/index.ts'
import { masqAddRuleset } from '${repoRoot}/plugins/cinch-bridge/masq.ts'
const a = JSON.parse(process.argv[2])
if (a.op === 'nomasq') {
  if (a.bridgeFirst) await runNft(masqAddRuleset([]))
  const cidrs = await ensureNoMasq(a.configured, a.nodes)
  if (!a.bridgeFirst) await runNft(masqAddRuleset([]))
  console.log(JSON.stringify(cidrs))
} else {
  const r = await syncOverlay({ nodeName: a.node, nodes: a.nodes, backend: a.backend })
  const self = a.nodes.find((n) => n.name === a.node)
  const wrote = ensureConflistFile({ dir: a.confDir, content: renderConflist({ podCIDRs: self.podCIDRs, mtu: r.plan.podMtu }) })
  console.log(JSON.stringify({ ops: r.ops.length, podMtu: r.plan.podMtu, problems: r.plan.problems, wrote }))
}
`)

async function sync(n: TNode, members: TNode[], backend: 'vxlan' | 'host-gw') {
  const arg = JSON.stringify({ node: n.name, nodes: members.map(nodeObj), backend, confDir: join(tmp, n.name) })
  return JSON.parse(await sh(n.ns, process.execPath, '--import', 'tsx/esm', runner, arg)) as { ops: number; podMtu: number; problems: string[]; wrote: boolean }
}

async function setPodMtu(mtu: number) {
  for (const n of nodes) for (const p of n.pods) {
    await run('ip', ['-n', n.ns, 'link', 'set', p.veth, 'mtu', String(mtu)])
    await run('ip', ['-n', p.ns, 'link', 'set', 'eth0', 'mtu', String(mtu)])
  }
}

// The kit cluster's underlay and node wiring, without its agents and plugins: the overlay code runs
// alone here, and the "pods" are bare veths off a hand-made cinch0.
async function buildTopology() {
  makeNetns(cleanup, ulay, { exact: true })
  await addUnderlayBridge(ulay)
  for (const [i, n] of nodes.entries()) {
    makeNetns(cleanup, n.ns, { exact: true })
    await plugIntoUnderlay({ underlay: ulay, node: n.ns, port: `n${i}`, ip4: n.ip4, ip6: n.ip6 })
    await sh(n.ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1')
    // What cinch-bridge sets up on a node: the gateway bridge with .1 of the pod CIDR.
    const gw4 = n.cidr4.replace('.0/24', '.1'), gw6 = n.cidr6.replace('::/64', '::1')
    await run('ip', ['-n', n.ns, 'link', 'add', 'cinch0', 'type', 'bridge'])
    await run('ip', ['-n', n.ns, 'addr', 'add', `${gw4}/24`, 'dev', 'cinch0'])
    await run('ip', ['-n', n.ns, 'addr', 'add', `${gw6}/64`, 'dev', 'cinch0', 'nodad'])
    await run('ip', ['-n', n.ns, 'link', 'set', 'cinch0', 'up'])
    for (const j of [1, 2]) {
      const pod: TPod = { ns: `cinch-t-ovl-p${i + 1}${j}-${id}`, ip4: n.cidr4.replace('.0/24', `.${10 + j}`), ip6: n.cidr6.replace('::/64', `::${10 + j}`), node: n, veth: `cinchp${j}` }
      n.pods.push(pod)
      makeNetns(cleanup, pod.ns, { exact: true })
      await run('ip', ['-n', n.ns, 'link', 'add', pod.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod.ns])
      await run('ip', ['-n', n.ns, 'link', 'set', pod.veth, 'master', 'cinch0', 'up'])
      await run('ip', ['-n', pod.ns, 'addr', 'add', `${pod.ip4}/24`, 'dev', 'eth0'])
      await run('ip', ['-n', pod.ns, 'addr', 'add', `${pod.ip6}/64`, 'dev', 'eth0', 'nodad'])
      await run('ip', ['-n', pod.ns, 'link', 'set', 'eth0', 'up'])
      await run('ip', ['-n', pod.ns, 'route', 'add', 'default', 'via', gw4])
      await run('ip', ['-n', pod.ns, '-6', 'route', 'add', 'default', 'via', gw6])
      // TCP and UDP echo of the peer's address: proves the packet arrived un-NATed.
      spawnInNetns(cleanup, pod.ns, 'socat', ['TCP6-LISTEN:8080,reuseaddr,fork', 'SYSTEM:echo $SOCAT_PEERADDR'])
      spawnInNetns(cleanup, pod.ns, 'socat', ['UDP6-LISTEN:8081,fork,reuseaddr', 'SYSTEM:echo $SOCAT_PEERADDR'])
    }
  }
}

const bare = (a: string) => peerAddress(a)

/** Runs the thunks at most `n` at a time (this is a 2-core machine shared with other tests). */
async function pool<T>(n: number, jobs: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = []
  let next = 0
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < jobs.length) { const i = next++; out[i] = await jobs[i]() }
  }))
  return out
}
const url = (ip: string) => (ip.includes(':') ? `[${ip}]` : ip)

/** Every failing (from -> to) flow, for every protocol, between pods of `among`. */
async function unreachable(among: TNode[]): Promise<string[]> {
  const pods = among.flatMap((n) => n.pods)
  const checks: (() => Promise<string | undefined>)[] = []
  for (const a of pods) for (const b of pods) {
    if (a === b) continue
    for (const [fam, dst, src] of [['4', b.ip4, a.ip4], ['6', b.ip6, a.ip6]]) {
      const what = `${a.ns.split('-')[3]} -> ${b.ns.split('-')[3]} v${fam}`
      const saw = (proto: string) => (o: string) => (o.trim() && bare(o.trim()) === src ? undefined : `${what} ${proto} saw "${o.trim()}"`)
      // One retry: a first IPv6 packet can be lost to neighbour discovery on a loaded machine.
      const ping = () => sh(a.ns, 'ping', `-${fam}`, '-c1', '-W2', dst)
      checks.push(() => ping().catch(ping).then(() => undefined, () => `${what} ping`))
      checks.push(() => sh(a.ns, 'socat', '-T3', '-', `TCP:${url(dst)}:8080,connect-timeout=3`).then(saw('tcp'), () => `${what} tcp`))
      // -t: after stdin's EOF, wait for the reply (socat's default is 0.5 s).
      // UDP is lossy, and socat's forking UDP server refuses a datagram racing its fork: retry.
      const udp = () => run('sh', ['-c', `echo x | ip netns exec ${a.ns} socat -T2 -t2 - UDP:${url(dst)}:8081`]).then(saw('udp'), () => `${what} udp`)
      checks.push(async () => {
        let err: string | undefined
        // Up to ~5 tries (each up to 2 s when no reply comes), as many as the loaded machine needs.
        await waitFor(`${what} udp`, async () => !(err = await udp()), { timeoutMs: 12_000, intervalMs: 200 }).catch(() => {})
        return err
      })
    }
  }
  return (await pool(12, checks)).filter((x): x is string => !!x)
}

/** A full-size packet with DF set crosses between nodes 1 and 2, both families. */
async function fullSizeCrosses(mtu: number): Promise<void> {
  const [a, b] = [nodes[0].pods[0], nodes[1].pods[0]]
  await sh(a.ns, 'ping', '-4', '-c3', '-i0.2', '-W2', '-M', 'do', '-s', String(mtu - 28), b.ip4)
  await sh(a.ns, 'ping', '-6', '-c3', '-i0.2', '-W2', '-M', 'do', '-s', String(mtu - 48), b.ip6)
}

test.before(async () => {
  await buildTopology()
})


const entries = async (n: TNode) => ({
  routes: await sh(n.ns, 'ip', 'route', 'show', 'proto', '193').then(async (r) => r + (await sh(n.ns, 'ip', '-6', 'route', 'show', 'proto', '193'))),
  neigh: await sh(n.ns, 'ip', 'neigh', 'show', 'dev', 'cinch-vxlan').catch(() => ''),
  fdb: await sh(n.ns, 'bridge', 'fdb', 'show', 'dev', 'cinch-vxlan').catch(() => ''),
})

test.serial('vxlan: every pod reaches every other pod, full-size packets cross, a node that leaves is unprogrammed', async (t) => {
  for (const n of nodes) {
    const r = await sync(n, nodes, 'vxlan')
    t.is(r.podMtu, 1450)
    t.deepEqual(r.problems, [])
  }
  await setPodMtu(1450)
  t.deepEqual(await unreachable(nodes), [])
  await fullSizeCrosses(1450)
  // The conflist carries the node's CIDRs and the overlay MTU.
  const conf = JSON.parse(readFileSync(join(tmp, 'node1', '10-cinch.conflist'), 'utf8'))
  t.deepEqual(conf.plugins[0].ipam.ranges, [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:244:1::/64' }]])
  t.is(conf.plugins[0].mtu, 1450)
  // Idempotent: a second sync changes nothing, not even the conflist.
  t.like(await sync(nodes[0], nodes, 'vxlan'), { ops: 0, wrote: false })

  // node3 leaves: nodes 1 and 2 drop its route, neighbour and fdb entry; 1 <-> 2 still works.
  for (const n of nodes.slice(0, 2)) await sync(n, nodes.slice(0, 2), 'vxlan')
  for (const n of nodes.slice(0, 2)) {
    const e = await entries(n)
    t.false(e.routes.includes('10.244.3.0/24') || e.routes.includes('fd00:244:3::/64'), e.routes)
    t.false(e.neigh.includes('10.244.3.0'), e.neigh)
    t.false(e.fdb.includes('192.168.50.3'), e.fdb)
    t.true(e.fdb.includes('192.168.50.' + (n === nodes[0] ? 2 : 1)), e.fdb)
  }
  await t.throwsAsync(sh(nodes[0].pods[0].ns, 'ping', '-c1', '-W1', nodes[2].pods[0].ip4))
  t.deepEqual(await unreachable(nodes.slice(0, 2)), [])

  // node2 moves to another underlay address: the others follow.
  const moved = { ...nodes[1], ip4: '192.168.50.22' }
  // Delete first: deleting a primary address takes the secondaries of its subnet with it.
  await run('ip', ['-n', moved.ns, 'addr', 'del', '192.168.50.2/24', 'dev', 'eth0'])
  await run('ip', ['-n', moved.ns, 'addr', 'add', '192.168.50.22/24', 'dev', 'eth0'])
  const members = [nodes[0], moved, nodes[2]]
  for (const n of members) await sync(n, members, 'vxlan')
  Object.assign(nodes[1], { ip4: '192.168.50.22' })
  t.true((await entries(nodes[0])).fdb.includes('192.168.50.22'))
  t.deepEqual(await unreachable(nodes), [])
})

test.serial('host-gw: switching backends drops the vxlan device; every pod reaches every other pod without encapsulation', async (t) => {
  for (const n of nodes) {
    const r = await sync(n, nodes, 'host-gw')
    t.is(r.podMtu, 1500)
  }
  await t.throwsAsync(sh(nodes[0].ns, 'ip', 'link', 'show', 'cinch-vxlan'))
  await setPodMtu(1500)
  t.deepEqual(await unreachable(nodes), [])
  await fullSizeCrosses(1500)
  t.is(JSON.parse(readFileSync(join(tmp, 'node2', '10-cinch.conflist'), 'utf8')).plugins[0].mtu, 1500)
  const routes = (await entries(nodes[0])).routes
  t.regex(routes, /10\.244\.2\.0\/24 via 192\.168\.50\.22 dev eth0/)
  t.regex(routes, /fd00:244:3::\/64 via fd50::3 dev eth0/)

  for (const n of nodes.slice(1)) await sync(n, nodes.slice(1), 'host-gw')
  t.false((await entries(nodes[1])).routes.includes('10.244.1.0/24'))
  await t.throwsAsync(sh(nodes[1].pods[0].ns, 'ping', '-c1', '-W1', nodes[0].pods[0].ip4))
  t.deepEqual(await unreachable(nodes.slice(1)), [])
})

test.serial('cluster CIDRs land in cinch-bridge\'s nat table whichever of the two writes first', async (t) => {
  for (const [n, bridgeFirst] of [[nodes[0], true], [nodes[1], false]] as const) {
    const arg = JSON.stringify({ op: 'nomasq', configured: [], nodes: nodes.map(nodeObj), bridgeFirst })
    await sh(n.ns, process.execPath, '--import', 'tsx/esm', runner, arg)
    const v4 = JSON.parse(await sh(n.ns, NFT, '-j', 'list', 'set', 'inet', 'cinch-nat', 'cluster-cidrs-v4'))
    const elems = v4.nftables.find((x: any) => x.set).set.elem.map((e: any) => `${e.prefix.addr}/${e.prefix.len}`)
    t.deepEqual(elems, ['10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24'])
    t.regex(await sh(n.ns, NFT, 'list', 'set', 'inet', 'cinch-nat', 'cluster-cidrs-v6'), /fd00:244:1::\/64/)
  }
})
