// In-process: the store and the incremental compiler at 30k pods / 30k policies (the cluster of
// policy-cluster.mjs, large), fed as API objects through the real ClusterStore, and the renderDiff
// of each change. No kernel, no agent: where a change's time goes before the nft transaction.
//   node --import tsx/esm bench/policy-compile-scale.mjs [--namespaces 7500] [--samples 15] [--flow none|optin|audit]
// --flow: through the agent's FlowCompiler (flows/compiler.ts) with the default flow-log options:
// `none` no namespace opts in and no policy audits (the common case), `optin` 50 namespaces with
// local pods annotated cinch.dev/flow-logs, `audit` that plus 50 audit policies.
// --kernel (root): also commits each change's diff into a network namespace holding the full
// ruleset, alternately as one nf_tables netlink batch (NftTable.runCommands; a diff it does not
// encode goes through libnftables and counts as "nft (unsupported)") and through libnftables (the
// same text); prints each path's median beside the rest, element-only diffs apart from the others.
// The process re-runs itself inside that namespace (ip netns exec), so its tables are in its own
// namespace as the agent's are: libnftables keeps one context, as in production.
// --full-netlink (with --kernel): the full ruleset goes in as the agent's first apply sends it
// (fullCommands as one nf_tables netlink batch, not nft's text), so the encoders are warm and each
// rule of the ruleset was encoded once (lib/nft keeps a rule's bytes by its text), as in the agent.
// --monitor (with --kernel): `nft monitor` in that namespace, as bench:policy-scale runs it; prints
// per kind how long after each commit returned its "# new generation" line arrived (the
// instrument's share of that bench's "committed" figures), beside a netlink socket of our own
// that reads only the kernel's NFT_MSG_NEWGEN notification (the commit itself, nothing printed).
// --profile KIND --profile-out FILE: a CPU profile (.cpuprofile, for bench/cpuprofile-top.mjs) of
// that kind's samples alone ("policy create"), compile, diff and commit, without the setup.
// --only KIND[,KIND]: those kinds of change alone, so its first sample runs the change path cold (its
// "first" figure); --warm: the agent's warm-up (policy-agent/apply/warm.ts) after the first compile.
// --first-pass N: N new peers' first pass (sets.ts selectedPods) beside the same pass through an index
// of each namespace's pods by label, alternated, caches flushed before each (see firstPass).
// --minor-gc (with node --expose-gc): a minor GC after each change, timed: what a scavenge costs when
// it comes after every change instead of every ~25th (with --trace-gc: none other is left).
// --against DIR: a second checkout (an old build: `git worktree add DIR <commit>`, node_modules
// linked) compiles the same cluster and the same changes in this process, with its own store, each
// change compiled by both in turn (which first alternates): printed beside each kind as "against"
// (its compile's median and CPU), and its first compile beside this one's with the main thread's
// CPU. A paired comparison: both see the same load at the same moment, which alternated runs
// of the whole bench on a shared machine do not. (The store column then counts the copy to both.)
// --second-record: one local pod has two records (a pod on two cinch networks under Multus).
// --cold: before each compile (this checkout's and, with --against, the other's), writes through a
// 64 MiB buffer, twice the L3 here (32 MiB), so that the compile starts with none of the cluster's
// objects in any CPU cache. It models the agent, which idles between changes (other processes run,
// the event's parsing touches other memory) and so compiles each change with its pods, labels,
// sets and records cold: a cost proportional to the cluster is then a cache miss per entry. The
// eviction is not timed.
// --big-ns N: one more namespace, big-tenant, with one remote pod and N NetworkPolicies (a tenant the
// API server let write that many; issue 14), and two more measurements: "big namespace policy
// update" (one of its policies changed, then compiled: the namespace has no local pod, so the
// compile is the policy bookkeeping alone), and "checkDeferred" (a restart's deferred check: a new
// Compiler's deferRemote compile of the whole cluster, then checkDeferred(2) as the agent calls it
// per idle turn until done; each call timed, printed as calls, median, p99 and max), twice: with
// the policies normalized (as the store does when lists arrive) and with fresh copies of every
// policy (a restart from the snapshot, which normalizes none). With --against, both for the other
// checkout too (its compiler, its store's state), in four rounds that alternate which goes first,
// and each side's medians over the rounds. --only selects them by those names.
import { parseArgs } from 'node:util'
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { spawn } from 'node:child_process'
import { ClusterStore } from '../policy-agent/sources/store.ts'
import { Compiler } from '../policy-agent/compile/index.ts'
import { FlowCompiler } from '../policy-agent/flows/compiler.ts'
import { FLOW_LOG_DEFAULTS } from '../policy-agent/flows/options.ts'
import { elementCommandsOf, fullCommands, planDiff, renderFull } from '../policy-agent/render/index.ts'
import { warmUp } from '../policy-agent/apply/warm.ts'
import { selectedPods } from '../policy-agent/compile/sets.ts'
import { normalizePolicy } from '../policy-agent/compile/normalize.ts'
import { NftTable, UnsupportedElements } from '../lib/nft/index.ts'
import { elementBatch, runElementBatch } from '../lib/nft/elements-netlink.ts'
import { RawNetlinkSocket } from 'netlink/dist/raw.js'
import { NETLINK_NETFILTER, parseMessages } from '../lib/net/nfnetlink.ts'
import { extraPolicy, syntheticCluster } from './policy-cluster.mjs'
import { inOwnNetns, median } from './lib.mjs'

const { values: args } = parseArgs({ options: { against: { type: 'string' }, namespaces: { type: 'string', default: '7500' }, samples: { type: 'string', default: '15' }, flow: { type: 'string' }, kernel: { type: 'boolean' }, monitor: { type: 'boolean' }, profile: { type: 'string' }, 'profile-out': { type: 'string' }, only: { type: 'string' }, warm: { type: 'boolean' }, 'first-pass': { type: 'string' }, 'minor-gc': { type: 'boolean' }, 'full-netlink': { type: 'boolean' }, cold: { type: 'boolean' }, 'big-ns': { type: 'string' }, 'second-record': { type: 'boolean' } } })
if (args.flow && !['none', 'optin', 'audit'].includes(args.flow)) throw new Error('--flow: none, optin or audit')
if (args['minor-gc'] && !globalThis.gc) throw new Error('--minor-gc: run node with --expose-gc')
if (args.kernel) inOwnNetns('cinch-bench-cs')
const namespaces = Number(args.namespaces), samples = Number(args.samples)
/** --cold: evicts the CPU caches (a write to each 64-byte line of a buffer twice the L3's size). */
const coldBuf = args.cold ? Buffer.alloc(64 << 20) : undefined
let coldTurn = 0
const evictCaches = () => {
  if (!coldBuf) return
  const v = ++coldTurn & 0xff
  for (let i = 0; i < coldBuf.length; i += 64) coldBuf[i] = v
}
const { state, locals } = syntheticCluster({ namespaces, podsPerNs: 4, local: 110 })
// --second-record: one local pod has a second record (a second cinch network under Multus, its
// own veth and address), which until phase 20 kept every compile a full one.
if (args['second-record']) locals.push({ ...locals[0], ips: ['10.250.0.1'], hostVeth: 'cinchnet2' })
/** --big-ns: the tenant's namespace, its pod (not local) and policies (distinct peers and ports). */
const bigNs = 'big-tenant', bigN = Number(args['big-ns'] ?? 0)
const bigPolicy = (k, port = 7000 + (k % 1000)) => ({
  apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: bigNs, name: `tenant-${String(k).padStart(6, '0')}` },
  spec: {
    podSelector: { matchLabels: { app: `app-${k % 50}` } },
    ingress: [{ from: [{ podSelector: { matchLabels: { version: `v${k % 4}` } } }, { ipBlock: { cidr: `10.${200 + (k >> 16)}.${(k >> 8) & 255}.${k & 255}/32` } }], ports: [{ port }] }],
  },
})
if (bigN) {
  state.namespaces.set(bigNs, { name: bigNs, labels: { team: 't0', env: 'prod' } })
  const pod = state.pods.values().next().value
  state.pods.set(`${bigNs}/web-0`, { ...pod, namespace: bigNs, name: 'web-0', ips: ['10.251.0.1'], labels: { app: 'app-0' } })
  for (let k = 0; k < bigN; k++) { const p = bigPolicy(k); state.policies.set(`${bigNs}/${p.metadata.name}`, p) }
}

const podObj = (p) => ({
  metadata: { namespace: p.namespace, name: p.name, labels: p.labels },
  spec: { nodeName: p.nodeName, containers: [{ name: 'c', ports: p.ports }] },
  status: { podIPs: p.ips.map((ip) => ({ ip })) },
})
const nsObj = (n) => ({ metadata: { name: n.name, labels: n.labels, ...(n.annotations ? { annotations: n.annotations } : {}) } })
if (args.flow === 'optin' || args.flow === 'audit') {
  const ns = [...new Set(locals.map((l) => l.namespace))].slice(0, 50)
  for (const n of ns) state.namespaces.set(n, { ...state.namespaces.get(n), annotations: { 'cinch.dev/flow-logs': 'true' } })
  if (args.flow === 'audit') ns.forEach((n, k) => { const p = extraPolicy(n, 1000 + k); p.metadata.annotations = { 'cinch.dev/audit': 'true' }; state.policies.set(`${n}/${p.metadata.name}`, p) })
}

const store = new ClusterStore()
let t = performance.now()
for (const [kind, items, f] of [['Namespace', state.namespaces, nsObj], ['Pod', state.pods, podObj], ['NetworkPolicy', state.policies, (x) => x]]) {
  const r = store.replace(kind)
  for (const o of items.values()) r.add(f(o))
  r.done()
}
console.log(`store filled: ${(performance.now() - t).toFixed(0)} ms`)
const c = args.flow ? new FlowCompiler({ flowLogs: FLOW_LOG_DEFAULTS }) : new Compiler()
console.log(`compiler: ${args.flow ? `FlowCompiler, flow ${args.flow}` : 'Compiler'}`)
t = performance.now()
let { ir } = c.compile(store.state(), locals)
console.log(`first compile: ${(performance.now() - t).toFixed(0)} ms; render full ${renderFull(ir).length} chars`)
/** --against: the other checkout's store and compiler, fed every change the store gets. */
let against
if (args.against) {
  const { ClusterStore: OtherStore } = await import(`${args.against}/policy-agent/sources/store.ts`)
  const { Compiler: OtherCompiler } = await import(`${args.against}/policy-agent/compile/index.ts`)
  const { FlowCompiler: OtherFlow } = await import(`${args.against}/policy-agent/flows/compiler.ts`)
  const other = new OtherStore()
  for (const [kind, items, f] of [['Namespace', state.namespaces, nsObj], ['Pod', state.pods, podObj], ['NetworkPolicy', state.policies, (x) => x]]) {
    const r = other.replace(kind)
    for (const o of items.values()) r.add(f(o))
    r.done()
  }
  against = { store: other, Compiler: OtherCompiler, c: args.flow ? new OtherFlow({ flowLogs: FLOW_LOG_DEFAULTS }) : new OtherCompiler() }
  const t0 = performance.now(), m0 = process.threadCpuUsage()
  against.c.compile(other.state(), locals)
  const m = process.threadCpuUsage(m0)
  console.log(`first compile against ${args.against}: ${(performance.now() - t0).toFixed(0)} ms, main thread CPU ${((m.user + m.system) / 1000).toFixed(0)} ms (this one's first compile ran first, in a colder process)`)
  // Every change made to the store is made to the other one too (a copy: stores keep what they get).
  for (const verb of ['upsert', 'remove']) {
    const own = store[verb].bind(store)
    store[verb] = (kind, o) => { other[verb](kind, structuredClone(o)); return own(kind, o) }
  }
}
// With node --expose-gc: the heap the store and the compiler keep (what a change adds to the agent's RSS).
if (globalThis.gc) { globalThis.gc(); console.log(`heap used after the first compile: ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(1)} MB`) }

if (args.warm) {
  t = performance.now()
  const { encoded } = warmUp(() => (args.flow ? new FlowCompiler({ flowLogs: FLOW_LOG_DEFAULTS }) : new Compiler()))
  console.log(`warm-up: ${(performance.now() - t).toFixed(1)} ms, ${encoded} diffs encoded`)
}
let kernel
if (args.kernel) {
  // In the namespace the parent made (see the head of this file): tables without `netns`.
  kernel = { policy: new NftTable({ family: 'inet', name: 'cinch' }), bridge: new NftTable({ family: 'bridge', name: 'cinch' }), turn: 0 }
  t = performance.now()
  if (args['full-netlink']) await kernel.policy.runCommands(fullCommands(ir), { also: [kernel.bridge], maxBytes: 256 * 1024 * 1024 })
  else await kernel.policy.runText(renderFull(ir), { also: [kernel.bridge] })
  console.log(`full ruleset${args['full-netlink'] ? ' (netlink)' : ''} into netns ${process.env.CINCH_BENCH_NETNS}: ${(performance.now() - t).toFixed(0)} ms`)
}

// nft monitor, piped through grep as bench:policy-scale does; each generation line's arrival.
let generation
if (kernel && args.monitor) {
  const mon = spawn('/usr/sbin/nft', ['monitor'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const grep = spawn('grep', ['--line-buffered', '^# new generation'], { stdio: [mon.stdout, 'pipe', 'inherit'] })
  generation = { seen: 0, waiters: [], stop: () => { mon.kill(); grep.kill() } }
  let buf = ''
  grep.stdout.on('data', (d) => {
    buf += d
    for (let i; (i = buf.indexOf('\n')) >= 0; buf = buf.slice(i + 1)) {
      generation.seen++
      for (const w of generation.waiters.splice(0)) w(performance.now())
    }
  })
  // NFNLGRP_NFTABLES (7); NFT_MSG_NEWGEN (15) of subsystem NFNL_SUBSYS_NFTABLES (10).
  const sock = new RawNetlinkSocket(NETLINK_NETFILTER, { recvBufferSize: 8 << 20, sendBufferSize: 0 })
  sock.addMembership(7)
  sock.on('message', (buf) => {
    for (const m of parseMessages(buf)) if (m.type === ((10 << 8) | 15)) { generation.newgen = performance.now(); for (const w of generation.newgenWaiters.splice(0)) w(generation.newgen) }
  })
  sock.on('error', () => {})
  generation.newgenWaiters = []
  const stop = generation.stop
  generation.stop = () => { stop(); sock.close() }
  await new Promise((r) => setTimeout(r, 300)) // subscribed
}
/** Resolves with the time of the next generation line after `seen` lines (bounded). */
const nextGeneration = (seen) => generation.seen > seen ? Promise.resolve(performance.now()) : new Promise((r) => {
  generation.waiters.push(r)
  setTimeout(() => r(NaN), 2000)
})

/** Of each netlink commit, the encoding's share (path -> ms). */
const encodeMs = {}
/** Why diffs went through nft although the netlink path was tried: reason -> count. */
const unsupported = new Map()

/** Commits a diff plan into the bench namespace; returns [path, ms]. */
async function commit(plan) {
  const t0 = performance.now()
  const what = elementCommandsOf(plan) ? 'elements' : 'chains'
  // Diffs alternate between the two paths, so both see the same kinds of change.
  if (plan.commands && kernel.turn++ % 2 === 0) {
    try {
      // NftTable.runCommands in its two steps, timed apart: encoding, then the batch's round trip.
      const batch = elementBatch(plan.commands)
      const t1 = performance.now()
      await runElementBatch(batch)
      ;(encodeMs[`netlink ${what}`] ??= []).push(t1 - t0)
      return [`netlink ${what}`, performance.now() - t0]
    } catch (err) {
      if (!(err instanceof UnsupportedElements)) throw err
      const why = err.message.replace(/@[^\s"\\]+/g, '@S').replace(/name \\?"[^"\\]*\\?"/g, 'name C').replace(/comment \\?"[^"\\]*\\?"/g, 'comment X').replace(/^set \S+/, 'set S').slice(0, 140)
      unsupported.set(why, (unsupported.get(why) ?? 0) + 1)
      await kernel.policy.runText(plan.text, { also: [kernel.bridge] })
      return [`nft (unsupported) ${what}`, performance.now() - t0]
    }
  }
  await kernel.policy.runText(plan.text, { also: [kernel.bridge] })
  return [`nft ${what}`, performance.now() - t0]
}

async function measure(name, change) {
  if (args.only && !args.only.split(',').includes(name)) return
  const total = []
  const minor = []
  const w = [], comp = [], compCpu = [], diff = [], lines = [], applied = {}, monitored = [], newgens = []
  const session = args.profile === name ? new Session() : undefined
  if (session) {
    session.connect()
    await session.post('Profiler.enable')
    await session.post('Profiler.setSamplingInterval', { interval: 100 })
    await session.post('Profiler.start')
  }
  for (let k = 0; k < samples; k++) {
    let t0 = performance.now()
    change(k)
    w.push(performance.now() - t0)
    if (against && k % 2 === 0) againstCompile(against, k)
    evictCaches()
    t0 = performance.now()
    const u0 = process.cpuUsage()
    const next = c.compile(store.state(), locals).ir
    comp.push(performance.now() - t0)
    // CPU time as well: on a machine shared with others, wall time counts their turns on the cores.
    const u = process.cpuUsage(u0)
    compCpu.push((u.user + u.system) / 1000)
    if (against && k % 2 === 1) againstCompile(against, k)
    t0 = performance.now()
    const plan = planDiff(ir, next)
    diff.push(performance.now() - t0)
    lines.push(plan.text.split('\n').length - 1)
    if (kernel && plan.text) {
      const seen = generation?.seen ?? 0
      const newgen = generation && new Promise((r) => { generation.newgenWaiters.push(r); setTimeout(() => r(NaN), 2000) })
      const started = performance.now()
      const [path, ms] = await commit(plan)
      ;(applied[path] ??= []).push(ms)
      if (generation) {
        const done = performance.now()
        monitored.push((await nextGeneration(seen)) - done)
        newgens.push((await newgen) - started)
      }
    }
    ir = next
    total.push(performance.now() - t0 + comp.at(-1)) // compile, diff and commit
    if (args['minor-gc']) { const g0 = performance.now(); globalThis.gc({ type: 'minor' }); minor.push(performance.now() - g0) }
  }
  const k = Object.entries(applied).map(([p, xs]) => `  ${p} ${median(xs).toFixed(2)} ms${encodeMs[p] ? ` (encode ${median(encodeMs[p]).toFixed(2)})` : ''} (n ${xs.length})`).join('')
  for (const p of Object.keys(encodeMs)) delete encodeMs[p]
  if (session) {
    const { profile } = await session.post('Profiler.stop')
    writeFileSync(args['profile-out'] ?? 'compile-scale.cpuprofile', JSON.stringify(profile))
    session.disconnect()
  }
  const first = args.only ? `  first: compile ${comp[0].toFixed(2)} ms, all ${total[0].toFixed(2)} ms (later median ${median(total.slice(1)).toFixed(2)})` : ''
  const mon = monitored.length ? `  nft monitor +${median(monitored).toFixed(2)} ms (max ${Math.max(...monitored).toFixed(1)}); NEWGEN seen ${median(newgens).toFixed(2)} ms after the commit began` : ''
  console.log(`${name.padEnd(24)} store ${median(w).toFixed(2)} ms  compile ${median(comp).toFixed(2)} ms (max ${Math.max(...comp).toFixed(1)}; CPU ${median(compCpu).toFixed(2)})  renderDiff ${median(diff).toFixed(2)} ms  lines ${median(lines)}${k}${mon}${first}`)
  if (minor.length) console.log(`  a minor GC after each change: median ${median(minor).toFixed(2)} ms, max ${Math.max(...minor).toFixed(2)} ms`)
  if (against) {
    console.log(`${''.padEnd(24)} against: compile ${median(against.comp).toFixed(2)} ms (max ${Math.max(...against.comp).toFixed(1)}; CPU ${median(against.cpu).toFixed(2)})`)
    against.comp = []
    against.cpu = []
  }
}

/** --against: the other compiler's compile of the same change, timed as this one's. */
function againstCompile(a, k) {
  evictCaches()
  const t0 = performance.now(), u0 = process.cpuUsage()
  a.c.compile(a.store.state(), locals)
  ;(a.comp ??= []).push(performance.now() - t0)
  const u = process.cpuUsage(u0)
  ;(a.cpu ??= []).push((u.user + u.system) / 1000)
}
if (args['first-pass']) await firstPass(Number(args['first-pass']))

/**
 * A new peer's first pass (sets.ts selectedPods) over the store's pods, beside the same pass through
 * an index of each namespace's pods by label (key -> value -> pods: only the pods with the peer's
 * `version=vN` are matched), alternated peer by peer in one process (so both see the same load),
 * the caches flushed before each (in the agent the pods of the selected namespaces are cold,
 * scattered over its heap). The peers are those of extraPolicy: "version=vN in team tM". Phase 7b
 * measured it to decide on the index (bench/README.md); the compiler has none.
 */
async function firstPass(n) {
  const podsByNs = new Map()
  for (const [k, p] of store.state().pods) {
    let m = podsByNs.get(p.namespace)
    if (!m) podsByNs.set(p.namespace, (m = new Map()))
    m.set(k, p)
  }
  const nsLabels = (ns) => ({ ...(store.state().namespaces.get(ns)?.labels ?? {}), 'kubernetes.io/metadata.name': ns })
  const selected = new Map()
  const namespacesSelected = (sel) => {
    let l = selected.get(sel.key)
    if (!l) selected.set(sel.key, (l = [...podsByNs.keys()].filter((ns) => sel.matches(nsLabels(ns)))))
    return l
  }
  const indexes = new Map()
  const indexOf = (ns) => {
    let ix = indexes.get(ns)
    if (!ix) {
      indexes.set(ns, (ix = new Map()))
      for (const pod of podsByNs.get(ns).values()) {
        for (const [k, v] of Object.entries(pod.labels)) {
          let byValue = ix.get(k)
          if (!byValue) ix.set(k, (byValue = new Map()))
          const b = byValue.get(v)
          if (b) b.push(pod)
          else byValue.set(v, [pod])
        }
      }
    }
    return ix
  }
  const viaIndex = (peer, [key, value]) => {
    const out = []
    for (const ns of namespacesSelected(peer.nsSel)) {
      for (const pod of indexOf(ns).get(key)?.get(value) ?? []) if (!pod.hostNetwork && peer.podSel.matches(pod.labels)) out.push(pod)
    }
    return out
  }
  const flush = new Float64Array(8 << 20) // 64 MB
  const times = { scan: [], index: [], indexBuilt: [] }
  let found = 0
  for (let k = 0; k < n; k++) {
    const raw = extraPolicy(`ns-${String(k).padStart(3, '0')}`, k)
    const peer = normalizePolicy(raw).ingress[0].peers[0]
    const eq = Object.entries(raw.spec.ingress[0].from[0].podSelector.matchLabels)[0]
    const view = { podsByNs, nsLabels, namespacesSelected }
    for (const what of k % 2 ? ['scan', 'index'] : ['index', 'scan']) {
      for (let i = 0; i < flush.length; i += 8) flush[i]++
      const cold = what === 'index' && !namespacesSelected(peer.nsSel).every((ns) => indexes.has(ns))
      const t0 = performance.now()
      found += (what === 'scan' ? selectedPods(peer, view) : viaIndex(peer, eq)).length
      ;(cold ? times.indexBuilt : times[what]).push(performance.now() - t0)
    }
  }
  const m = (xs) => (xs.length ? `${median(xs).toFixed(3)} ms (n ${xs.length})` : '-')
  const heap = globalThis.gc ? (globalThis.gc(), `; heap with the index of every namespace: ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(1)} MB`) : ''
  console.log(`first pass of a new peer over its namespaces' pods (${found / 2 / n} pods selected on average): scan ${m(times.scan)}, index ${m(times.index)}, index built on the way ${m(times.indexBuilt)}${heap}`)
}

const remote = [...state.pods.values()].filter((p) => p.labels.app === 'app-0' && !locals.some((l) => l.name === p.name && l.namespace === p.namespace))
await measure('nothing changed', () => {})
await measure('pod label change', (k) => { const p = remote[k * 7]; store.upsert('Pod', podObj({ ...p, labels: { ...p.labels, app: k % 2 ? 'app-0' : 'app-1' } })) })
await measure('pod create', (k) => { const p = remote[k * 11]; store.upsert('Pod', podObj({ ...p, name: `extra-${k}`, labels: { ...p.labels, app: 'app-1' }, ips: [`10.250.${k}.1`] })) })
await measure('pod delete', (k) => { const p = remote[k * 11]; store.remove('Pod', { metadata: { namespace: p.namespace, name: `extra-${k}` } }) })
const localNs = [...new Set(locals.map((l) => l.namespace))]
await measure('namespace label change', (k) => { const n = state.namespaces.get(localNs[k]); store.upsert('Namespace', nsObj({ ...n, labels: { ...n.labels, team: 't99' } })) })
await measure('policy create', (k) => store.upsert('NetworkPolicy', extraPolicy(localNs[k + 20], k)))
await measure('policy update', (k) => { const p = extraPolicy(localNs[k + 20], k); p.spec.ingress[0].ports = [{ port: 7500 + k }]; store.upsert('NetworkPolicy', p) })
await measure('policy delete', (k) => store.remove('NetworkPolicy', extraPolicy(localNs[k + 20], k)))
if (bigN) {
  await measure('big namespace policy update', (k) => store.upsert('NetworkPolicy', bigPolicy((k * 997) % bigN, 6000 + k)))
  if (!args.only || args.only.split(',').includes('checkDeferred')) deferredCheck()
}

/** --big-ns: a restart's deferred check through checkDeferred(2) per call (see the head of this file). */
function deferredCheck() {
  const sides = [['this', Compiler, store], ...(against ? [['against', against.Compiler, against.store]] : [])]
  const summary = {}
  for (let round = 0; round < 4; round++) for (const fresh of [false, true]) {
    // Alternated: which checkout goes first swaps from one round to the next.
    for (const [who, C, st] of (round + (fresh ? 1 : 0)) % 2 ? [...sides].reverse() : sides) {
      const s = st.state()
      const input = fresh ? { ...s, policies: new Map([...s.policies].map(([k, p]) => [k, structuredClone(p)])) } : s
      const c = new C()
      c.compile(input, locals, { deferRemote: true })
      const times = []
      for (let done = false; !done;) { const t0 = performance.now(); done = c.checkDeferred(2).done; times.push(performance.now() - t0) }
      const sortedTimes = [...times].sort((a, b) => a - b)
      const what = `checkDeferred(2), ${fresh ? 'policies not normalized (a snapshot)' : 'policies normalized (lists)'}, ${who}`
      const total = times.reduce((a, b) => a + b, 0)
      console.log(`${what}: ${times.length} calls, median ${median(times).toFixed(2)} ms, p99 ${sortedTimes[Math.ceil(0.99 * times.length) - 1].toFixed(2)} ms, max ${sortedTimes.at(-1).toFixed(2)} ms, total ${total.toFixed(0)} ms`)
      ;(summary[what] ??= { max: [], total: [] }).max.push(sortedTimes.at(-1))
      summary[what].total.push(total)
    }
  }
  for (const [what, { max, total }] of Object.entries(summary)) console.log(`${what}, over ${max.length} rounds: max call median ${median(max).toFixed(2)} ms (${max.map((x) => x.toFixed(1)).join(', ')}), total median ${median(total).toFixed(0)} ms`)
}
if (unsupported.size) console.log(`not encoded (nft instead):\n${[...unsupported].map(([why, n]) => `  ${n} x ${why}`).join('\n')}`)
generation?.stop()
