// Dataplane part of bench/policy.mjs: two pod namespaces on a Linux bridge inside a "host"
// namespace (never the real host's), br_netfilter on there, a TCP server in one pod and bounded
// clients in the other: new connections per second and a bounded transfer.
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { netnsAdd, sh } from './lib.mjs'

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
const CLIENT = `
import { connect } from 'node:net'
const [mode, host, port, a, b] = process.argv.slice(2)
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
  await Promise.all(Array.from({ length: Number(b) }, loop))
  console.log(JSON.stringify({ perSecond: done / ((performance.now() - t0) / 1000), failed }))
} else {
  const chunk = Buffer.alloc(1 << 20, 7)
  const s = connect({ host, port: Number(port) })
  const t0 = performance.now()
  let left = Number(a)
  s.on('connect', function pump() {
    while (left > 0) { left--; if (!s.write(chunk)) return void s.once('drain', pump) }
    s.end()
  })
  s.on('data', () => { const sec = (performance.now() - t0) / 1000; console.log(JSON.stringify({ mbPerSecond: Number(a) / sec })); s.destroy() })
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

/** Starts the server in `netns`; resolves once it listens. */
export function startServer({ dir, netns, port, track }) {
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, join(dir, 'server.mjs'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] })
  track.child(child)
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
 * conntrack flushed before each run. Returns { name: { cps: [], mbs: [] } }.
 */
export async function compareRulesets({ dir, host, client, server, port, configs, rounds, seconds, mb, track }) {
  const results = Object.fromEntries(Object.keys(configs).map((k) => [k, { cps: [], mbs: [] }]))
  const names = Object.keys(configs)
  for (let r = 0; r < rounds; r++) {
    for (const cfg of r % 2 ? [...names].reverse() : names) {
      await configs[cfg]()
      sh('ip', ['netns', 'exec', host, 'conntrack', '-F'], { stdio: 'ignore' })
      const cps = await runClient({ dir, netns: client.netns, args: ['cps', server.ip, port, seconds, 8], track })
      if (cps.failed) throw new Error(`${cps.failed} connections failed under ${cfg}`)
      const x = await runClient({ dir, netns: client.netns, args: ['xfer', server.ip, port, mb], track })
      results[cfg].cps.push(cps.perSecond)
      results[cfg].mbs.push(x.mbPerSecond)
    }
  }
  return results
}
