// npm run bench:policy-scale [-- --scale small|large] [--samples N] [--cpu-prof DIR [--cpu-prof-of restart|changes] [--cpu-prof-interval US]] (as root)
// Policy at cluster scale (issue 14) through the real path: the synthetic cluster of
// policy-cluster.mjs (small: 5,000 pods / 2,000 policies / 100 local pods; large: 7,500 namespaces
// x 4 pods = 30,000 pods / 30,000 policies / 110 local pods) as API objects (Pods of about 4 KB:
// bench/policy-scale-objects.mjs) in the fake kube-apiserver (test/kit/fake-apiserver.ts), and the
// BUILT agent (`dist/bin/cinch agent`, its real kube source) in a network namespace of its own,
// run as the DaemonSet runs it: with NODE_COMPILE_CACHE, a directory filled as the image's build
// fills it (`cinch version` once, daemonset/Containerfile), so a start reads V8's code cache
// instead of compiling the 4.5 MB bundle's top level anew (`--no-compile-cache`: without),
// reaching the fake through a kubeconfig: the fake listens in the agent's namespace itself
// (`--relay socat`: through socat in the namespace to the fake's unix socket, as before phase 9).
// Measured:
//   - cold start: process start -> first transaction committed, and last initial LIST page -> it;
//   - restart (SIGTERM, start again) -> first transaction committed, from the SIGTERM (the old
//     agent's stop, its snapshot's write, included since phase 11; the new agent's start alone
//     printed beside), and whether it resumed from the agent's restart snapshot (watch from the
//     saved resourceVersions) or listed;
//     `--no-restart-snapshot` runs the agent with that flag (always lists); `--restarts N` restarts
//     N times in a row: the first from the cold-started agent (reported as before), the others each
//     from the last restarted one (their median and range, printed beside: the restart is the
//     noisiest figure of a run, and a restarted agent's stop writes lines it read back);
//   - agent RSS after the first sync and at peak (VmHWM);
//   - change latency: from the fake's watch event write (to the agent's watch connection: not the
//     fake's own work before it, printed apart) to the transaction committed, for pod
//     label change, pod create, pod delete, namespace label change, policy create/update/delete.
//     "Committed" is the kernel's ACK of the batch as the agent's clock read it: its "rules
//     applied" line carries that moment on CLOCK_MONOTONIC (committedAtUs), the clock this process
//     reads too (nothing listens to nf_tables' events, as on a node). Until phase 17 the judged
//     figure was that line's arrival here, printed beside since: it also counts the line's way and
//     this process's own pauses, which made most of its tails (this process holds the fake's
//     cluster: ~0.5 GB of heap at 30k/30k, major GCs of 15-40 ms about every 1.3 s of changes).
//     `--probe newgen` takes the kernel's NFT_MSG_NEWGEN notification instead, read by a listener
//     in the namespace, which makes the kernel announce every object of every commit (see below);
//   - the agent's own figure for the same changes (cinch_policy_programming_latency_seconds).
//   - a pod of THIS node (issue 14's pod create/delete, as the pod's own node sees it; issue 13's
//     ADD waits for it): the scheduler's Pod first (spec.nodeName = the agent's node, a local pod's
//     labels, no podIPs), its sync waited for untimed; then cinch-bridge's ADD with the plugin's own
//     code (bench/policy-scale-local.mjs), in a process of its own as cinch-bridge runs in its own
//     (policy-scale-plugin.mjs: since phase 18, out of this process's pauses): writeAttachmentSync,
//     then the request on the agent's socket, answered by {"ok":true} (a refusal is a failed
//     sample, reported) once the sync that compiles the pod's chains is committed; then kubelet's
//     podIPs (untimed; its watch -> commit printed apart: that update, not the ADD, puts the pod's
//     addresses into the peer sets that select it). DEL: removeAttachmentSync, the request, the
//     reply; then the Pod's deletion (untimed). These two kinds count in "all changes": on the
//     pod's own node a pod create reaches the kernel through the ADD (its Pod event, without
//     addresses, changes no rule), and the pod's start waits on it, so leaving them out would
//     leave out the one pod create a workload waits for. They are timed from the record's write
//     (the plugin's first step; its share printed apart) to the kernel's ACK of the request's
//     sync by the agent's clock, as the watch kinds are (since phase 19; until then to the reply
//     read by the plugin, printed beside, and until phase 19 the record's fsyncs were on the way),
//     not from a watch event; "without the local ADD/DEL" prints the figure earlier phases called
//     all changes.
//     They run after the other kinds and remove their records and Pods before the restart, whose
//     snapshot and adoption see the cluster as before them.
// Every change is chosen so that it changes the ruleset (a change with no commit is reported).
// Everything is removed on exit, even on Ctrl-C.
import { execFileSync, fork, spawn } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { FakeApiServer } from '../test/kit/fake-apiserver.ts'
import { RawNetlinkSocket } from 'netlink/dist/raw.js'
import { NETLINK_NETFILTER, NFNL_SUBSYS, parseMessages } from '../lib/net/nfnetlink.ts'
import { withNetns } from '../lib/net/netns.ts'
import { median, netnsAdd, netnsDel, quantile, sh, uniqueName } from './lib.mjs'
import { machineSpeed } from './machine-speed.mjs'
import { compareRulesets, setupPods, startServer, summarize, writeScripts } from './policy-dataplane.mjs'
import { extraPolicy, syntheticCluster } from './policy-cluster.mjs'
import { namespaceObject, nodeObject, podObject, policyObject } from './policy-scale-objects.mjs'
import { localPodOf, runningPodObject, scheduledPodObject } from './policy-scale-local.mjs'

const { values: args } = parseArgs({ options: {
  scale: { type: 'string', default: 'small' },
  samples: { type: 'string', default: '50' },
  'cpu-prof': { type: 'string' },
  // which agent --cpu-prof profiles: the restart's (default), or the cold one that takes the
  // changes, with the local ADD/DEL requests' windows written beside (bench/cpuprofile-top.mjs --windows)
  'cpu-prof-of': { type: 'string', default: 'restart' },
  // the profile's sampling interval in us (node's default 1000: a create's sync is ~5 samples)
  'cpu-prof-interval': { type: 'string' },
  'keep-log': { type: 'string' },
  // node/V8 flags for the agent's process, space-separated (`--trace-gc --max-semi-space-size=64`):
  // to try a runtime setting as the DaemonSet would set it (phase 13 compared the GC's). Without it,
  // the DaemonSet's NODE_OPTIONS but its old space's bound (agentNodeFlagsOfDaemonSet); given, in
  // their place (`--agent-node-flags=` for none: node's defaults, as before phase 17)
  'agent-node-flags': { type: 'string' },
  'no-compile-cache': { type: 'boolean' },
  'no-dataplane': { type: 'boolean' },
  // resumed restarts in a row (at least 1): the first from the cold-started agent, the rest each from the last
  restarts: { type: 'string', default: '1' },
  // what marks a change's commit: the kernel's ACK by the agent's clock (its log line's committedAtUs;
  // the line's arrival printed beside), or `newgen`: NFT_MSG_NEWGEN to a listener in the namespace
  probe: { type: 'string', default: 'log' },
  // how the agent reaches the fake: a listener in its namespace, or socat relaying to a unix socket
  relay: { type: 'string', default: 'none' },
  // the agent's flag: no restart snapshot, the restart lists everything as a cold start does
  'no-restart-snapshot': { type: 'boolean' },
  // another build of the agent (a bundle such as dist/bin/cinch), to compare two versions
  cinch: { type: 'string' },
} })
const SCALES = {
  small: { namespaces: 500, podsPerNs: 10, local: 100 },
  large: { namespaces: 7500, podsPerNs: 4, local: 110 },
}
const scale = SCALES[args.scale]
if (!scale) throw new Error(`--scale must be small or large, got ${args.scale}`)
const SAMPLES = Number(args.samples)
const RESTARTS = Number(args.restarts)
if (!Number.isSafeInteger(RESTARTS) || RESTARTS < 1) throw new Error(`--restarts must be a whole number >= 1, got ${args.restarts}`)
if (!['none', 'socat'].includes(args.relay)) throw new Error(`--relay must be none or socat, got ${args.relay}`)
if (!['restart', 'changes'].includes(args['cpu-prof-of'])) throw new Error(`--cpu-prof-of must be restart or changes, got ${args['cpu-prof-of']}`)
const profileChanges = Boolean(args['cpu-prof']) && args['cpu-prof-of'] === 'changes'
if (!['log', 'newgen'].includes(args.probe)) throw new Error(`--probe must be log or newgen, got ${args.probe}`)
const root = resolve(import.meta.dirname, '..')
// include/uapi/linux/netfilter/nfnetlink.h, nf_tables.h
const NFNLGRP_NFTABLES = 7
const NFT_MSG_NEWGEN = 15
const CINCH = args.cinch ? resolve(args.cinch) : join(root, 'dist/bin/cinch')
/**
 * The runtime flags the DaemonSet gives the agent (its NODE_OPTIONS), but --max-old-space-size:
 * its 160 MB fits the 256Mi default limit, and its README has clusters of many thousand pods raise
 * both. The rest (the young generation's size) is how the agent runs at any scale.
 */
function agentNodeFlagsOfDaemonSet() {
  const text = readFileSync(join(root, 'daemonset/30-daemonset.yaml'), 'utf8')
  const options = /- name: NODE_OPTIONS\s+value: (.+)/.exec(text)?.[1]
  if (!options) throw new Error('daemonset/30-daemonset.yaml: no NODE_OPTIONS for the agent')
  return options.trim().split(/\s+/).filter((f) => !f.startsWith('--max-old-space-size'))
}
const AGENT_NODE_FLAGS = args['agent-node-flags'] === undefined ? agentNodeFlagsOfDaemonSet() : args['agent-node-flags'].split(' ').filter(Boolean)
const id = uniqueName('x').slice(2)
const tmp = mkdtempSync(join(tmpdir(), 'cinch-bench-scale-'))
const NS = `cinch-b-scale-${id}`
const PORT = 6443
const METRICS = '127.0.0.1:9309'

// ---- cleanup of everything we create, whatever happens -------------------------------------
const children = new Set()
const extraNetns = []
const DP = { rounds: Number(process.env.BENCH_ROUNDS ?? 10), seconds: Number(process.env.BENCH_SECONDS ?? 2), mb: Number(process.env.BENCH_MB ?? 500) }
let fake
let cleaned = false
function cleanup() {
  if (cleaned) return
  cleaned = true
  for (const c of children) if (c.exitCode === null && c.signalCode === null) try { process.kill(c.pid, 'SIGKILL') } catch { /* gone */ }
  for (const n of extraNetns) netnsDel(n)
  netnsDel(NS)
  void fake?.close()
  rmSync(tmp, { recursive: true, force: true })
}
process.on('exit', cleanup)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => { cleanup(); process.exit(130) })
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const track = (c) => (children.add(c), c.on('exit', () => children.delete(c)), c)

/** Calls `cb(line)` for every line of a child's stream. */
function lines(stream, cb) {
  let rest = ''
  stream.on('data', (b) => {
    const t = performance.now()
    const parts = (rest + b).split('\n')
    rest = parts.pop()
    for (const l of parts) cb(l, t)
  })
}

/** Resolves with the first value of `get()` that is not undefined, polling every 2 ms; throws after `ms`. */
async function until(what, ms, get) {
  const end = performance.now() + ms
  for (;;) {
    const v = get()
    if (v !== undefined) return v
    if (performance.now() > end) throw new Error(`timed out (${ms} ms) waiting for ${what}`)
    await sleep(2)
  }
}

// ---- the cluster as API objects ------------------------------------------------------------------
// This sitting's speed, before anything of the bench runs (and again at the end): machine-speed.mjs.
const speedAtStart = machineSpeed()
const tGen = performance.now()
// Two local pods of ns-005 carry the dataplane check: tier be (allow-be lets it reach tier db on
// 5432) and tier db (allow-db admits tier be of its namespace on 5432).
const CLIENT = 'ns-005/pod-1', SERVER = 'ns-005/pod-2'
const { state, locals } = syntheticCluster({ ...scale, extraLocal: [CLIENT, SERVER] })
// Host veths as cinch-bridge names them (lib/state/attachments.ts checks records for it).
const vethOf = (k) => `cinch${k.toString(16).padStart(10, '0')}`
fake = await FakeApiServer.start({ unixSocket: join(tmp, 'api.sock') })
let podBytes = 0
for (const ns of state.namespaces.values()) fake.create(namespaceObject(ns))
let i = 0
for (const p of state.pods.values()) {
  const o = podObject(p, i++)
  if (i <= 100) podBytes += JSON.stringify(o).length
  fake.create(o)
}
for (const p of state.policies.values()) fake.create(policyObject(p))
for (let n = 0; n < 50; n++) fake.create(nodeObject(`node-${n}`, n))
// The history of these creates is not needed (the agent lists): drop it, as etcd compaction does.
fake.compact()
// Protobuf bytes of every built-in object encoded now, as a real server's watch cache holds them
// (the fake keeps each object's bytes until it changes): otherwise the fake's encoder, in this
// process on the same 2 cores, would be timed as the agent's first list (~6 s for 30k pods).
const tEncode = performance.now()
fake.preEncode()
const encodeSeconds = (performance.now() - tEncode) / 1000
let listedAt = 0 // the last LIST page request (performance.now())
/** CLOCK_MONOTONIC (ms) minus performance.now(): the agent's committedAtUs in this process's time. */
const MONOTONIC_OFFSET_MS = Number(process.hrtime.bigint()) / 1e6 - performance.now()
fake.beforeList = () => (listedAt = performance.now())
console.log(`cinch policy-scale bench (${args.scale}): ${state.pods.size} pods (${(podBytes / 100 / 1024).toFixed(1)} KiB each as JSON), ` +
  `${state.namespaces.size} namespaces, ${state.policies.size} NetworkPolicies, ${locals.length} local pods; ` +
  `cluster built in ${((performance.now() - tGen) / 1000).toFixed(1)} s (protobuf encoded in ${encodeSeconds.toFixed(1)} s); ` +
  `the agent's runtime flags: ${AGENT_NODE_FLAGS.join(' ') || 'none'}${args['agent-node-flags'] === undefined ? " (the DaemonSet's NODE_OPTIONS, its old space's bound left out)" : ''}\n`)

// ---- the node: a network namespace, the API in it, attachment records ----------------------------
netnsAdd(NS)
// A watch event's way starts as the fake writes it into the agent's connection. Through socat it
// also woke a relay process on the same 2 cores before reaching the agent (phase 9 compares).
if (args.relay === 'socat') {
  track(spawn('ip', ['netns', 'exec', NS, 'socat', `TCP-LISTEN:${PORT},bind=127.0.0.1,reuseaddr,fork`, `UNIX-CONNECT:${join(tmp, 'api.sock')}`], { stdio: 'ignore' }))
  await until('socat listening', 5000, () => {
    try { sh('ip', ['netns', 'exec', NS, 'bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${PORT}`]); return true } catch { return undefined }
  })
} else {
  await fake.listenInNetns(`/run/netns/${NS}`, PORT)
}
const kubeconfig = join(tmp, 'kubeconfig')
// As the image's build does (daemonset/Containerfile): the bundle run once to fill the cache.
const compileCache = args['no-compile-cache'] ? undefined : join(tmp, 'compile-cache')
if (compileCache) execFileSync(process.execPath, [CINCH, 'version'], { env: { ...process.env, NODE_COMPILE_CACHE: compileCache }, stdio: 'ignore' })
writeFileSync(kubeconfig, fake.kubeconfigYaml(`http://127.0.0.1:${PORT}`))
const stateDir = join(tmp, 'state')
mkdirSync(join(stateDir, 'attachments'), { recursive: true })
for (const [k, lp] of locals.entries()) {
  // As cinch-bridge writes them (lib/state/attachments.ts); the netns is one that exists, so the
  // agent's leak GC finds nothing to collect.
  writeFileSync(join(stateDir, 'attachments', `c${k}_eth0.json`), JSON.stringify({
    containerId: `c${k}`, ifName: 'eth0', netns: `/run/netns/${NS}`, podNamespace: lp.namespace, podName: lp.name,
    ips: [`${lp.ips[0]}/16`, `${lp.ips[1]}/64`], hostVeth: vethOf(k), bridge: 'cinch0',
    network: 'cinch', createdAt: new Date().toISOString(),
  }))
}

// ---- the kernel's view: every committed transaction in the namespace ------------------------------
// Only while changes are measured: with a listener, every full apply of the 30k ruleset makes the
// kernel announce ~120,000 objects (nft monitor, the probe before, printed them all), which doubled
// the agent's first transaction (0.47-0.63 s -> 0.79-1.5 s measured). Starts are timed to the
// agent's log line.
const generations = [] // performance.now() of each NFT_MSG_NEWGEN
let monitor
// With `--probe newgen`: a netlink socket in the namespace, in nf_tables' event group, that keeps
// only NFT_MSG_NEWGEN, which the kernel sends as a transaction commits. Not `nft monitor`: it prints
// every object of a commit before its "# new generation" line, ~10 ms for a policy create's 600 new
// set elements (phase 5d), which this bench would have timed as the agent's. Not the default
// either: with any listener in the group, the kernel builds a notification for every element, rule
// and set of each transaction (nf_tables_api.c, nfnetlink_has_listeners), which made a policy
// create's commit 1.61 -> 2.71 ms (bench:nft-commit, bench/README.md phase 9), work a node without
// listeners never does. The default probe is the agent's "rules applied" line, written after the
// kernel's ACK: it also counts the log's write and the pipe, so it errs on the slow side.
// A raw socket, not NfnlSocket: nf_tables' events carry the sequence number of the batch that
// caused them, which NfnlSocket reads as the tail of someone else's request and drops.
async function startMonitor() {
  if (args.probe !== 'newgen') return
  const newgen = (NFNL_SUBSYS.NFTABLES << 8) | NFT_MSG_NEWGEN
  monitor = withNetns(`/run/netns/${NS}`, () => new RawNetlinkSocket(NETLINK_NETFILTER, { recvBufferSize: 8 << 20, sendBufferSize: 0 }))
  monitor.on('message', (buf) => { for (const m of parseMessages(buf)) if (m.type === newgen) generations.push(performance.now()) })
  monitor.on('error', () => {}) // an overrun (ENOBUFS) costs events; a change without a commit is reported
  monitor.addMembership(NFNLGRP_NFTABLES)
}
async function stopMonitor() {
  monitor?.close()
  monitor = undefined
}

// ---- the agent -------------------------------------------------------------------------------------
let agent
const applied = [] // the agent's "rules applied" log lines, with their arrival time here
let aheadLog // the agent's "compiled ahead of the last list page" line (a cold start's; agent.ts compileAhead)
const agentLog = []
let readies = 0 // "agent ready" lines of every agent so far (agentLog keeps the last ones only)
const snapshotLog = [] // the agent's restart snapshot lines (written, loaded, ignored) and "stopped"
function startAgent(profile) {
  applied.length = 0
  aheadLog = undefined
  const node = [process.execPath, ...AGENT_NODE_FLAGS]
  if (profile) node.push('--cpu-prof', `--cpu-prof-dir=${resolve(args['cpu-prof'])}`, ...(args['cpu-prof-interval'] ? [`--cpu-prof-interval=${Number(args['cpu-prof-interval'])}`] : []))
  agent = track(spawn('ip', ['netns', 'exec', NS, ...node, CINCH, 'agent',
    '--node', 'node-0', '--state-dir', stateDir, '--socket', join(stateDir, 'agent.sock'), '--metrics-addr', METRICS,
    '--no-overlay', '--cni-conf', join(tmp, 'no.conflist'), '--cni-bin-dir', join(tmp, 'no-bin'), '--gc-grace', '86400', '--gc-interval', '86400', ...(args['no-restart-snapshot'] ? ['--no-restart-snapshot'] : [])],
  { env: { ...process.env, KUBECONFIG: kubeconfig, ...(compileCache ? { NODE_COMPILE_CACHE: compileCache } : {}) }, stdio: ['ignore', 'pipe', 'pipe'] }))
  lines(agent.stdout, (l, t) => {
    agentLog.push(l)
    if (agentLog.length > 2000) agentLog.splice(0, 1000)
    let o
    try { o = JSON.parse(l) } catch { return }
    if (o.msg === 'rules applied') applied.push({ t, ...o })
    if (o.msg === 'compiled ahead of the last list page') aheadLog = o
    if (o.msg === 'agent ready') readies++
    if (/^restart snapshot|^stopped$/.test(o.msg ?? '')) snapshotLog.push(o)
    if (o.level >= 50) console.error(`agent: ${l.slice(0, 400)}`)
  })
  lines(agent.stderr, (l) => agentLog.push(l))
  return agent
}
const tail = () => agentLog.slice(-20).join('\n')
function memory(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN)
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 }
}
/** CPU time (user + system, every thread) a process has used, in ms: on a loaded machine, what its wall times cannot say. */
function cpuMs(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ') // from field 3 (state) on
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100 // utime + stime, in USER_HZ (100)
}
/** Minor page faults a process has taken: each first touch of a fresh page, which this machine prices high (faultCost). */
function minorFaults(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[7]) // field 10, minflt
}
/**
 * What this machine charges for fresh memory, measured here beside the agent: us per 4 KiB page
 * first touched (a fresh mapping filled), and per page already mapped (the same fill again). The
 * agent's first sync touches hundreds of MB fresh: on the VM these benches ran on, 12-27 us a page
 * (phase 17's sitting), where the first touches of the restart's ~250 MB were about a second
 * (bench/README.md, phase 17).
 */
function faultCost() {
  const MB = 64, pages = (MB << 20) / 4096, first = [], again = []
  for (let round = 0; round < 3; round++) {
    const b = Buffer.allocUnsafeSlow(MB << 20) // its own mapping: malloc mmaps a block this size fresh
    let t = performance.now(); b.fill(1); first.push(((performance.now() - t) * 1000) / pages)
    t = performance.now(); b.fill(2); again.push(((performance.now() - t) * 1000) / pages)
  }
  return { firstUs: quantile(first, 0.5), againUs: quantile(again, 0.5) }
}
/**
 * Starts the agent; ms from the start to its first transaction committed (the arrival here of the
 * "rules applied" line it logs right after the commit), with the agent's own log.
 */
async function timeStart(profile) {
  const t0 = performance.now()
  const a = startAgent(profile)
  const exited = new Promise((r) => a.once('exit', (code) => r(code)))
  const committed = await Promise.race([
    until('the first sync in the kernel', 120_000, () => applied[0]?.t),
    exited.then((code) => { throw new Error(`the agent exited (${code}) before its first sync\n${tail()}`) }),
  ])
  return { ms: committed - t0, startedAt: t0, fromList: committed - listedAt, log: applied[0], ahead: aheadLog, mem: memory(a.pid), cpuMs: cpuMs(a.pid), faults: minorFaults(a.pid) }
}
async function stopAgent() {
  const exited = new Promise((r) => agent.once('exit', r))
  process.kill(agent.pid, 'SIGTERM')
  await exited
}

const cold = await timeStart(profileChanges)
await until('agent ready', 30_000, () => agentLog.some((l) => l.includes('"agent ready"')) || undefined)
await sleep(1000) // the first conntrack pass and leak GC run beside; let them end
await startMonitor()

// ---- changes: watch event written -> transaction committed --------------------------------------
const localKeys = new Set(locals.map((l) => `${l.namespace}/${l.name}`))
const localNs = [...new Set(locals.map((l) => l.namespace))]
const remote = [...state.pods.values()].filter((p) => !localKeys.has(`${p.namespace}/${p.name}`))
const podAt = (p) => fake.get('Pod', `${p.namespace}/${p.name}`)
/** ms the fake took from a change's call to its watch event's write, every sample of every kind. */
const serverMs = []
/**
 * With --cpu-prof-of changes: each timed change's window in the agent's profile clock (CLOCK_MONOTONIC,
 * us): the local ADD/DEL requests (`add`, `del`), and each watch kind's, by its name.
 */
const profileWindows = { add: [], del: [] }
// The cold start's last LIST page request to its first commit: the "last initial LIST page ->
// committed" figure's window.
if (profileChanges && cold.log?.committedAtUs) profileWindows['first sync'] = [[Math.round((listedAt + MONOTONIC_OFFSET_MS) * 1000), cold.log.committedAtUs]]
// And the whole cold start, the agent's launch to its first commit ("cold start").
if (profileChanges && cold.log?.committedAtUs) profileWindows['cold start'] = [[Math.round((cold.startedAt + MONOTONIC_OFFSET_MS) * 1000), cold.log.committedAtUs]]
/** Samples of one kind of change; each `change(k)` must change the ruleset. */
async function measure(change, what) {
  const ms = [], ackMs = [], lineMs = [], syncs = [], wayInMs = []
  let noCommit = 0
  const faults0 = minorFaults(agent.pid)
  for (let k = 0; k < SAMPLES; k++) {
    const gen0 = generations.length
    const logs0 = applied.length
    const called = performance.now()
    const written0 = fake.lastEventWrittenAt
    change(k)
    // From the event's write to its watch connection: the fake's own work on the change (clones,
    // serializing a 4.6 KB Pod) is an API server's, done before any watch hears of it.
    if (fake.lastEventWrittenAt === written0) throw new Error('the change wrote no watch event')
    const t0 = fake.lastEventWrittenAt
    serverMs.push(t0 - called)
    try {
      const committed = args.probe === 'newgen' ? () => generations[gen0] : () => applied.slice(logs0).find((l) => l.mode !== 'none')?.t
      const seen = await until('a commit', 3000, committed) - t0
      // The agent's own clock at the kernel's answer (its log line's committedAtUs, CLOCK_MONOTONIC
      // as this process's performance.now(), converted): the commit, without the line's way here.
      const line = applied.slice(logs0).find((l) => l.mode !== 'none')
      if (line?.committedAtUs) ackMs.push(line.committedAtUs / 1000 - MONOTONIC_OFFSET_MS - t0)
      // Judged (since phase 18): the kernel's answer by the agent's clock; the line's arrival here
      // beside it, which also counts this process's pauses (the fake's heap: header comment).
      // Without committedAtUs (an agent before it) or with --probe newgen, what the probe saw.
      ms.push(args.probe !== 'newgen' && line?.committedAtUs ? ackMs.at(-1) : seen)
      if (args.probe !== 'newgen') lineMs.push(seen)
      // The event's way in: its write to the agent's source calling back with it stored (the
      // socket, the watch stream's parse, conversion): the commit less the sync and its wait.
      if (line?.committedAtUs && line.durationMs !== undefined) wayInMs.push(ackMs.at(-1) - line.durationMs - (line.queuedMs ?? 0))
      if (line?.steps) syncs.push(line)
      // With --cpu-prof-of changes: the change's window in the agent's profile, its event's write to its commit.
      if (profileChanges && line?.committedAtUs) (profileWindows[what] ??= []).push([Math.round((t0 + MONOTONIC_OFFSET_MS) * 1000), line.committedAtUs])
      // The sync has ended (its log line follows the commit): the next change finds the agent idle.
      await until('the sync\'s log line', 3000, () => applied.length > logs0 || undefined)
    } catch {
      noCommit++
    }
    await sleep(20)
  }
  return { ms, noCommit, ackMs, lineMs, syncs, wayInMs, faultsPerChange: (minorFaults(agent.pid) - faults0) / SAMPLES }
}
// Pods whose app label is app-1 are in the set of allow-db's egress peer "app=app-1 in every
// namespace" (every local db pod has it); app-0 pods are not: relabelling one adds an element.
const app0 = remote.filter((p) => p.labels.app === 'app-0')
// allow-be admits every pod of the namespaces of its team: a namespace of a team with a local be
// pod leaves that set when its team label changes.
const beTeams = new Set(locals.filter((l) => state.pods.get(`${l.namespace}/${l.name}`).labels.tier === 'be').map((l) => state.namespaces.get(l.namespace).labels.team))
const teamNs = [...state.namespaces.values()].filter((n) => beTeams.has(n.labels.team))
const created = []
// Distinct objects for the samples of one kind, spread over the cluster.
const pick = (k, n) => Math.floor((k * n) / SAMPLES)
const changes = {
  'pod label change': (k) => {
    const o = podAt(app0[pick(k, app0.length)])
    o.metadata.labels.app = 'app-1'
    fake.update(o)
  },
  'pod create': (k) => {
    const base = app0[(pick(k, app0.length) + 1) % app0.length]
    const p = { ...base, name: `bench-new-${k}`, ips: [`10.96.${k >> 8}.${k & 255}`, `fd00:96::${k.toString(16)}`], labels: { ...base.labels, app: 'app-1' } }
    created.push(`${p.namespace}/${p.name}`)
    fake.create(podObject(p, 900_000 + k))
  },
  'pod delete': (k) => fake.delete('Pod', created[k]),
  'namespace label change': (k) => {
    const o = fake.get('Namespace', teamNs[pick(k, teamNs.length)].name)
    o.metadata.labels.team = `t-bench-${k}`
    fake.update(o)
  },
  'policy create': (k) => fake.create(policyObject(extraPolicy(localNs[(k * 13) % localNs.length], k))),
  'policy update': (k) => {
    const p = extraPolicy(localNs[(k * 13) % localNs.length], k)
    p.spec.ingress[0].ports = [{ port: 9000 + k }]
    fake.update(policyObject(p))
  },
  'policy delete': (k) => fake.delete('NetworkPolicy', `${localNs[(k * 13) % localNs.length]}/bench-extra-${k}`),
}
if (teamNs.length < SAMPLES) throw new Error(`only ${teamNs.length} namespaces for the namespace label change`)
const results = {}
for (const [what, change] of Object.entries(changes)) results[what] = await measure(change, what)

// ---- a pod of this node: cinch-bridge's ADD and DEL through the agent's socket --------------------
// What a pod created on the agent's own node waits for (header comment). Each sample's Pod is a copy
// of a local pod of a local namespace (the same labels: its namespace's policies select it, peers
// elsewhere name it) under a new name; all are gone again before the restart below.
const SOCKET = join(stateDir, 'agent.sock') // startAgent's --socket
const localBase = locals.map((l) => state.pods.get(`${l.namespace}/${l.name}`))
const localPods = [] // the ADD samples' pods, deleted by the DEL samples
/** The first "rules applied" line after `logs0` (one sync per step here: the agent is idle otherwise). */
const syncAfter = (logs0, what) => until(what, 5000, () => applied[logs0])
/** The agent's "socket request" line for a container (its own ms from the request line to the reply). */
const socketLine = (op, containerId) => until('the agent\'s socket request line', 2000, () => {
  for (let j = agentLog.length - 1; j >= Math.max(0, agentLog.length - 50); j--) {
    if (!agentLog[j].includes('"socket request"')) continue
    const o = JSON.parse(agentLog[j])
    if (o.op === op && o.containerId === containerId) return o
  }
  return undefined
}).catch(() => undefined)
/**
 * The plugin's side of an ADD or DEL, done and timed in a process of its own (policy-scale-plugin.mjs):
 * this one's GC pauses (the fake's cluster) are not the plugin's. Resolves with its result.
 */
let plugin, pluginAsks = 0
const pluginWaits = new Map()
function pluginSide(op, a) {
  if (!plugin) {
    plugin = track(fork(new URL('./policy-scale-plugin.mjs', import.meta.url), [], { execArgv: ['--import', 'tsx/esm'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
    plugin.on('message', (m) => { pluginWaits.get(m.id)?.(m); pluginWaits.delete(m.id) })
  }
  const id = ++pluginAsks
  return new Promise((res, rej) => {
    const timer = setTimeout(() => { pluginWaits.delete(id); rej(new Error(`the plugin's side gave no answer to ${op} within 20 s`)) }, 20_000)
    pluginWaits.set(id, (m) => { clearTimeout(timer); res(m) })
    plugin.send({ id, op, args: a })
  })
}
/** Samples of cinch-bridge's ADD (`op` 'add') or DEL of a local pod: from the record's write (removal) to the agent's reply. */
async function measureLocal(op) {
  const ms = [], replyMs = [], recordMs = [], agentMs = [], restMs = [], failed = [], syncs = [], ipsMs = []
  let noCommit = 0, ipsNoCommit = 0
  for (let k = 0; k < SAMPLES; k++) {
    const pod = op === 'add' ? localPodOf(localBase[pick(k, localBase.length)], k, { node: 'node-0', runId: id }) : localPods[k]
    if (op === 'add') {
      localPods.push(pod)
      // Untimed, like the other kinds' preparation: the scheduler's Pod, and the agent's sync of it.
      const logs0 = applied.length
      fake.create(scheduledPodObject(pod, 950_000 + k))
      await syncAfter(logs0, 'the sync after the scheduled Pod')
    }
    const logs1 = applied.length
    const r = op === 'add'
      ? await pluginSide('add', { stateDir, socket: SOCKET, netns: `/run/netns/${NS}`, pod })
      : await pluginSide('del', { stateDir, socket: SOCKET, pod })
    profileWindows[op].push([r.w0, r.w1])
    // Numbers only: a failed sample's come back null (NaN through the IPC channel's JSON).
    if (typeof r.recordMs === 'number') recordMs.push(r.recordMs)
    if (r.reply.ok === true) replyMs.push(r.ms)
    else failed.push(r.reply.error)
    // The agent logs the sync before it replies, but its log reaches us through a pipe, the reply
    // through the socket: either may come first.
    try {
      const sync = await syncAfter(logs1, 'the sync of the request')
      if (sync.mode === 'none') noCommit++
      else {
        syncs.push(sync)
        // Judged as the watch kinds are (phase 18): the change's arrival (the plugin's first step,
        // the record's write) to the kernel's ACK, both on CLOCK_MONOTONIC (since phase 19; the
        // reply, which the pod's start waits for, is printed beside).
        if (r.reply.ok === true && typeof sync.committedAtUs === 'number') ms.push((sync.committedAtUs - r.w0) / 1000)
      }
    } catch {
      noCommit++
    }
    const line = await socketLine(op, pod.containerId)
    if (line) agentMs.push(line.ms)
    // What is neither the record nor the agent's request -> reply: connect, the request line's and
    // the reply's way, both processes' wake-ups (the agent logs its ms to 0.1 ms).
    if (line && r.reply.ok === true) restMs.push(r.ms - r.recordMs - line.ms)
    // Untimed: kubelet reports the pod's addresses (peer sets that select it gain them), or, after
    // the DEL, the Pod is deleted. Timed apart for ADD, as the other kinds are (watch -> commit).
    const logs2 = applied.length
    if (op === 'add') fake.update(runningPodObject(pod, 950_000 + k))
    else fake.delete('Pod', `${pod.namespace}/${pod.name}`)
    const tw = fake.lastEventWrittenAt
    const s = await syncAfter(logs2, op === 'add' ? 'the sync after the Pod\'s addresses' : 'the sync after the Pod\'s deletion')
    if (op === 'add') s.mode === 'none' ? ipsNoCommit++ : ipsMs.push(s.t - tw)
    await sleep(20)
  }
  return { ms, replyMs, noCommit, local: true, recordMs, agentMs, restMs, failed, syncs, ipsMs, ipsNoCommit }
}
const LOCAL_ADD = 'local pod ADD (CNI path)', LOCAL_DEL = 'local pod DEL (CNI path)'
results[LOCAL_ADD] = await measureLocal('add')
results[LOCAL_DEL] = await measureLocal('del')
plugin?.disconnect()
if (profileChanges) {
  mkdirSync(resolve(args['cpu-prof']), { recursive: true })
  writeFileSync(join(resolve(args['cpu-prof']), 'local-windows.json'), JSON.stringify(profileWindows))
}
const afterChanges = memory(agent.pid)
const metrics = scrapeMetrics()

// ---- restart ---------------------------------------------------------------------------------------
await stopMonitor()
// From the SIGTERM, as a rolling update sees it: the old agent's stop (its snapshot's write) is on
// the way to the new one's first sync. Until phase 11 the clock started at the new agent's start.
const lists = () => [...fake.counts.values()].reduce((n, c) => n + c.lists, 0)
const restarts = []
for (let k = 0; k < RESTARTS; k++) {
  const terminated = performance.now()
  const logFrom = snapshotLog.length
  await stopAgent()
  const stopMs = performance.now() - terminated
  const listsBefore = lists()
  const ready = readies
  // The first restart's agent is the one profiled (from the cold-started agent, as before).
  const start = await timeStart(k === 0 && Boolean(args['cpu-prof']) && !profileChanges)
  await until('agent ready', 30_000, () => readies > ready || undefined)
  restarts.push({ stopMs, start, ms: stopMs + start.ms, lists: lists() - listsBefore, log: snapshotLog.slice(logFrom) })
}
const { start: restart, stopMs, ms: restartMs, lists: restartLists } = restarts[0]
await stopAgent()
// The same restart once more with the snapshot the stop just wrote removed: the agent lists, as
// one without the snapshot does (same run, same load: the comparison phase 7h reports).
rmSync(join(stateDir, 'restart-snapshot.json'), { force: true })
const readyBefore = readies
const relist = await timeStart(false)
await until('agent ready', 30_000, () => readies > readyBefore || undefined)
await stopAgent()
if (args['cpu-prof']) copyFileSync(CINCH, join(resolve(args['cpu-prof']), 'cinch-bundle.js'))
// The listener is stopped above: a full apply of the 30k-policy ruleset makes the kernel announce
// every object to it (nft monitor, the probe before, printed about 120,000 lines per apply into the
// dataplane's measurement window: it measured the machine, not the rules; bench/README.md,
// "Dataplane at scale").
const dataplane = args['no-dataplane'] ? undefined : await measureDataplane()

// ---- report ----------------------------------------------------------------------------------------
const fmt = (x) => `${x.toFixed(1)} ms`
const row = (what, value, goal = '') => console.log(`${what.padEnd(50)} ${value.padStart(28)}  ${goal}`)
const steps = (l) => l ? `agent: compile ${l.steps?.compile} ms, apply ${l.steps?.apply} ms, ${l.ruleLines} lines` : ''
row('cold start -> first sync committed', fmt(cold.ms), 'goal: -')
row('  last initial LIST page -> committed', fmt(cold.fromList), `goal <= 1000 ms  ${cold.fromList <= 1000 ? 'ok' : 'MISSED'}`)
row('  ' + steps(cold.log), '', cold.ahead ? `the cluster compiled ahead of the last list page in ${cold.ahead.ms} ms, before the window` : 'not compiled ahead (a list of one page, or no count from the server)')
row('restart (SIGTERM, start) -> first sync committed', fmt(restartMs), `goal <= 2000 ms  ${restartMs <= 2000 ? 'ok' : 'MISSED'}`)
row('  the new agent\'s start -> first sync committed', fmt(restart.ms), `(the old agent's stop, ${fmt(stopMs)}, left out: phases 7-10's "restart")`)
row('  last initial LIST page -> committed', restartLists ? fmt(restart.fromList) : 'no LIST')
{
  const first = restarts[0].log
  const written = first.find((o) => o.msg === 'restart snapshot written')
  const stopped = first.find((o) => o.msg === 'stopped')
  const loaded = first.find((o) => o.msg === 'restart snapshot loaded; resuming watches')
  const ignored = first.find((o) => o.msg?.startsWith('restart snapshot ignored'))
  const how = args['no-restart-snapshot'] ? 'off (--no-restart-snapshot)' : loaded ? (restartLists ? `resumed, then relisted (${restartLists} list pages)` : 'resumed by watch') : `relisted${ignored ? ` (snapshot ignored: ${ignored.reason})` : ''}`
  row('  restart from the snapshot', how)
  row('  its first sync', `mode ${restart.log?.mode}`, 'adopted: the tables the last agent committed, proven unchanged')
  if (written) row('  snapshot written at SIGTERM', `${(written.bytes / 1048576).toFixed(1)} MB in ${written.ms} ms`, `stop took ${stopped?.ms ?? '?'} ms`)
  if (loaded) row('  snapshot loaded at start', `${loaded.objects} objects in ${loaded.ms} ms`)
  if (restarts.length > 1) {
    const again = restarts.slice(1)
    const span = (xs) => `${fmt(quantile(xs, 0.5))} (${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))})`
    const logged = (msg, key) => again.map((r) => r.log.find((o) => o.msg === msg)?.[key]).filter((x) => typeof x === 'number')
    row(`restart again, ${again.length}x: median (range)`, span(again.map((r) => r.ms)), `goal <= 2000 ms  ${quantile(again.map((r) => r.ms), 0.5) <= 2000 ? 'ok' : 'MISSED'}`)
    row('  (each from a restarted agent) stop / start', `${fmt(quantile(again.map((r) => r.stopMs), 0.5))} / ${fmt(quantile(again.map((r) => r.start.ms), 0.5))}`, `snapshot written in ${logged('restart snapshot written', 'ms').join(', ')} ms, loaded in ${logged('restart snapshot loaded; resuming watches', 'ms').join(', ')} ms`)
    const relisted = again.filter((r) => r.lists > 0 || r.start.log?.mode !== 'adopted').length
    if (relisted) row('  of them listed or replaced (not resumed and adopted)', String(relisted))
  }
  row('restart without the snapshot (lists) -> committed', fmt(relist.ms), `CPU ${relist.cpuMs.toFixed(0)} ms`)
}
row('agent CPU to its first sync (cold / restart)', `${cold.cpuMs.toFixed(0)} / ${restart.cpuMs.toFixed(0)} ms`)
{
  const cost = faultCost()
  const ms = (faults) => ((faults * cost.firstUs) / 1000).toFixed(0)
  row('agent minor page faults to its first sync (cold / restart)', `${cold.faults} / ${restart.faults}`, `at this machine's price ~${ms(cold.faults)} / ~${ms(restart.faults)} ms`)
  row("this machine: a fresh 4 KiB page's first touch / a mapped page's", `${cost.firstUs.toFixed(2)} / ${cost.againUs.toFixed(2)} us`)
  // The figures above against the sitting's speed: phase 23's slow sitting read 171-235 ms here (one
  // measurement after another, the machine quiet), so only a gap well past that spread tells sittings apart.
  const speedAtEnd = machineSpeed()
  row('this machine: the reference work (bench/machine-speed.mjs)', `${speedAtStart.ms.toFixed(0)} / ${speedAtEnd.ms.toFixed(0)} ms`, 'at the start / the end of this run; its median over warm rounds, in a fresh process')
}
// What the agent asked for and got (an agent before protobuf lists asks for JSON only).
const served = fake.listTypes.reduce((m, t) => (m[t.includes('protobuf') ? 'protobuf' : 'JSON']++, m), { protobuf: 0, JSON: 0 })
row('list pages served as protobuf / JSON', `${served.protobuf} / ${served.JSON}`)
row('agent RSS after first sync (cold / restart)', `${cold.mem.rss.toFixed(0)} / ${restart.mem.rss.toFixed(0)} MB`, `goal <= 600 MB  ${Math.max(cold.mem.rss, restart.mem.rss) <= 600 ? 'ok' : 'MISSED'}`)
row('agent RSS after the changes / peak (VmHWM)', `${afterChanges.rss.toFixed(0)} / ${afterChanges.peak.toFixed(0)} MB`, `goal <= 600 MB  ${afterChanges.peak <= 600 ? 'ok' : 'MISSED'}`)
console.log(`\nwatch event written -> nft transaction committed (${args.probe === 'newgen' ? "the kernel's NEWGEN, to a listener" : "the kernel's ACK, by the agent's clock (its log line's committedAtUs)"}); a local ADD/DEL: from the record's write, in the plugin's own process, to the same ACK (to the agent's reply below); ${SAMPLES} samples each; goals p50 <= 5, p90 <= 10, p99 <= 50 ms`)
console.log(`${'change'.padEnd(26)} ${'p50'.padStart(9)} ${'p90'.padStart(9)} ${'p99'.padStart(9)} ${'max'.padStart(9)}  verdict`)
const all = [], watched = []
const qrow = (what, v, tail = '') => console.log(`${what.padEnd(26)} ${fmt(quantile(v, 0.5)).padStart(9)} ${fmt(quantile(v, 0.9)).padStart(9)} ${fmt(quantile(v, 0.99)).padStart(9)} ${fmt(Math.max(...v)).padStart(9)}${tail}`)
for (const [what, r] of Object.entries(results)) {
  all.push(...r.ms)
  if (!r.local) watched.push(...r.ms)
  const q = (x) => quantile(r.ms, x)
  const ok = q(0.5) <= 5 && q(0.9) <= 10 && q(0.99) <= 50
  qrow(what, r.ms, `  ${ok ? 'ok' : 'MISSED'}${r.noCommit ? `  (${r.noCommit} changes without a commit)` : ''}${r.failed?.length ? `  (${r.failed.length} refused or failed: ${r.failed[0].slice(0, 120)})` : ''}`)
}
qrow('all changes', all)
qrow('  without the local ADD/DEL', watched, '  (the watch kinds alone, as phases 1-10 reported "all changes")')
// The same changes to the arrival here of the agent's "rules applied" line, written after the
// kernel's ACK: also the line's way (a turn, pino's write on libuv's pool, the pipe, this process's
// wake-up, ~0.5-1 ms) and this process's own pauses (the fake's heap: its major GCs of 15-40 ms
// made most of the tails this table showed until phase 17, when it was the judged one).
const lined = Object.entries(results).filter(([, r]) => r.lineMs?.length)
if (lined.length) {
  console.log(`the same watch changes, to the agent's log line's arrival here (not judged: the line's way and this process's pauses counted too)`)
  for (const [what, r] of lined) qrow(`  ${what}`, r.lineMs)
}
// What the pod's start waits for: the agent's {"ok":true} read by the plugin, after the commit
// (the reply's write, the plugin's wake-up). Judged until phase 18.
const replied = Object.entries(results).filter(([, r]) => r.replyMs?.length)
if (replied.length) {
  console.log(`the local ADD/DEL, to the agent's reply read by the plugin (not judged since phase 19: the reply's way after the commit counted too)`)
  for (const [what, r] of replied) qrow(`  ${what}`, r.replyMs)
}
// Where each watch kind's sync went, by the agent's log line: its compile and apply, and of the
// apply the kernel's round trip (a netlink batch; the rest is planning and encoding the diff).
const stepped = Object.entries(results).filter(([, r]) => !r.local && r.syncs?.length)
if (stepped.length) {
  console.log(`the agent's steps for those changes (medians, ms): the event's way in (its write to the source's callback) | compile / apply (of it, the kernel's round trip); the agent's minor page faults per change`)
  const med = (r, k) => { const v = r.syncs.map((l) => l.steps[k]).filter((x) => x !== undefined); return v.length ? median(v).toFixed(1) : '-' }
  for (const [what, r] of stepped) console.log(`  ${what.padEnd(24)} ${(r.wayInMs.length ? median(r.wayInMs).toFixed(1) : '-').padStart(5)} | ${med(r, 'compile').padStart(7)} / ${med(r, 'apply').padStart(7)} (${med(r, 'kernel')})  ${r.faultsPerChange.toFixed(0).padStart(5)}`)
}
for (const what of [LOCAL_ADD, LOCAL_DEL]) {
  const r = results[what]
  const m = (v) => v.length ? `median ${fmt(median(v))}, max ${fmt(Math.max(...v))}` : 'none'
  console.log(`${what}: from ${what === LOCAL_ADD ? 'writeAttachmentSync' : 'removeAttachmentSync'} to the agent's {"ok":true} on its socket (askAgent, as cinch-bridge)`)
  console.log(`  the record's ${what === LOCAL_ADD ? 'write and rename' : 'removal'}: ${m(r.recordMs)}; the agent's own request -> reply ("socket request" ms): ${m(r.agentMs)}`)
  console.log(`  the rest (connect, request and reply on the socket, wake-ups): ${m(r.restMs)}`)
  const st = (key) => r.syncs.map((l) => l.steps?.[key] ?? NaN)
  if (r.syncs.length) console.log(`  the agent's steps (${r.syncs.length} syncs): records ${m(st('records'))}; compile ${m(st('compile'))}; apply ${m(st('apply'))} (via ${[...new Set(r.syncs.map((l) => l.via ?? 'nft'))].join('/')})`)
  if (what === LOCAL_ADD) console.log(`  then kubelet reports the Pod's addresses (watch -> commit, untimed above): ${m(r.ipsMs)}${r.ipsNoCommit ? ` (${r.ipsNoCommit} without a commit)` : ''}`)
}
console.log(`not counted: the fake API server's own work from a change's call to its event's write, median ${fmt(median(serverMs))}, max ${fmt(Math.max(...serverMs))}`)
const diffs = []
for (const l of agentLog) { try { const o = JSON.parse(l); if (o.msg === 'rules applied' && o.mode === 'diff') diffs.push(o) } catch { /* not JSON */ } }
if (metrics) console.log(`\nthe agent's own figure (/metrics): ${metrics}`)
console.log(`the agent's steps per change sync (median of the last ${diffs.length} logged): compile ${median(diffs.map((d) => d.steps.compile)).toFixed(1)} ms, apply ${median(diffs.map((d) => d.steps.apply)).toFixed(1)} ms, records ${median(diffs.map((d) => d.steps.records)).toFixed(1)} ms`)
// How each diff went: element-only diffs as one nf_tables netlink batch, the rest through nft.
for (const via of ['netlink', 'nft']) {
  const v = diffs.filter((d) => (d.via ?? 'nft') === via)
  if (v.length) console.log(`  diffs via ${via.padEnd(7)} ${String(v.length).padStart(4)}: apply median ${median(v.map((d) => d.steps.apply)).toFixed(1)} ms, p90 ${quantile(v.map((d) => d.steps.apply), 0.9).toFixed(1)} ms; compile median ${median(v.map((d) => d.steps.compile)).toFixed(1)} ms`)
}
if (dataplane) {
  const d = summarize(dataplane, 'all')
  const verdict = (x) => `goal >= 0.97  ${x >= 0.97 ? 'ok' : 'MISSED'}`
  console.log(`\ndataplane between two local pods (${DP.rounds} rounds alternated, ${DP.seconds} s of connections, ${DP.mb} MB transfers); medians, 0 / all policies`)
  row('CPU per new TCP connection (client + server)', `${d.usPerConn.base.toFixed(1)} / ${d.usPerConn.cfg.toFixed(1)} us`)
  row('  connections/s the rules allow (cost ratio)', d.usPerConn.ratio.toFixed(3), verdict(d.usPerConn.ratio))
  row('CPU per MB transferred (client + server)', `${d.msPerMb.base.toFixed(2)} / ${d.msPerMb.cfg.toFixed(2)} ms`)
  row('  throughput the rules allow (cost ratio)', d.msPerMb.ratio.toFixed(3), verdict(d.msPerMb.ratio))
  row('new TCP connections/s (shared machine: noise)', `${d.cps.base.toFixed(0)} / ${d.cps.cfg.toFixed(0)}  ratio ${d.cps.ratio.toFixed(3)}`)
  row('throughput MB/s (shared machine: noise)', `${d.mbs.base.toFixed(0)} / ${d.mbs.cfg.toFixed(0)}  ratio ${d.mbs.ratio.toFixed(3)}`)
}
if (args['keep-log']) writeFileSync(args['keep-log'], agentLog.join('\n'))
cleanup()
process.exit(0)

/** The agent's programming-latency histogram, summarised (quantiles by bucket upper bound). */
function scrapeMetrics() {
  let text
  try {
    text = sh('ip', ['netns', 'exec', NS, process.execPath, '-e', `fetch('http://${METRICS}/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))`])
  } catch (err) {
    return `unreadable (${err.message.split('\n')[0]})`
  }
  const buckets = [...text.matchAll(/^cinch_policy_programming_latency_seconds_bucket\{le="([^"]+)"\} (\d+)/gm)].map((m) => ({ le: Number(m[1]), n: Number(m[2]) }))
  const count = Number(/^cinch_policy_programming_latency_seconds_count (\d+)/m.exec(text)?.[1] ?? 0)
  if (!count) return 'cinch_policy_programming_latency_seconds absent (an agent built before it)'
  const q = (x) => buckets.find((b) => b.n >= x * count)?.le
  return `${count} observations; p50 <= ${q(0.5) * 1000} ms, p90 <= ${q(0.9) * 1000} ms, p99 <= ${q(0.99) * 1000} ms (bucket bounds)`
}

/**
 * With the agent stopped (its rules stay in force), two pod namespaces on the host veths of the
 * records of CLIENT and SERVER, and TCP between them with every policy vs none: both rulesets
 * compiled here by the agent's compiler and renderer from the same cluster, applied by `nft -f`.
 */
async function measureDataplane() {
  const { Compiler } = await import('../policy-agent/compile/index.ts')
  const { renderFull } = await import('../policy-agent/render/index.ts')
  const nodeLocals = locals.map((lp, k) => ({ ...lp, hostVeth: vethOf(k) }))
  const files = {}
  for (const [name, policies] of [['all', state.policies], ['none', new Map()]]) {
    const { ir } = new Compiler().compile({ ...state, policies, clusterNetworkPolicies: new Map() }, nodeLocals)
    files[name] = join(tmp, `ruleset-${name}.nft`)
    writeFileSync(files[name], renderFull(ir))
  }
  const pod = (key, role) => {
    const k = nodeLocals.findIndex((l) => `${l.namespace}/${l.name}` === key)
    return { netns: `${NS}-${role}`, hostVeth: vethOf(k), ip: nodeLocals[k].ips[0] }
  }
  const client = pod(CLIENT, 'c'), server = pod(SERVER, 's')
  const dpTrack = { netns: (n) => extraNetns.push(n), child: track }
  setupPods({ host: NS, hostExists: true, pods: [client, server], track: dpTrack })
  writeScripts(tmp)
  await startServer({ dir: tmp, netns: server.netns, port: 5432, track: dpTrack })
  const apply = (name) => async () => sh('ip', ['netns', 'exec', NS, '/usr/sbin/nft', '-f', files[name]])
  const results = await compareRulesets({ dir: tmp, host: NS, client, server, port: 5432, configs: { none: apply('none'), all: apply('all') }, track: dpTrack, ...DP })
  // The rules were in the path: the policy admitting the client counted its connections.
  await apply('all')()
  const listed = sh('ip', ['netns', 'exec', NS, '/usr/sbin/nft', 'list', 'counters', 'table', 'inet', 'cinch'])
  sh('ip', ['netns', 'exec', client.netns, 'bash', '-c', `exec 3<>/dev/tcp/${server.ip}/5432`])
  const after = sh('ip', ['netns', 'exec', NS, '/usr/sbin/nft', 'list', 'counters', 'table', 'inet', 'cinch'])
  if (listed === after) throw new Error('no counter of table inet cinch moved: the rules are not in the path')
  return results
}
