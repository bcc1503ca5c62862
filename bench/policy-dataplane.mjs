// Dataplane part of bench/policy.mjs and bench/policy-scale.mjs: two pod namespaces on a Linux
// bridge inside a "host" namespace (never the real host's), br_netfilter on there, a TCP server in
// one pod and bounded clients in the other: new connections per second and a bounded transfer,
// with the CPU time each cost (the figure that holds still on a shared machine; README).
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { median, netnsAdd, procCpuMs, sh } from './lib.mjs'

// The server: every connection is read to its end, then answered with one byte (a transfer) or
// simply dropped (a connect-rate client resets it at once).
const SERVER = `
import { createServer } from 'node:net'
const srv = createServer((s) => {
  s.on('error', () => {})
  let n = 0
  s.on('data', (b) => { n += b.length })
  s.on('end', () => { if (n > 0) s.end('k'); else s.destroy() })
})
srv.listen(Number(process.argv[2]), () => process.stdout.write('ready\\n'))
`

// The clients: "cps HOST PORT SECONDS CONCURRENCY" connects in a loop (reset on connect, so no
// TIME_WAIT piles up) and prints the count; "xfer HOST PORT MB" sends MB and prints the seconds.
// Both print the CPU time the client used meanwhile (user + system: on veths the packet's path
// through the bridge, nftables and the server's TCP runs as softirq in the sender's context).
const CLIENT = `
import { connect } from 'node:net'
const [mode, host, port, a, b] = process.argv.slice(2)
let cpu0
const cpuMs = () => { const u = process.cpuUsage(cpu0); return (u.user + u.system) / 1000 }
if (mode === 'cps') {
  const end = performance.now() + Number(a) * 1000
  let done = 0, failed = 0
  const one = () => new Promise((res) => {
    const s = connect({ host, port: Number(port) })
    s.on('connect', () => { done++; s.resetAndDestroy(); res() })
    s.on('error', () => { failed++; res() })
  })
  const loop = async () => { while (performance.now() < end) await one() }
  const t0 = performance.now()
  cpu0 = process.cpuUsage()
  await Promise.all(Array.from({ length: Number(b) }, loop))
  console.log(JSON.stringify({ perSecond: done / ((performance.now() - t0) / 1000), done, failed, cpuMs: cpuMs() }))
} else {
  const chunk = Buffer.alloc(1 << 20, 7)
  const s = connect({ host, port: Number(port) })
  const t0 = performance.now()
  cpu0 = process.cpuUsage()
  let left = Number(a)
  s.on('connect', function pump() {
    while (left > 0) { left--; if (!s.write(chunk)) return void s.once('drain', pump) }
    s.end()
  })
  s.on('data', () => { const sec = (performance.now() - t0) / 1000; console.log(JSON.stringify({ mbPerSecond: Number(a) / sec, cpuMs: cpuMs() })); s.destroy() })
  s.on('error', (e) => { console.error(String(e)); process.exit(1) })
}
`

/**
 * Builds host netns `host` (unless `hostExists`: the namespace of a running agent) with bridge
 * cinch0 and two pods: `client` and `server` on host veths named as the local pods' hostVeth,
 * holding their IPv4 addresses.
 */
export function setupPods({ host, pods, track, hostExists = false }) {
  if (!hostExists) {
    netnsAdd(host)
    track.netns(host)
  }
  sh('ip', ['-n', host, 'link', 'add', 'cinch0', 'type', 'bridge'])
  sh('ip', ['-n', host, 'link', 'set', 'cinch0', 'up'])
  // br_netfilter: bridged IPv4 between two pods goes through the inet forward hook (README).
  sh('ip', ['netns', 'exec', host, 'sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=1', 'net.bridge.bridge-nf-call-ip6tables=1'])
  for (const p of pods) {
    netnsAdd(p.netns)
    track.netns(p.netns)
    sh('ip', ['-n', host, 'link', 'add', p.hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', p.netns])
    sh('ip', ['-n', host, 'link', 'set', p.hostVeth, 'master', 'cinch0', 'up'])
    sh('ip', ['-n', p.netns, 'addr', 'add', `${p.ip}/16`, 'dev', 'eth0'])
    sh('ip', ['-n', p.netns, 'link', 'set', 'eth0', 'up'])
  }
}

export function writeScripts(dir) {
  writeFileSync(join(dir, 'server.mjs'), SERVER)
  writeFileSync(join(dir, 'client.mjs'), CLIENT)
}

// The server's pid by netns, so that compareRulesets can charge its CPU time to each run.
const serverPids = new Map()

/** Starts the server in `netns`; resolves once it listens. */
export function startServer({ dir, netns, port, track }) {
  // `ip netns exec` execs the command: the child's pid is the server's.
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, join(dir, 'server.mjs'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] })
  track.child(child)
  serverPids.set(netns, child.pid)
  return new Promise((resolve, reject) => {
    child.stdout.once('data', () => resolve(child))
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)))
  })
}

/** Runs one client in `netns` and returns its JSON line. */
export function runClient({ dir, netns, args, track }) {
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, join(dir, 'client.mjs'), ...args.map(String)], { stdio: ['ignore', 'pipe', 'pipe'] })
  track.child(child)
  let out = '', err = ''
  child.stdout.on('data', (b) => (out += b))
  child.stderr.on('data', (b) => (err += b))
  return new Promise((resolve, reject) => child.on('close', (code) => {
    if (code === 0) resolve(JSON.parse(out.trim().split('\n').pop()))
    else reject(new Error(`client ${args.join(' ')} exited ${code}: ${err}`))
  }))
}

/**
 * Connections per second and throughput from `client` to `server` under each ruleset of
 * `configs` ({ name: apply() }), alternated round by round (machine noise falls on all alike),
 * conntrack flushed before each run. Returns { name: { cps: [], mbs: [], usPerConn: [], msPerMb: [] } }:
 * the rates, and the CPU time client and server used per connection (us) and per MB (ms). The
 * rates fall with any load on the machine (other engineers, a process still busy after the
 * ruleset's apply); the CPU cost per connection or MB is the figure the rules themselves move.
 */
export async function compareRulesets({ dir, host, client, server, port, configs, rounds, seconds, mb, track }) {
  const results = Object.fromEntries(Object.keys(configs).map((k) => [k, { cps: [], mbs: [], usPerConn: [], msPerMb: [] }]))
  const names = Object.keys(configs)
  const serverPid = serverPids.get(server.netns)
  const run = async (args) => {
    const s0 = serverPid ? procCpuMs(serverPid) : 0
    const out = await runClient({ dir, netns: client.netns, args, track })
    return { ...out, cpuMs: out.cpuMs + (serverPid ? procCpuMs(serverPid) - s0 : 0) }
  }
  for (let r = 0; r < rounds; r++) {
    for (const cfg of r % 2 ? [...names].reverse() : names) {
      await configs[cfg]()
      sh('ip', ['netns', 'exec', host, 'conntrack', '-F'], { stdio: 'ignore' })
      const cps = await run(['cps', server.ip, port, seconds, 8])
      if (cps.failed) throw new Error(`${cps.failed} connections failed under ${cfg}`)
      const x = await run(['xfer', server.ip, port, mb])
      results[cfg].cps.push(cps.perSecond)
      results[cfg].mbs.push(x.mbPerSecond)
      results[cfg].usPerConn.push((cps.cpuMs * 1000) / cps.done)
      results[cfg].msPerMb.push(x.cpuMs / mb)
    }
  }
  return results
}

/**
 * The figures of compareRulesets for `cfg` against `base`, each a median over rounds and the
 * median of the per-round ratios (rounds are alternated, so a round's pair shared the machine).
 * Cost ratios are base cost / cfg cost: the rate ratio the rules would allow on an idle machine.
 */
export function summarize(results, cfg, base = 'none') {
  const b = results[base], c = results[cfg]
  const med = (xs) => median(xs)
  const ratio = (k, inv) => med(c[k].map((v, j) => (inv ? b[k][j] / v : v / b[k][j])))
  return {
    cps: { base: med(b.cps), cfg: med(c.cps), ratio: ratio('cps') },
    mbs: { base: med(b.mbs), cfg: med(c.mbs), ratio: ratio('mbs') },
    usPerConn: { base: med(b.usPerConn), cfg: med(c.usPerConn), ratio: ratio('usPerConn', true) },
    msPerMb: { base: med(b.msPerMb), cfg: med(c.msPerMb), ratio: ratio('msPerMb', true) },
  }
}
