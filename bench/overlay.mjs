// npm run bench:overlay — pod-to-pod across two "nodes" (namespaces on an underlay bridge that lives
// in a third namespace) over cinch's vxlan backend vs the same pods routed host-gw (no
// encapsulation), alternated round by round in the same run so machine noise falls on both alike:
// TCP throughput (a bounded transfer), ping latency (median), as vxlan/host-gw ratios. Then the
// time from a Node change to its routes being in the kernel (syncOverlay, median over 20 changes).
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { median, netnsAdd, netnsDel, quantile, runAsync, sh, uniqueName } from './lib.mjs'

const root = resolve(import.meta.dirname, '..')
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const MB = Number(process.env.BENCH_MB ?? 200)
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
  servers.push(spawn('ip', ['netns', 'exec', nodes[1].pod, 'socat', '-u', 'TCP-LISTEN:5001,reuseaddr,fork', 'OPEN:/dev/null'], { stdio: 'ignore' }))
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

async function throughputMBps() {
  const t = performance.now()
  await runAsync('sh', ['-c', `dd if=/dev/zero bs=1M count=${MB} status=none | ip netns exec ${nodes[0].pod} socat -u - TCP:${nodes[1].podIp}:5001`])
  return MB / ((performance.now() - t) / 1000)
}

function latencyMs() {
  const out = inNs(nodes[0].pod, 'ping', '-c', '50', '-i', '0.01', nodes[1].podIp)
  return median([...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])))
}

try {
  setup()
  const res = { vxlan: { tput: [], lat: [] }, 'host-gw': { tput: [], lat: [] } }
  const mtus = {}
  for (let r = 0; r < ROUNDS; r++) {
    for (const backend of r % 2 ? ['host-gw', 'vxlan'] : ['vxlan', 'host-gw']) {
      mtus[backend] = useBackend(backend)
      res[backend].tput.push(await throughputMBps())
      res[backend].lat.push(latencyMs())
    }
  }
  useBackend('vxlan')
  const changes = tsx(nodes[0].ns, { op: 'changes', nodes: nodeObjs, changes: CHANGES })
  const m = (b, k) => median(res[b][k])
  console.log(`overlay bench: 2 nodes, 1 pod each, ${ROUNDS} rounds per backend, ${MB} MB per transfer`)
  for (const b of ['vxlan', 'host-gw']) {
    console.log(`  ${b.padEnd(8)} pod MTU ${mtus[b]}: throughput ${m(b, 'tput').toFixed(0)} MB/s, latency median ${m(b, 'lat').toFixed(3)} ms`)
  }
  console.log(`  ratio vxlan/host-gw: throughput ${(m('vxlan', 'tput') / m('host-gw', 'tput')).toFixed(2)}, latency ${(m('vxlan', 'lat') / m('host-gw', 'lat')).toFixed(2)}`)
  console.log(`  Node change -> routes in place (syncOverlay, ${CHANGES} changes): median ${median(changes).toFixed(2)} ms, p95 ${quantile(changes, 0.95).toFixed(2)} ms`)
} finally {
  for (const s of servers) s.kill()
  for (const n of nodes) { netnsDel(n.pod); netnsDel(n.ns) }
  netnsDel(ulay)
  rmSync(tmp, { recursive: true, force: true })
}
