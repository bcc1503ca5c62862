// npm run bench:overlay — pod-to-pod across two "nodes" (namespaces on an underlay bridge that lives
// in a third namespace), against the underlay between the nodes themselves as the limit, with
// iperf3 (Debian's; the tool must not be the bottleneck, as dd into socat was at ~200 MB/s):
// several streams, TCP and UDP, both directions. Five paths, alternated round by round in the
// same run so machine noise falls on all alike:
//   underlay        node 1 -> node 2 (eth0 to eth0 over the underlay bridge)
//   base-vxlan      a BASELINE pod network without cinch, the reference plugins' shape: a plain
//   base-host-gw    Linux bridge, veths, plain routes, a plain `ip link add type vxlan` device;
//                   no nftables, no br_netfilter. What any pod network pays in this topology.
//   vxlan, host-gw  cinch itself: a lab cluster per backend (lab/cluster.ts: the built agent per
//                   node, pods attached by the built cinch-bridge through libcni), so its device
//                   settings, nft tables, conntrack and br_netfilter are all on the path.
// Printed: each path's Gbit/s, the goals (cinch/underlay), baseline/underlay (the topology's
// price) and cinch/baseline (the part cinch controls). Then the same TCP runs on an emulated wire:
// every node's eth0 shaped to BENCH_WIRE_GBIT (tbf), which asks whether the pod path keeps up with
// a link, as it would with a real NIC; here the "wire" is memory and the underlay is CPU-bound,
// so unshaped every extra veth hop costs throughput one for one (see bench/README.md).
// Then ping latency (median), and the time from a Node change to its routes being in the kernel.
// Knobs: BENCH_ROUNDS (3), BENCH_SECONDS (3, per iperf3 run), BENCH_STREAMS (4), BENCH_WIRE_GBIT
// (10; 0 skips the shaped runs). About 110 s a round at the defaults; builds dist/ first.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { register } from 'tsx/esm/api'
import { median, netnsAdd, netnsDel, quantile, runAsync, sh, uniqueName } from './lib.mjs'

register()
const { Cluster } = await import('../lab/cluster.ts')

const root = resolve(import.meta.dirname, '..')
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3)
const STREAMS = Number(process.env.BENCH_STREAMS ?? 4)
const WIRE_GBIT = Number(process.env.BENCH_WIRE_GBIT ?? 10)
// One UDP datagram size for every path, under the vxlan pod MTU (1450 - 28), so packet rates compare.
const UDP_LEN = 1400
const CHANGES = 20
const BRNF = ['net.bridge.bridge-nf-call-iptables=0', 'net.bridge.bridge-nf-call-ip6tables=0', 'net.bridge.bridge-nf-call-arptables=0']
const tmp = mkdtempSync(join(tmpdir(), 'cinch-bench-ovl-'))
const id = uniqueName('x').slice(2)
const ulay = `cinch-b-ovl-u-${id}`
const nodes = [1, 2].map((i) => ({
  name: `node${i}`, ns: `cinch-b-ovl-n${i}-${id}`, pod: `cinch-b-ovl-p${i}-${id}`,
  ip: `192.168.60.${i}`, cidr: `10.245.${i}.0/24`, gw: `10.245.${i}.1`, podIp: `10.245.${i}.10`,
  vtep: `10.245.${i}.0`, mac: `0e:63:c0:a8:3c:0${i}`,
}))
const nodeObjs = nodes.map((n) => ({ name: n.name, podCIDRs: [n.cidr], internalIPs: [n.ip] }))
const servers = []
const clusters = {}

const runner = join(tmp, 'sync.mts')
writeFileSync(runner, `
import { syncOverlay } from '${root}/policy-agent/overlay/apply.ts'
import { listRoutes, openRtnl } from '${root}/lib/net/index.ts'
const a = JSON.parse(process.argv[2])
// Node changes: a third node joins and leaves, alternately; each sync resolves once the kernel
// acknowledged the last netlink request, and we check the route is really there (or gone).
const nl = openRtnl()
const extra = { name: 'node3', podCIDRs: ['10.245.3.0/24'], internalIPs: ['192.168.60.3'] }
const ms = []
for (let i = 0; i < a.changes; i++) {
  const joined = i % 2 === 0
  const t = performance.now()
  await syncOverlay({ nodeName: 'node1', nodes: joined ? [...a.nodes, extra] : a.nodes, backend: 'vxlan', nl })
  ms.push(performance.now() - t)
  const has = (await listRoutes(nl, { proto: 193 })).some((r) => r.dst === '10.245.3.0/24')
  if (has !== joined) throw new Error('route not in the expected state after sync ' + i)
}
console.log(JSON.stringify(ms))
process.exit(0)
`)

const inNs = (ns, ...args) => sh('ip', ['netns', 'exec', ns, ...args])
const iperfServer = (ns) => servers.push(spawn('ip', ['netns', 'exec', ns, 'iperf3', '-s', '-p', '5201'], { stdio: 'ignore' }))

/** The baseline: the reference plugins' shape, built with `ip` alone; no nftables, no br_netfilter. */
function setupBaseline() {
  netnsAdd(ulay)
  inNs(ulay, 'sysctl', '-qw', ...BRNF) // the underlay bridge is the switch: no netfilter there
  sh('ip', ['-n', ulay, 'link', 'add', 'br0', 'type', 'bridge'])
  sh('ip', ['-n', ulay, 'link', 'set', 'br0', 'up'])
  for (const [i, n] of nodes.entries()) {
    const peer = nodes[1 - i]
    netnsAdd(n.ns)
    netnsAdd(n.pod)
    inNs(n.ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', ...BRNF)
    sh('ip', ['-n', n.ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `n${i}`, 'netns', ulay])
    sh('ip', ['-n', ulay, 'link', 'set', `n${i}`, 'master', 'br0', 'up'])
    sh('ip', ['-n', n.ns, 'addr', 'add', `${n.ip}/24`, 'dev', 'eth0'])
    sh('ip', ['-n', n.ns, 'link', 'set', 'eth0', 'up'])
    sh('ip', ['-n', n.ns, 'link', 'add', 'cni0', 'type', 'bridge'])
    sh('ip', ['-n', n.ns, 'addr', 'add', `${n.gw}/24`, 'dev', 'cni0'])
    sh('ip', ['-n', n.ns, 'link', 'set', 'cni0', 'up'])
    sh('ip', ['-n', n.ns, 'link', 'add', 'veth1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.pod])
    sh('ip', ['-n', n.ns, 'link', 'set', 'veth1', 'master', 'cni0', 'up'])
    sh('ip', ['-n', n.pod, 'addr', 'add', `${n.podIp}/24`, 'dev', 'eth0'])
    sh('ip', ['-n', n.pod, 'link', 'set', 'eth0', 'up'])
    sh('ip', ['-n', n.pod, 'route', 'add', 'default', 'via', n.gw])
    // A plain vxlan device, as flannel makes it (same VNI, port, VTEP scheme as cinch's).
    sh('ip', ['-n', n.ns, 'link', 'add', 'vx0', 'type', 'vxlan', 'id', '4096', 'local', n.ip, 'dev', 'eth0', 'dstport', '4789', 'nolearning'])
    sh('ip', ['-n', n.ns, 'link', 'set', 'vx0', 'address', n.mac, 'mtu', '1450', 'up'])
    sh('ip', ['-n', n.ns, 'addr', 'add', `${n.vtep}/32`, 'dev', 'vx0'])
    sh('ip', ['-n', n.ns, 'neigh', 'replace', peer.vtep, 'lladdr', peer.mac, 'dev', 'vx0'])
    sh('bridge', ['-n', n.ns, 'fdb', 'append', peer.mac, 'dev', 'vx0', 'dst', peer.ip])
  }
  // iperf3 servers: on node 2 itself (the underlay path) and in its pod (the baseline paths).
  iperfServer(nodes[1].ns)
  iperfServer(nodes[1].pod)
}

/** Points the baseline's routes at one backend, with that backend's pod MTU. */
function baselineUse(backend) {
  const mtu = backend === 'vxlan' ? 1450 : 1500
  for (const [i, n] of nodes.entries()) {
    const peer = nodes[1 - i]
    const via = backend === 'vxlan' ? ['via', peer.vtep, 'dev', 'vx0', 'onlink'] : ['via', peer.ip, 'dev', 'eth0']
    sh('ip', ['-n', n.ns, 'route', 'replace', peer.cidr, ...via])
    sh('ip', ['-n', n.ns, 'link', 'set', 'veth1', 'mtu', String(mtu)])
    sh('ip', ['-n', n.pod, 'link', 'set', 'eth0', 'mtu', String(mtu)])
  }
  inNs(nodes[0].pod, 'ping', '-c1', '-W2', nodes[1].podIp) // warm neighbours and caches
}

/** cinch as deployed: agents, pods through cinch-bridge; one cluster per backend. */
async function setupCinch(backend) {
  const dist = join(root, 'dist')
  const refs = ['/usr/lib/cni', '/opt/cni/bin'].filter((p) => existsSync(p))
  const c = await Cluster.create({
    name: `cinch-b-ovl-${backend === 'vxlan' ? 'v' : 'h'}-${id}`, dir: join(tmp, backend), nodes: 2, backend,
    cinch: [process.execPath, join(dist, 'bin/cinch')], cniPath: [join(dist, 'cni'), ...refs].join(':'),
  })
  clusters[backend] = c
  inNs(c.underlay, 'sysctl', '-qw', ...BRNF) // the switch, as in the baseline
  const [p1, p2] = await c.addPods([{ namespace: 'default', name: 'p1', node: 'node1' }, { namespace: 'default', name: 'p2', node: 'node2' }])
  iperfServer(p2.netns)
  inNs(p1.netns, 'ping', '-c1', '-W2', p2.ip4)
  return { from: p1.netns, to: p2.ip4, mtu: c.podMtu('node1'), nodes: c.nodes.map((n) => n.netns) }
}

/** Shapes (or unshapes, gbit 0) every node's eth0 egress: an emulated wire of `gbit`. */
function shapeWire(nss, gbit) {
  for (const ns of nss) {
    if (gbit) sh('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'replace', 'dev', 'eth0', 'root', 'tbf', 'rate', `${gbit}gbit`, 'burst', '1mb', 'latency', '10ms'])
    else sh('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root'], { stdio: 'ignore' })
  }
}

const TESTS = {
  'TCP 1->2': [],
  'TCP 2->1': ['-R'],
  'UDP 1->2': ['-u', '-b', '0', '-l', String(UDP_LEN)],
  'UDP 2->1': ['-u', '-b', '0', '-l', String(UDP_LEN), '-R'],
}
const WIRE_TESTS = ['TCP 1->2', 'TCP 2->1']
/** Gbit/s received, one iperf3 run from `ns` to `ip` (the server retried while it starts). */
async function iperf(ns, ip, extra) {
  for (let attempt = 0; ; attempt++) {
    try {
      const out = JSON.parse(await runAsync('ip', ['netns', 'exec', ns, 'iperf3', '-c', ip, '-p', '5201', '-J', '-t', String(SECONDS), '-P', String(STREAMS), ...extra]))
      // TCP: what the receiver got; UDP: what was sent less what the receiver lost.
      const sum = out.end.sum_received ?? out.end.sum
      const bps = out.end.sum_received?.bits_per_second ?? out.end.sum.bits_per_second * (1 - out.end.sum.lost_percent / 100)
      // CPU both iperf3 processes used (getrusage: user + system; without IRQ time accounting the
      // kernel charges softirq work done in a task's context to that task, and on veths the whole
      // path runs in the sender's) per GB delivered: the path's cost, which other engineers' load
      // moves far less than the throughput it leaves us.
      const cpu = out.end.cpu_utilization_percent
      const cpuMsPerGB = ((cpu.host_total + cpu.remote_total) / 100) * sum.seconds * 1000 / (bps * sum.seconds / 8e9)
      // TCP retransmits without a drop anywhere on the path are reordering: see bench/README.md.
      return { gbps: bps / 1e9, cpuMsPerGB, retr: out.end.sum_sent?.retransmits ?? 0 }
    } catch (err) {
      if (attempt >= 20) throw err
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}

function latencyMs(from, to) {
  const out = inNs(from, 'ping', '-c', '50', '-i', '0.01', to)
  return median([...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])))
}

const load = () => sh('cat', ['/proc/loadavg']).split(' ').slice(0, 3).join(' ')

try {
  // The cinch paths run the built agent and plugins: build them from this tree, as bench:cni does.
  sh('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' })
  setupBaseline()
  const cinch = { vxlan: await setupCinch('vxlan'), 'host-gw': await setupCinch('host-gw') }
  const baseNodes = nodes.map((n) => n.ns)
  const allNodes = [...baseNodes, ...cinch.vxlan.nodes, ...cinch['host-gw'].nodes]
  const paths = ['underlay', 'base-vxlan', 'vxlan', 'base-host-gw', 'host-gw']
  const endpoints = (path) => {
    if (path === 'underlay') return [nodes[0].ns, nodes[1].ip]
    if (path.startsWith('base-')) { baselineUse(path.slice(5)); return [nodes[0].pod, nodes[1].podIp] }
    return [cinch[path].from, cinch[path].to]
  }
  const empty = () => Object.fromEntries(paths.map((p) => [p, { lat: [], ...Object.fromEntries(Object.keys(TESTS).map((t) => [t, []])) }]))
  const res = empty()
  const wire = empty()
  const cost = empty()
  const retr = empty()
  const loads = [load()]
  for (let r = 0; r < ROUNDS; r++) {
    for (const path of r % 2 ? [...paths].reverse() : paths) {
      const [from, to] = endpoints(path)
      for (const [test, extra] of Object.entries(TESTS)) {
        const r = await iperf(from, to, extra)
        res[path][test].push(r.gbps)
        cost[path][test].push(r.cpuMsPerGB)
        retr[path][test].push(r.retr)
      }
      res[path].lat.push(latencyMs(from, to))
    }
    if (WIRE_GBIT) {
      shapeWire(allNodes, WIRE_GBIT)
      for (const path of r % 2 ? paths : [...paths].reverse()) {
        const [from, to] = endpoints(path)
        for (const test of WIRE_TESTS) wire[path][test].push((await iperf(from, to, TESTS[test])).gbps)
      }
      shapeWire(allNodes, 0)
    }
    loads.push(load())
  }
  // syncOverlay's own device replaces the plain one (two devices cannot share VNI and port).
  for (const n of nodes) sh('ip', ['-n', n.ns, 'link', 'del', 'vx0'])
  const changes = JSON.parse(sh('ip', ['netns', 'exec', nodes[0].ns, process.execPath, '--import', 'tsx/esm', runner, JSON.stringify({ nodes: nodeObjs, changes: CHANGES })], { cwd: root }))
  const m = (b, k) => median(res[b][k])
  // Ratios per round (the same round's denominator), then the median of those.
  const ratio = (set, a, b, test) => median(set[a][test].map((v, i) => v / set[b][test][i]))
  const verdict = (x, goal) => `${x.toFixed(3)} ${x >= goal ? 'ok' : 'MISSED'}`
  const col = (s, w = 8) => String(s).padStart(w)
  console.log(`overlay bench: 2 nodes, 1 pod each; iperf3 ${STREAMS} streams x ${SECONDS} s per run, UDP ${UDP_LEN}-byte datagrams; ${ROUNDS} rounds, paths alternated; load average ${loads.join(' | ')}`)
  console.log(`  MTU: underlay 1500, vxlan pods ${cinch.vxlan.mtu} (baseline 1450), host-gw pods ${cinch['host-gw'].mtu} (baseline 1500)`)
  console.log(`  ${'Gbit/s (median)'.padEnd(16)}${col('underlay', 9)}${col('b-vxlan', 9)}${col('vxlan', 9)}${col('b-hostgw', 9)}${col('host-gw', 9)}   vxlan/ul (>=0.9)  host-gw/ul (>=0.97)  b-vxlan/ul b-hostgw/ul  vxlan/base host-gw/base`)
  for (const test of Object.keys(TESTS)) {
    console.log(`  ${test.padEnd(16)}${paths.map((p) => col(m(p, test).toFixed(2), 9)).join('')}   ${verdict(ratio(res, 'vxlan', 'underlay', test), 0.9).padEnd(18)}${verdict(ratio(res, 'host-gw', 'underlay', test), 0.97).padEnd(21)}${col(ratio(res, 'base-vxlan', 'underlay', test).toFixed(3), 10)}${col(ratio(res, 'base-host-gw', 'underlay', test).toFixed(3), 12)}${col(ratio(res, 'vxlan', 'base-vxlan', test).toFixed(3), 12)}${col(ratio(res, 'host-gw', 'base-host-gw', test).toFixed(3), 13)}`)
  }
  console.log(`  ${'CPU ms per GB'.padEnd(16)}${paths.map((p) => col(p === 'base-host-gw' ? 'b-hostgw' : p === 'base-vxlan' ? 'b-vxlan' : p, 9)).join('')}   (iperf3's CPU, both ends, per GB delivered)  b-vxlan/ul b-hostgw/ul  vxlan/base host-gw/base`)
  for (const test of Object.keys(TESTS)) {
    console.log(`  ${test.padEnd(16)}${paths.map((p) => col(median(cost[p][test]).toFixed(0), 9)).join('')}${' '.repeat(39)}${col(ratio(cost, 'base-vxlan', 'underlay', test).toFixed(3), 10)}${col(ratio(cost, 'base-host-gw', 'underlay', test).toFixed(3), 12)}${col(ratio(cost, 'vxlan', 'base-vxlan', test).toFixed(3), 12)}${col(ratio(cost, 'host-gw', 'base-host-gw', test).toFixed(3), 13)}`)
  }
  for (const test of ['TCP 1->2', 'TCP 2->1']) console.log(`  ${(test + ' retr').padEnd(16)}${paths.map((p) => col(median(retr[p][test]).toFixed(0), 9)).join('')}   (TCP retransmits per run, median)`)
  if (WIRE_GBIT) {
    console.log(`  on an emulated ${WIRE_GBIT} Gbit/s wire (tbf on every node's eth0):`)
    for (const test of WIRE_TESTS) {
      const mw = (p) => median(wire[p][test])
      console.log(`  ${test.padEnd(16)}${paths.map((p) => col(mw(p).toFixed(2), 9)).join('')}   ${verdict(ratio(wire, 'vxlan', 'underlay', test), 0.9).padEnd(18)}${verdict(ratio(wire, 'host-gw', 'underlay', test), 0.97).padEnd(21)}${col(ratio(wire, 'base-vxlan', 'underlay', test).toFixed(3), 10)}${col(ratio(wire, 'base-host-gw', 'underlay', test).toFixed(3), 12)}${col(ratio(wire, 'vxlan', 'base-vxlan', test).toFixed(3), 12)}${col(ratio(wire, 'host-gw', 'base-host-gw', test).toFixed(3), 13)}`)
    }
  }
  console.log(`  ping latency median (ms): ${paths.map((p) => `${p} ${m(p, 'lat').toFixed(3)}`).join(', ')}`)
  console.log(`  Node change -> routes in place (syncOverlay, ${CHANGES} changes): median ${median(changes).toFixed(2)} ms, p95 ${quantile(changes, 0.95).toFixed(2)} ms`)
} finally {
  for (const s of servers) s.kill()
  for (const c of Object.values(clusters)) await c.destroy().catch(() => {})
  for (const n of nodes) { netnsDel(n.pod); netnsDel(n.ns) }
  netnsDel(ulay)
  rmSync(tmp, { recursive: true, force: true })
}
