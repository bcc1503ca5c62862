// npm run bench:overlay — pod-to-pod across two "nodes" (namespaces on an underlay bridge that lives
// in a third namespace) over cinch's vxlan backend and routed host-gw (no encapsulation), against
// the underlay between the nodes themselves as the limit, alternated round by round in the same
// run so machine noise falls on all alike. Throughput with iperf3 (Debian's; the tool must not be
// the bottleneck, as dd into socat was at ~200 MB/s): several streams, TCP and UDP, both
// directions; reported as vxlan/underlay and host-gw/underlay. Then ping latency (median), and the
// time from a Node change to its routes being in the kernel (syncOverlay, median over 20 changes).
// Knobs: BENCH_ROUNDS (3), BENCH_SECONDS (3, per iperf3 run), BENCH_STREAMS (4).
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { median, netnsAdd, netnsDel, quantile, runAsync, sh, uniqueName } from './lib.mjs'

const root = resolve(import.meta.dirname, '..')
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3)
const STREAMS = Number(process.env.BENCH_STREAMS ?? 4)
// One UDP datagram size for every path, under the vxlan pod MTU (1450 - 28), so packet rates compare.
const UDP_LEN = 1400
const CHANGES = 20
const tmp = mkdtempSync(join(tmpdir(), 'cinch-bench-ovl-'))
const id = uniqueName('x').slice(2)
const ulay = `cinch-b-ovl-u-${id}`
const nodes = [1, 2].map((i) => ({
  name: `node${i}`, ns: `cinch-b-ovl-n${i}-${id}`, pod: `cinch-b-ovl-p${i}-${id}`,
  ip: `192.168.60.${i}`, cidr: `10.245.${i}.0/24`, gw: `10.245.${i}.1`, podIp: `10.245.${i}.10`,
}))
const nodeObjs = nodes.map((n) => ({ name: n.name, podCIDRs: [n.cidr], internalIPs: [n.ip] }))
const servers = []

const runner = join(tmp, 'sync.mts')
writeFileSync(runner, `
import { syncOverlay } from '${root}/policy-agent/overlay/apply.ts'
import { listRoutes, openRtnl } from '${root}/lib/net/index.ts'
const a = JSON.parse(process.argv[2])
if (a.op === 'sync') {
  const r = await syncOverlay({ nodeName: a.node, nodes: a.nodes, backend: a.backend })
  console.log(JSON.stringify({ podMtu: r.plan.podMtu }))
} else {
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
}
`)

const inNs = (ns, ...args) => sh('ip', ['netns', 'exec', ns, ...args])
const tsx = (ns, arg) => JSON.parse(sh('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx/esm', runner, JSON.stringify(arg)], { cwd: root }))

function setup() {
  netnsAdd(ulay)
  sh('ip', ['-n', ulay, 'link', 'add', 'br0', 'type', 'bridge'])
  sh('ip', ['-n', ulay, 'link', 'set', 'br0', 'up'])
  for (const [i, n] of nodes.entries()) {
    netnsAdd(n.ns)
    netnsAdd(n.pod)
    sh('ip', ['-n', n.ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `n${i}`, 'netns', ulay])
    sh('ip', ['-n', ulay, 'link', 'set', `n${i}`, 'master', 'br0', 'up'])
    sh('ip', ['-n', n.ns, 'addr', 'add', `${n.ip}/24`, 'dev', 'eth0'])
    sh('ip', ['-n', n.ns, 'link', 'set', 'eth0', 'up'])
    inNs(n.ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1')
    sh('ip', ['-n', n.ns, 'link', 'add', 'cinch0', 'type', 'bridge'])
    sh('ip', ['-n', n.ns, 'addr', 'add', `${n.gw}/24`, 'dev', 'cinch0'])
    sh('ip', ['-n', n.ns, 'link', 'set', 'cinch0', 'up'])
    sh('ip', ['-n', n.ns, 'link', 'add', 'cinchp1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.pod])
    sh('ip', ['-n', n.ns, 'link', 'set', 'cinchp1', 'master', 'cinch0', 'up'])
    sh('ip', ['-n', n.pod, 'addr', 'add', `${n.podIp}/24`, 'dev', 'eth0'])
    sh('ip', ['-n', n.pod, 'link', 'set', 'eth0', 'up'])
    sh('ip', ['-n', n.pod, 'route', 'add', 'default', 'via', n.gw])
  }
  // iperf3 servers: on node 2 itself (the underlay path) and in its pod (the overlay paths).
  for (const ns of [nodes[1].ns, nodes[1].pod]) servers.push(spawn('ip', ['netns', 'exec', ns, 'iperf3', '-s', '-p', '5201'], { stdio: 'ignore' }))
}

function useBackend(backend) {
  let mtu = 0
  for (const n of nodes) mtu = tsx(n.ns, { op: 'sync', node: n.name, nodes: nodeObjs, backend }).podMtu
  for (const n of nodes) {
    sh('ip', ['-n', n.ns, 'link', 'set', 'cinchp1', 'mtu', String(mtu)])
    sh('ip', ['-n', n.pod, 'link', 'set', 'eth0', 'mtu', String(mtu)])
  }
  inNs(nodes[0].pod, 'ping', '-c1', '-W2', nodes[1].podIp) // warm neighbours and caches
  return mtu
}

const TESTS = {
  'TCP 1->2': [],
  'TCP 2->1': ['-R'],
  'UDP 1->2': ['-u', '-b', '0', '-l', String(UDP_LEN)],
  'UDP 2->1': ['-u', '-b', '0', '-l', String(UDP_LEN), '-R'],
}
/** Gbit/s received, one iperf3 run from `ns` to `ip` (the server retried while it starts). */
async function iperf(ns, ip, extra) {
  for (let attempt = 0; ; attempt++) {
    try {
      const out = JSON.parse(await runAsync('ip', ['netns', 'exec', ns, 'iperf3', '-c', ip, '-p', '5201', '-J', '-t', String(SECONDS), '-P', String(STREAMS), ...extra]))
      // TCP: what the receiver got; UDP: what was sent less what the receiver lost.
      const bps = out.end.sum_received?.bits_per_second ?? out.end.sum.bits_per_second * (1 - out.end.sum.lost_percent / 100)
      return bps / 1e9
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

try {
  setup()
  const paths = ['underlay', 'vxlan', 'host-gw']
  const res = Object.fromEntries(paths.map((p) => [p, { lat: [], ...Object.fromEntries(Object.keys(TESTS).map((t) => [t, []])) }]))
  const mtus = { underlay: 1500 }
  for (let r = 0; r < ROUNDS; r++) {
    for (const path of r % 2 ? [...paths].reverse() : paths) {
      if (path !== 'underlay') mtus[path] = useBackend(path)
      const [from, to] = path === 'underlay' ? [nodes[0].ns, nodes[1].ip] : [nodes[0].pod, nodes[1].podIp]
      for (const [test, extra] of Object.entries(TESTS)) res[path][test].push(await iperf(from, to, extra))
      res[path].lat.push(latencyMs(from, to))
    }
  }
  useBackend('vxlan')
  const changes = tsx(nodes[0].ns, { op: 'changes', nodes: nodeObjs, changes: CHANGES })
  const m = (b, k) => median(res[b][k])
  console.log(`overlay bench: 2 nodes, 1 pod each; iperf3 ${STREAMS} streams x ${SECONDS} s per run, UDP ${UDP_LEN}-byte datagrams; ${ROUNDS} rounds, paths alternated`)
  console.log(`  MTU: underlay ${mtus.underlay}, vxlan pods ${mtus.vxlan}, host-gw pods ${mtus['host-gw']}`)
  console.log(`  ${'Gbit/s (median)'.padEnd(16)} ${'underlay'.padStart(9)} ${'vxlan'.padStart(9)} ${'host-gw'.padStart(9)}   vxlan/underlay (goal >= 0.9)   host-gw/underlay (goal >= 0.97)`)
  // Ratios per round (the same round's underlay), then the median of those.
  const ratio = (b, test) => median(res[b][test].map((v, i) => v / res.underlay[test][i]))
  const verdict = (x, goal) => `${x.toFixed(3)} ${x >= goal ? 'ok' : 'MISSED'}`
  for (const test of Object.keys(TESTS)) {
    console.log(`  ${test.padEnd(16)} ${m('underlay', test).toFixed(2).padStart(9)} ${m('vxlan', test).toFixed(2).padStart(9)} ${m('host-gw', test).toFixed(2).padStart(9)}   ${verdict(ratio('vxlan', test), 0.9).padEnd(29)}${verdict(ratio('host-gw', test), 0.97)}`)
  }
  console.log(`  ping latency median: underlay ${m('underlay', 'lat').toFixed(3)} ms, vxlan ${m('vxlan', 'lat').toFixed(3)} ms, host-gw ${m('host-gw', 'lat').toFixed(3)} ms`)
  console.log(`  Node change -> routes in place (syncOverlay, ${CHANGES} changes): median ${median(changes).toFixed(2)} ms, p95 ${quantile(changes, 0.95).toFixed(2)} ms`)
} finally {
  for (const s of servers) s.kill()
  for (const n of nodes) { netnsDel(n.pod); netnsDel(n.ns) }
  netnsDel(ulay)
  rmSync(tmp, { recursive: true, force: true })
}
