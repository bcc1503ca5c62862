// The dataplane cost of flow logs (issue 11): the same policies with flow logs off, on, and on
// under a flood that the kernel's per-node `limit` holds back, between two local pods (the
// bench/policy-dataplane.mjs setup), alternated round by round. Part of `npm run bench:policy`;
// alone: `node --import tsx/esm bench/flows-dataplane.mjs` (as root; BENCH_ROUNDS, BENCH_SECONDS).
//
// Configurations (all compiled from the same cluster, as the agent would):
// - off:   the agent without --flow-logs (Compiler): no log rule, no limit object.
// - on:    the agent with --flow-logs and --flow-log-rate/--flow-log-burst 1,000,000: every new
//          connection's first packet is logged at both verdict points it meets (the client's
//          egress chain and the server's ingress chain) and read by an nflog reader bound to the
//          group (bench/flows-reader.mjs): the whole cost of logging, never cut by the limit.
// - flood: the agent with --flow-logs and the default limit (100/s, burst 200): the connection
//          loop makes thousands of new connections per second, so nearly every first packet
//          takes the over-limit branch (two counter updates, the `limit` match failing).
// Flow logs touch only a connection's first packet (`ct state new`, pod chains only), so the cost
// is per connection; a transfer's packets never reach a pod chain (bench/README "Dataplane at
// scale": nothing per MB), so no throughput run here.
// The verdict is judged on CPU per connection (client + server, from /proc): the rate the rules
// allow on an idle machine; the rates themselves are printed as noise (this machine is shared).
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { cleanupOnExit, median, procCpuMs, sh, uniqueName } from './lib.mjs'
import { runClient } from './policy-dataplane.mjs'

export const FLOW_CONFIGS = ['off', 'on', 'flood']
const UNLIMITED = 1_000_000 // FLOW_LOG_BOUNDS' maximum rate and burst

/** The three rulesets of one cluster, as nft text (renderFull: each replaces cinch's tables). */
export async function flowRulesets(state, locals) {
  const { Compiler } = await import('../policy-agent/compile/index.ts')
  const { FlowCompiler } = await import('../policy-agent/flows/compiler.ts')
  const { FLOW_LOG_DEFAULTS } = await import('../policy-agent/flows/options.ts')
  const { renderFull } = await import('../policy-agent/render/index.ts')
  const flows = (o) => renderFull(new FlowCompiler({ flowLogs: { ...FLOW_LOG_DEFAULTS, clusterWide: true, ...o } }).compile(state, locals).ir)
  const text = {
    off: renderFull(new Compiler().compile(state, locals).ir),
    on: flows({ rate: UNLIMITED, burst: UNLIMITED }),
    flood: flows({}),
  }
  // The configurations differ by exactly what they claim to.
  const logs = (t) => (t.match(/ log group /g) ?? []).length
  if (logs(text.off) !== 0 || logs(text.on) === 0 || logs(text.on) !== logs(text.flood)) throw new Error('flow-log rulesets: unexpected log rules')
  if (!text.flood.includes(`rate ${FLOW_LOG_DEFAULTS.rate}/second burst ${FLOW_LOG_DEFAULTS.burst} packets`)) throw new Error('flood ruleset: not the default limit')
  return { text, group: FLOW_LOG_DEFAULTS.group, logRules: logs(text.on), defaults: FLOW_LOG_DEFAULTS }
}

/**
 * The nflog reader in `netns`, bound to `group`; resolves once bound. `stop()` gives its counts,
 * or { died: true } when it exited on its own before (it can abort under a flood: flows-reader.mjs).
 */
export function startReader({ netns, group, track }) {
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '--import', 'tsx/esm', join(import.meta.dirname, 'flows-reader.mjs'), String(group)], { stdio: ['ignore', 'pipe', 'pipe'] })
  track.child(child)
  let out = '', err = ''
  child.stdout.on('data', (b) => (out += b))
  child.stderr.on('data', (b) => (err += b))
  const closed = new Promise((resolve) => child.once('close', resolve))
  let stopping = false
  const stop = async () => {
    const alive = child.exitCode === null && child.signalCode === null
    if (alive) { stopping = true; child.kill('SIGTERM') }
    await closed
    return alive ? JSON.parse(out.trim().split('\n').pop()) : { died: true, stderr: err.trim() }
  }
  return new Promise((resolve, reject) => {
    child.stdout.once('data', () => resolve({ pid: child.pid, stop, alive: () => !stopping && child.exitCode === null && child.signalCode === null }))
    child.once('exit', (code) => reject(new Error(`flows-reader exited ${code}: ${err}`)))
  })
}

const counter = (host, name) => {
  const m = /packets (\d+)/.exec(sh('ip', ['netns', 'exec', host, '/usr/sbin/nft', 'list', 'counter', 'inet', 'cinch', name]))
  return m ? Number(m[1]) : NaN
}

/**
 * Connection-rate runs under each configuration, alternated round by round (`apply(cfg)` loads its
 * ruleset in `host`; conntrack flushed before each run). Per run: connections/s, CPU of client +
 * server per connection (us), the reader's CPU per connection (us), and the flow-log counters
 * (seen = first packets at a log rule, logged = under the limit; the apply reset them).
 */
export async function compareFlowLogs({ dir, host, client, server, serverPid, port, apply, openReader, rounds, seconds, concurrency = 8, track }) {
  const res = Object.fromEntries(FLOW_CONFIGS.map((k) => [k, { cps: [], usPerConn: [], readerUs: [], seen: [], logged: [], conns: [] }]))
  const readers = { packets: 0, lost: 0, died: 0, stderr: '' }
  // One short untimed run first: the first connections after the pods come up (ARP, the server's
  // JIT, page faults) cost several times the rest and would land on whichever config runs first.
  await apply('off')
  await runClient({ dir, netns: client.netns, args: ['cps', server.ip, port, 0.5, concurrency], track })
  for (let r = 0; r < rounds; r++) {
    for (const cfg of r % 2 ? [...FLOW_CONFIGS].reverse() : FLOW_CONFIGS) {
      // A run counts only if the reader (started per run, before the measurement) lived through it:
      // without one, nfnetlink_log drops the events early and "on" would look cheaper than it is.
      for (let attempt = 0; ; attempt++) {
        await apply(cfg)
        const reader = cfg === 'off' ? undefined : await openReader()
        sh('ip', ['netns', 'exec', host, 'conntrack', '-F'], { stdio: 'ignore' })
        const s0 = procCpuMs(serverPid), g0 = reader ? procCpuMs(reader.pid) : 0
        const out = await runClient({ dir, netns: client.netns, args: ['cps', server.ip, port, seconds, concurrency], track })
        const s1 = procCpuMs(serverPid), g1 = reader ? procCpuMs(reader.pid) : 0
        if (out.failed) throw new Error(`${out.failed} connections failed with flow logs ${cfg}`)
        const seen = cfg === 'off' ? 0 : counter(host, 'flowlog-seen'), logged = cfg === 'off' ? 0 : counter(host, 'flowlog-logged')
        const got = reader ? await reader.stop() : {}
        if (got.died) {
          readers.died++
          readers.stderr = got.stderr
          if (attempt < 4) continue
          throw new Error(`the nflog reader died in 5 runs of ${cfg}: ${got.stderr}`)
        }
        readers.packets += got.packets ?? 0
        readers.lost += got.lost ?? 0
        const x = res[cfg]
        x.cps.push(out.perSecond)
        x.conns.push(out.done)
        x.usPerConn.push(((out.cpuMs + s1 - s0) * 1000) / out.done)
        x.readerUs.push(((g1 - g0) * 1000) / out.done)
        x.seen.push(seen)
        x.logged.push(logged)
        break
      }
    }
  }
  // The log rules were in the path: "on" logged every first packet at two verdict points, the
  // flood's limit held back most of them.
  for (const [j, n] of res.on.conns.entries()) {
    if (res.on.seen[j] < n || res.on.logged[j] !== res.on.seen[j]) throw new Error(`flow logs on: ${res.on.seen[j]} seen, ${res.on.logged[j]} logged for ${n} connections`)
  }
  for (const [j, n] of res.flood.conns.entries()) {
    if (res.flood.seen[j] < n || res.flood.logged[j] >= res.flood.seen[j] / 2) throw new Error(`flow logs flood: ${res.flood.seen[j]} seen, ${res.flood.logged[j]} logged for ${n} connections: the limit did not hold`)
  }
  return { ...res, readers }
}

/** Prints the medians, the cost ratio off/cfg (the verdict) and the rate ratio cfg/off (noise) beside the goal. */
export function printFlowLogs(res, row) {
  const med = (cfg, k) => median(res[cfg][k])
  const perRound = (cfg, f) => median(res[cfg].cps.map((_, j) => f(res.off, res[cfg], j)))
  const verdict = (v) => (v >= 0.9 ? 'ok' : 'MISSED')
  for (const cfg of FLOW_CONFIGS) {
    row(`flow logs ${cfg}: new TCP connections/s (median)`, med(cfg, 'cps').toFixed(0))
    row(`  CPU per connection, client + server (median)`, `${med(cfg, 'usPerConn').toFixed(1)} us`)
    if (cfg !== 'off') {
      const seen = res[cfg].seen.reduce((a, b) => a + b, 0), logged = res[cfg].logged.reduce((a, b) => a + b, 0)
      const conns = res[cfg].conns.reduce((a, b) => a + b, 0)
      row(`  first packets at a log rule / logged (all rounds)`, `${seen} / ${logged}`, `${(seen / conns).toFixed(2)} per connection, ${(100 * (1 - logged / seen)).toFixed(1)}% over the limit`)
      row(`  nflog reader CPU per connection (median)`, `${med(cfg, 'readerUs').toFixed(1)} us`, '(the agent side, not dataplane)')
      const cost = perRound(cfg, (b, c, j) => b.usPerConn[j] / c.usPerConn[j])
      const rate = perRound(cfg, (b, c, j) => c.cps[j] / b.cps[j])
      row(`  cost ratio off/${cfg} (median of rounds): the verdict`, cost.toFixed(3), `goal >= 0.9 ${verdict(cost)}`)
      row(`  connections/s ratio ${cfg}/off (noise on this machine)`, rate.toFixed(3), `goal >= 0.9 (${verdict(rate)})`)
    }
  }
  const rd = res.readers
  row('nflog reader: packets read / lost / runs redone', `${rd.packets} / ${rd.lost} / ${rd.died}`, rd.died ? `(it died: ${rd.stderr.split('\n').pop()})` : '')
}

// ---- alone: the cluster of bench/policy.mjs, pods and server as its dataplane part ---------------
if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { syntheticCluster } = await import('./policy-cluster.mjs')
  const { setupPods, startServer, writeScripts } = await import('./policy-dataplane.mjs')
  const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10), SECONDS = Number(process.env.BENCH_SECONDS ?? 2)
  const tmp = mkdtempSync(join(tmpdir(), 'cinch-bench-flows-'))
  const id = uniqueName('x').slice(2)
  const { track, cleanup } = cleanupOnExit(tmp)

  const CLIENT = 'ns-005/pod-1', SERVER = 'ns-005/pod-2' // be -> db on 5432, allowed both ways
  const { state, locals } = syntheticCluster({ extraLocal: [SERVER], cnps: 100 })
  const rs = await flowRulesets(state, locals)
  const host = `cinch-b-fl-h-${id}`
  const pod = (key, role) => {
    const lp = locals.find((l) => `${l.namespace}/${l.name}` === key)
    return { netns: `cinch-b-fl-${role}-${id}`, hostVeth: lp.hostVeth, ip: lp.ips[0] }
  }
  const client = pod(CLIENT, 'c'), server = pod(SERVER, 's')
  setupPods({ host, pods: [client, server], track })
  writeScripts(tmp)
  const srv = await startServer({ dir: tmp, netns: server.netns, port: 5432, track })
  const files = {}
  for (const [k, t] of Object.entries(rs.text)) {
    files[k] = join(tmp, `${k}.nft`)
    writeFileSync(files[k], t)
  }
  const row = (what, value, goal = '') => console.log(`${what.padEnd(56)} ${value.padStart(18)}  ${goal}`)
  console.log(`flow logs on vs off: ${state.policies.size} policies, ${state.clusterNetworkPolicies.size} ClusterNetworkPolicies, ${locals.length} local pods, ${rs.logRules} log rules; ${ROUNDS} rounds of ${SECONDS} s alternated\n`)
  const res = await compareFlowLogs({
    dir: tmp, host, client, server, serverPid: srv.pid, port: 5432, rounds: ROUNDS, seconds: SECONDS, track,
    openReader: () => startReader({ netns: host, group: rs.group, track }),
    apply: async (cfg) => sh('ip', ['netns', 'exec', host, '/usr/sbin/nft', '-f', files[cfg]]),
  })
  printFlowLogs(res, row)
  cleanup()
  process.exit(0)
}
