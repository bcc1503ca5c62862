// npm run bench:policy (as root): `node --import tsx/esm bench/policy.mjs`.
// Under npm, node_modules/.bin (with @vercel/nft's unrelated `nft`) comes first on PATH: call nftables by path.
// The policy agent at scale (issue #3 "Speed"): 5,000 pods in 500 namespaces, 2,000 policies,
// 100 ClusterNetworkPolicies (50 Admin, 50 Baseline: issue #10; "all policies" below counts them
// too, "0 policies" has neither), 100 local pods. Reports the full compile + apply time, the time from one label change and from
// one new policy to the rule being in the kernel through the agent's own path (state change ->
// compile -> renderDiff -> nft), rule and element counts, and the dataplane cost between two local
// pods with 2,000 policies against 0 (connections per second, throughput), alternated in one run.
// Everything kernel-side happens in namespaces created here and removed on exit, even on Ctrl-C.
// Then the dataplane cost of flow logs (issue 11): the same policies with flow logs off, on, and on
// under a flood the kernel's limit holds back (bench/flows-dataplane.mjs).
// Knobs: BENCH_CHANGES (30), BENCH_ROUNDS (5), BENCH_SECONDS (2, per connection-rate run), BENCH_MB (500),
// BENCH_FLOW_ROUNDS (10).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { Agent } from '../policy-agent/agent.ts'
import { Applier } from '../policy-agent/apply/applier.ts'
import { Compiler } from '../policy-agent/compile/index.ts'
import { renderFull } from '../policy-agent/render/index.ts'
import { spawn } from 'node:child_process'
import { cleanupOnExit, median, netnsDel, quantile, sh, uniqueName } from './lib.mjs'
import { extraPolicy, syntheticCluster } from './policy-cluster.mjs'
import { runClient, setupPods, startServer, writeScripts } from './policy-dataplane.mjs'
import { compareFlowLogs, flowRulesets, printFlowLogs, startReader } from './flows-dataplane.mjs'

const CHANGES = Number(process.env.BENCH_CHANGES ?? 30)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2)
const MB = Number(process.env.BENCH_MB ?? 500)
const FLOW_ROUNDS = Number(process.env.BENCH_FLOW_ROUNDS ?? 10)
const id = uniqueName('x').slice(2)
const tmp = mkdtempSync(join(tmpdir(), 'cinch-bench-pol-'))

// ---- cleanup of everything we create, whatever happens -------------------------------------
const { track, cleanup } = cleanupOnExit(tmp)

const ms = (x) => `${x.toFixed(1)} ms`
const row = (what, value, goal = '') => console.log(`${what.padEnd(52)} ${value.padStart(22)}  ${goal}`)
const nftIn = (netns) => (text) => new Promise((resolve, reject) => {
  // `ip netns exec`: nft starts in that namespace whatever lib/nft's backend does. (setns around a
  // runNft call is not enough since lib/nft may do its work after an await, back in the caller's
  // namespace: a run of this bench once wrote cinch's tables into the host's own.)
  const child = spawn('ip', ['netns', 'exec', netns, '/usr/sbin/nft', '-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] })
  let err = ''
  child.stderr.on('data', (b) => (err += b))
  child.on('error', reject)
  child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`nft -f in ${netns} exited ${code}: ${err.slice(0, 2000)}`))))
  child.stdin.end(text)
})

// ---- the cluster -----------------------------------------------------------------------------
const CLIENT = 'ns-005/pod-1' // tier be: egress-isolated, may reach tier db on 5432
const SERVER = 'ns-005/pod-2' // tier db: ingress-isolated, accepts tier be on 5432
const { state, locals } = syntheticCluster({ extraLocal: [SERVER], cnps: 100 })
const stateDir = join(tmp, 'state')
mkdirSync(join(stateDir, 'attachments'), { recursive: true })
for (const [i, lp] of locals.entries()) {
  writeFileSync(join(stateDir, 'attachments', `c${i}_eth0.json`), JSON.stringify({
    containerId: `c${i}`, ifName: 'eth0', netns: `/run/netns/none-${i}`, podNamespace: lp.namespace, podName: lp.name,
    // Host veths as cinch-bridge names them: lib/state/attachments.ts skips records with others
    // (a bench with none of its records read measured an empty node).
    ips: [`${lp.ips[0]}/16`, `${lp.ips[1]}/64`], hostVeth: `cinch${i.toString(16).padStart(10, '0')}`, bridge: 'cinch0', network: 'cinch', createdAt: new Date().toISOString(),
  }))
}
console.log(`cinch policy bench: ${state.pods.size} pods, ${state.namespaces.size} namespaces, ${state.policies.size} policies, ${state.clusterNetworkPolicies.size} ClusterNetworkPolicies (Admin and Baseline), ${locals.length} local pods\n`)

// ---- 1. full sync: compile + render + nft -f, in a fresh namespace -------------------------
const cp = `cinch-b-pol-cp-${id}`
sh('ip', ['netns', 'add', cp])
track.netns(cp)
const apply = nftIn(cp)
const full = []
let ir
for (let i = 0; i < 4; i++) {
  // A new Compiler each time, as at agent start; the first run is also the process's first (cold).
  const t0 = performance.now()
  ir = new Compiler().compile(state, locals).ir
  const t1 = performance.now()
  const text = renderFull(ir)
  const t2 = performance.now()
  await apply(text)
  const t3 = performance.now()
  full.push({ compile: t1 - t0, render: t2 - t1, nft: t3 - t2, total: t3 - t0, bytes: text.length })
}
const warm = full.slice(1)
const med = (k) => median(warm.map((f) => f[k]))
row('full sync, first in process (compile+render+nft)', ms(full[0].total), 'goal < 1000 ms')
row('  compile / render / nft -f', `${full[0].compile.toFixed(0)} / ${full[0].render.toFixed(0)} / ${full[0].nft.toFixed(0)} ms`)
row('full sync, warm median', ms(med('total')), 'goal < 1000 ms')
row('  compile / render / nft -f', `${med('compile').toFixed(0)} / ${med('render').toFixed(0)} / ${med('nft').toFixed(0)} ms`)
const elements = Object.values(ir.sets).reduce((n, s) => n + s.elements.length, 0)
const mapEls = Object.values(ir.maps).reduce((n, m) => n + Object.keys(m).length, 0)
const rules = Object.values(ir.chains).reduce((n, c) => n + c.rules.length + 1, 0)
row('pod chains / rules in them', `${Object.keys(ir.chains).length} / ${rules}`)
row('sets / set elements / verdict map elements', `${Object.keys(ir.sets).length} / ${elements} / ${mapEls}`)
row('ruleset text of a full sync', `${(full[0].bytes / 1024).toFixed(0)} KiB`)

// ---- 2. incremental: the agent's own path -----------------------------------------------------
let notify = () => {}
const source = { start: async (cb) => { notify = cb }, state: () => state, problems: () => [], stop: async () => {} }
let synced = () => {}
const nftTimes = [] // each nft -f of the agent's applier
const syncTimes = [] // each sync as the agent reports it (attachments, compile, render, nft)
const agent = new Agent({
  source, stateDir, nodeName: 'node-0', log: pino({ level: 'silent' }),
  // Conntrack cleanup would walk the real host's table: not here (it runs after the reply anyway).
  conntrackCleanup: false,
  applier: new Applier({ run: async (text) => { const t = performance.now(); await apply(text); nftTimes.push(performance.now() - t) } }),
  onSynced: (r) => synced(r),
})
await agent.start()
/** One change as a source makes it (replace the object, call onChange); ms until it is in the kernel. */
async function timeChange(change) {
  const done = new Promise((resolve) => (synced = resolve))
  const t0 = performance.now()
  change()
  notify()
  const report = await done
  const t = performance.now() - t0
  syncTimes.push(report.durationMs)
  if (report.apply.mode !== 'diff') throw new Error(`expected a diff, got ${report.apply.mode}`)
  return t
}
const localKeys = new Set(locals.map((l) => `${l.namespace}/${l.name}`))
const podKeys = [...state.pods.keys()]
const labelMs = []
for (let k = 0; k < CHANGES; k++) {
  // Two of three on remote pods: app-1 in or out, so the pod enters or leaves the set of
  // "app=app-1 in any namespace" (db egress). One of three on a local pod: its tier, so its chains.
  const local = k % 3 === 2
  const key = local ? [...localKeys][(k * 7) % localKeys.size] : podKeys.filter((p) => !localKeys.has(p))[(k * 131) % 4900]
  labelMs.push(await timeChange(() => {
    const p = state.pods.get(key)
    const labels = local ? { ...p.labels, tier: p.labels.tier === 'fe' ? 'be' : 'fe' } : { ...p.labels, app: p.labels.app === 'app-1' ? 'app-2' : 'app-1' }
    state.pods.set(key, { ...p, labels })
  }))
}
const localNs = [...new Set(locals.map((l) => l.namespace))]
const policyMs = []
for (let k = 0; k < CHANGES; k++) {
  const p = extraPolicy(localNs[(k * 13) % localNs.length], k)
  policyMs.push(await timeChange(() => state.policies.set(`${p.metadata.namespace}/${p.metadata.name}`, p)))
}
// The last policy is in the kernel: its ipBlock set holds 192.168.<k>.0/24.
const last = CHANGES - 1
const listed = sh('ip', ['netns', 'exec', cp, '/usr/sbin/nft', 'list', 'table', 'inet', 'cinch'])
if (!listed.includes(`192.168.${last}.0/24`) || !listed.includes(`ns-`)) throw new Error('the last new policy is not in the kernel')
await agent.stop()
row('one label change -> in the kernel: median / p95', `${ms(median(labelMs))} / ${ms(quantile(labelMs, 0.95))}`, 'goal median < 20 ms')
row('one new policy -> in the kernel: median / p95', `${ms(median(policyMs))} / ${ms(quantile(policyMs, 0.95))}`, 'goal median < 20 ms')
// Where the time goes: the agent's own sync, the nft runs in it, and the compiler alone.
const changeNft = nftTimes.slice(-2 * CHANGES)
row('  of which the agent\'s sync (median)', ms(median(syncTimes)))
row('  of which `nft -f` of the diff (median)', ms(median(changeNft)))
const c = new Compiler()
c.compile(state, locals)
const cmpMs = []
for (let k = 0; k < CHANGES; k++) {
  const key = podKeys[(k * 977) % podKeys.length]
  const p = state.pods.get(key)
  state.pods.set(key, { ...p, labels: { ...p.labels, tier: p.labels.tier === 'fe' ? 'db' : 'fe' } })
  const t0 = performance.now()
  c.compile(state, locals)
  cmpMs.push(performance.now() - t0)
}
row('  of which incremental compile (label change), median', ms(median(cmpMs)))
const nftMs = []
for (let k = 0; k < 10; k++) {
  const t0 = performance.now()
  await apply(`add element inet cinch ingress-v4 { 10.250.0.${k} : jump ${Object.keys(ir.chains)[0]} }\n`)
  nftMs.push(performance.now() - t0)
}
row('  of which one `nft -f` of one element, median', ms(median(nftMs)))
netnsDel(cp)

// ---- 3. dataplane: 2,000 policies vs 0, alternated ----------------------------------------------
const host = `cinch-b-pol-h-${id}`
const pod = (key, role) => {
  const lp = locals.find((l) => `${l.namespace}/${l.name}` === key)
  return { netns: `cinch-b-pol-${role}-${id}`, hostVeth: lp.hostVeth, ip: lp.ips[0] }
}
const client = pod(CLIENT, 'c'), server = pod(SERVER, 's')
setupPods({ host, pods: [client, server], track })
writeScripts(tmp)
const PORT = 5432
const srv = await startServer({ dir: tmp, netns: server.netns, port: PORT, track })
const applyHost = nftIn(host)
const none = { ...state, policies: new Map(), clusterNetworkPolicies: new Map() }
const rulesets = { 0: renderFull(new Compiler().compile(none, locals).ir), 2000: renderFull(ir) }
const results = { 0: { cps: [], mbs: [] }, 2000: { cps: [], mbs: [] } }
for (let r = 0; r < ROUNDS; r++) {
  for (const cfg of r % 2 ? [2000, 0] : [0, 2000]) {
    await applyHost(rulesets[cfg])
    sh('ip', ['netns', 'exec', host, 'conntrack', '-F'], { stdio: 'ignore' })
    const cps = await runClient({ dir: tmp, netns: client.netns, args: ['cps', server.ip, PORT, SECONDS, 8], track })
    if (cps.failed) throw new Error(`${cps.failed} connections failed with ${cfg} policies`)
    const x = await runClient({ dir: tmp, netns: client.netns, args: ['xfer', server.ip, PORT, MB], track })
    results[cfg].cps.push(cps.perSecond)
    results[cfg].mbs.push(x.mbPerSecond)
  }
}
// The rules really were in the path: the 2,000-policy ruleset counted our connections.
await applyHost(rulesets[2000])
await runClient({ dir: tmp, netns: client.netns, args: ['cps', server.ip, PORT, 0.2, 1], track })
const counters = sh('ip', ['netns', 'exec', host, '/usr/sbin/nft', 'list', 'counter', 'inet', 'cinch', 'policy-ns-005-allow-db'])
if (/packets 0 /.test(counters)) throw new Error('the policy counter of ns-005/allow-db did not count: rules not in the path')
const ratio = (k) => median(results[2000][k].map((v, i) => v / results[0][k][i]))
row('new TCP connections/s, 0 policies (median)', median(results[0].cps).toFixed(0))
row('new TCP connections/s, 2,000 policies (median)', median(results[2000].cps).toFixed(0))
row('  ratio 2,000 / 0 (median of rounds)', ratio('cps').toFixed(3), 'goal >= 0.97')
row(`throughput MB/s, ${MB} MB, 0 policies (median)`, median(results[0].mbs).toFixed(0))
row(`throughput MB/s, ${MB} MB, 2,000 policies (median)`, median(results[2000].mbs).toFixed(0))
row('  ratio 2,000 / 0 (median of rounds)', ratio('mbs').toFixed(3), 'goal >= 0.97')

// ---- 4. flow logs: the same policies, logged or not (issue 11) -------------------------------
// Compiled from a fresh copy of the cluster: part 2 relabelled local pods (the client may no
// longer be allowed to reach the server) and added policies.
const fresh = syntheticCluster({ extraLocal: [SERVER], cnps: 100 })
const flows = await flowRulesets(fresh.state, fresh.locals)
console.log(`\nflow logs (${flows.logRules} log rules; on: limit ${1e6}/s, flood: the default ${flows.defaults.rate}/s burst ${flows.defaults.burst}), ${FLOW_ROUNDS} rounds alternated`)
const flowRes = await compareFlowLogs({
  dir: tmp, host, client, server, serverPid: srv.pid, port: PORT, rounds: FLOW_ROUNDS, seconds: SECONDS, track,
  openReader: () => startReader({ netns: host, group: flows.group, track }),
  apply: (cfg) => applyHost(flows.text[cfg]),
})
printFlowLogs(flowRes, row)
cleanup()
process.exit(0)
