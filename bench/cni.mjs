// npm run bench:cni — ADD+DEL through libcni (cnictl) for cinch (cinch-bridge + cinch-ipam) and for
// the reference plugins (bridge + host-local) in the same run, interleaved so that machine noise
// falls on both alike. Prints medians, p95, a burst of concurrent ADDs, the ratios, and where
// cinch's time goes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fmt, median, netnsAdd, netnsDel, quantile, runAsync, sh, timeMs, timeMsAsync, uniqueName } from './lib.mjs'

const root = resolve(import.meta.dirname, '..')
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30)
const BURST = 20
const refDir = ['/usr/lib/cni', '/opt/cni/bin'].find((d) => {
  try {
    sh('test', ['-x', join(d, 'bridge')])
    return true
  } catch {
    return false
  }
})
if (!refDir) throw new Error('reference plugins not found: apt-get install containernetworking-plugins')

const tmp = mkdtempSync(join(tmpdir(), 'cinch-bench-'))
const hostNs = uniqueName('cinch-bench-host')
const cniPath = `${join(root, 'dist/cni')}:${refDir}`

function conflist(kind, subnet, bridge) {
  const cinch = kind === 'cinch'
  // Debian's libcni and reference plugins stop at 1.0.0; both sides speak it here.
  return {
    cniVersion: '1.0.0',
    name: `bench-${kind}`,
    plugins: [
      {
        type: cinch ? 'cinch-bridge' : 'bridge',
        bridge,
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ...(cinch ? { stateDir: join(tmp, 'state'), agentSocket: join(tmp, 'none.sock') } : {}),
        ipam: { type: cinch ? 'cinch-ipam' : 'host-local', ranges: [[{ subnet }]], dataDir: join(tmp, `ipam-${kind}`) },
      },
    ],
  }
}

const confs = {
  cinch: join(tmp, 'cinch.conflist'),
  reference: join(tmp, 'reference.conflist'),
}
writeFileSync(confs.cinch, JSON.stringify(conflist('cinch', '10.250.0.0/16', 'cinchbench0')))
writeFileSync(confs.reference, JSON.stringify(conflist('reference', '10.251.0.0/16', 'refbench0')))

const env = { ...process.env, CNI_PATH: cniPath, CNI_CACHE_DIR: join(tmp, 'cache') }
const inHost = (args) => ['netns', 'exec', hostNs, ...args]

function cnictl(verb, kind, podNs, id) {
  return timeMs(() => sh('ip', inHost(['cnictl', verb, confs[kind], `/var/run/netns/${podNs}`, id]), { env }))
}

const results = { cinch: { add: [], del: [] }, reference: { add: [], del: [] } }
const pods = []

try {
  netnsAdd(hostNs)
  // Warm both paths once (page cache, bridge creation) before measuring.
  for (const kind of ['cinch', 'reference']) {
    const p = uniqueName('cinch-bench-pod')
    netnsAdd(p)
    pods.push(p)
    cnictl('add', kind, p, `warm-${kind}`)
    cnictl('del', kind, p, `warm-${kind}`)
  }
  for (let i = 0; i < ROUNDS; i++) {
    for (const kind of i % 2 ? ['cinch', 'reference'] : ['reference', 'cinch']) {
      const p = uniqueName('cinch-bench-pod')
      netnsAdd(p)
      pods.push(p)
      results[kind].add.push(cnictl('add', kind, p, `c${i}-${kind}`))
      results[kind].del.push(cnictl('del', kind, p, `c${i}-${kind}`))
    }
  }

  const burst = {}
  for (const kind of ['reference', 'cinch']) {
    const ns = Array.from({ length: BURST }, () => {
      const p = uniqueName('cinch-bench-pod')
      netnsAdd(p)
      pods.push(p)
      return p
    })
    burst[kind] = await timeMsAsync(() =>
      Promise.all(ns.map((p, i) => runAsync('ip', inHost(['cnictl', 'add', confs[kind], `/var/run/netns/${p}`, `b${i}-${kind}`]), { env }))),
    )
    await Promise.all(ns.map((p, i) => runAsync('ip', inHost(['cnictl', 'del', confs[kind], `/var/run/netns/${p}`, `b${i}-${kind}`]), { env })))
  }

  // Where cinch's time goes: Node's own start, loading the bundle (VERSION does nothing else),
  // the IPAM plugin's ADD+DEL on its own, and the rest (config, netlink, nft) by difference.
  const nodeStart = median(Array.from({ length: 15 }, () => timeMs(() => sh('node', ['-e', '0']))))
  const versionIn = JSON.stringify({ cniVersion: '1.1.0' })
  const bridgeLoad = median(
    Array.from({ length: 15 }, () => timeMs(() => sh(join(root, 'dist/cni/cinch-bridge'), [], { input: versionIn, env: { ...env, CNI_COMMAND: 'VERSION' } }))),
  )
  const ipamConf = JSON.stringify({ cniVersion: '1.1.0', name: 'bench-ipam', ipam: { type: 'cinch-ipam', ranges: [[{ subnet: '10.252.0.0/16' }]], dataDir: join(tmp, 'ipam-only') } })
  const ipamEnv = (cmd, i) => ({ ...env, CNI_COMMAND: cmd, CNI_CONTAINERID: `ipam${i}`, CNI_NETNS: '/proc/self/ns/net', CNI_IFNAME: 'eth0' })
  const ipamAdd = []
  for (let i = 0; i < 15; i++) {
    ipamAdd.push(timeMs(() => sh(join(root, 'dist/cni/cinch-ipam'), [], { input: ipamConf, env: ipamEnv('ADD', i) })))
    sh(join(root, 'dist/cni/cinch-ipam'), [], { input: ipamConf, env: ipamEnv('DEL', i) })
  }
  const goStart = median(Array.from({ length: 15 }, () => timeMs(() => sh(join(refDir, 'host-local'), [], { input: versionIn, env: { ...env, CNI_COMMAND: 'VERSION' } }))))

  const row = (label, c, r) => console.log(`${label.padEnd(28)} ${fmt(c).padStart(10)} ${fmt(r).padStart(10)} ${(c / r).toFixed(2).padStart(7)}x`)
  console.log(`\ncinch vs reference bridge+host-local through libcni (${ROUNDS} rounds, interleaved)`)
  console.log(`${''.padEnd(28)} ${'cinch'.padStart(10)} ${'reference'.padStart(10)} ${'ratio'.padStart(8)}`)
  row('ADD median', median(results.cinch.add), median(results.reference.add))
  row('ADD p95', quantile(results.cinch.add, 0.95), quantile(results.reference.add, 0.95))
  row('DEL median', median(results.cinch.del), median(results.reference.del))
  row('DEL p95', quantile(results.cinch.del, 0.95), quantile(results.reference.del, 0.95))
  row(`burst of ${BURST} ADDs (wall)`, burst.cinch, burst.reference)
  const addMedian = median(results.cinch.add)
  const ipamMedian = median(ipamAdd)
  console.log(`\nwhere a cinch ADD goes (medians; the ADD includes cnictl and two plugin processes)`)
  console.log(`  Node's own start (node -e 0)         ${fmt(nodeStart)}`)
  console.log(`  Go plugin start (host-local VERSION)  ${fmt(goStart)}`)
  console.log(`  cinch-bridge start (VERSION)          ${fmt(bridgeLoad)}  (bundle load beyond Node: ${fmt(bridgeLoad - nodeStart)})`)
  console.log(`  cinch-ipam ADD, whole process         ${fmt(ipamMedian)}  (IPAM work beyond Node: ${fmt(ipamMedian - nodeStart)})`)
  console.log(`  config + netlink + nft, by difference ${fmt(addMedian - ipamMedian - bridgeLoad)}`)
  console.log(`\nADD median ratio ${(addMedian / median(results.reference.add)).toFixed(2)} (goal <= 1.5)`)
} finally {
  for (const p of pods) netnsDel(p)
  netnsDel(hostNs)
  rmSync(tmp, { recursive: true, force: true })
}
