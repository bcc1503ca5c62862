// Bytes the agent allocates per change outside the compiler (issue 14, bench/README.md phase 7g):
// after each change's compile, the per-sync work the agent does beside it, as agent.ts and run.ts
// wire it: the metrics' recordSync, the flow recorder's setApplied (its id table, the pods'
// address index), and a conntrack cleanup pass (the real ConntrackCleaner over an in-memory table
// of `--entries` flows, none touching a local pod, the node's addresses read from this netns as
// the agent does). The cluster is policy-cluster.mjs's (`--namespaces` x 4 pods, 110 local pods)
// through the real ClusterStore and the agent's FlowCompiler.
//   node --expose-gc --max-semi-space-size=128 --import tsx/esm bench/agent-sync-alloc.mjs \
//     [--namespaces 1500] [--changes 60] [--entries 2000] [--profile FILE.heapprofile]
// Bytes are heap used after the step minus before it, a sample dropped when a GC ran in between
// (the large semi-space keeps that rare); medians per step. --profile: a sampling allocation
// profile of the changes after the fourth, store and compile included (objects collected since included), for Chrome DevTools;
// its top functions by self size are printed.
// --gc: no GC forced before the samples (bytes are then only counted between scavenges); the
// scavenges V8 runs by itself are timed (their count, median and max pause), as they come in the
// agent every ~25 changes. With --minor-gc as well: a minor GC forced after each change's steps,
// timed (what running one on the turn after a committed sync would cost, the young generation
// holding one change's garbage), beside the scavenges that still come by themselves;
// --minor-gc-at F: only when the young generation is at least F full (0..1) after the change.
import { parseArgs } from 'node:util'
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { PerformanceObserver } from 'node:perf_hooks'
import { getHeapSpaceStatistics } from 'node:v8'
import { pino } from 'pino'
import { ClusterStore } from '../policy-agent/sources/store.ts'
import { FlowCompiler } from '../policy-agent/flows/compiler.ts'
import { FLOW_LOG_DEFAULTS } from '../policy-agent/flows/options.ts'
import { FlowRecorder } from '../policy-agent/flows/recorder.ts'
import { FlowRing } from '../policy-agent/flows/ring.ts'
import { ConntrackCleaner } from '../policy-agent/conntrack/cleaner.ts'
import { createMetrics } from '../policy-agent/server/metrics.ts'
import { IPPROTO, IPS } from '../lib/net/conntrack.ts'
import { extraPolicy, syntheticCluster } from './policy-cluster.mjs'
import { median } from './lib.mjs'

const { values: args } = parseArgs({ options: {
  namespaces: { type: 'string', default: '1500' }, changes: { type: 'string', default: '60' },
  entries: { type: 'string', default: '2000' }, profile: { type: 'string' }, 'minor-gc': { type: 'boolean' }, 'minor-gc-at': { type: 'string' }, gc: { type: 'boolean' },
} })
if (!globalThis.gc) throw new Error('run node with --expose-gc (a GC before each sample)')
const { state, locals } = syntheticCluster({ namespaces: Number(args.namespaces), podsPerNs: 4, local: 110 })
const podObj = (p) => ({
  metadata: { namespace: p.namespace, name: p.name, labels: p.labels },
  spec: { nodeName: p.nodeName, containers: [{ name: 'c', ports: p.ports }] },
  status: { podIPs: p.ips.map((ip) => ({ ip })) },
})
const nsObj = (n) => ({ metadata: { name: n.name, labels: n.labels } })
const store = new ClusterStore()
for (const [kind, items, f] of [['Namespace', state.namespaces, nsObj], ['Pod', state.pods, podObj], ['NetworkPolicy', state.policies, (x) => x]]) {
  const r = store.replace(kind)
  for (const o of items.values()) r.add(f(o))
  r.done()
}
const compiler = new FlowCompiler({ flowLogs: FLOW_LOG_DEFAULTS })
let { ir } = compiler.compile(store.state(), locals)

// The agent's per-sync wiring (run.ts onSynced, agent.ts #sync), its I/O faked or discarded.
const log = pino({ level: 'info' }, { write() {} })
const metrics = createMetrics({ appliedIr: () => ir })
const recorder = new FlowRecorder({ group: 0, ring: new FlowRing(), metrics: metrics.flows, log, sink: { write() {}, close() {} } })
const entries = []
for (let i = 0; i < Number(args.entries); i++) {
  // Flows between remote addresses (a node forwarding), as most of a busy node's table is.
  const src = `10.200.${(i >> 8) & 255}.${i & 255}`, dst = '10.201.0.1'
  entries.push({ family: 4, id: i, status: IPS.SEEN_REPLY, orig: { src, dst, proto: IPPROTO.TCP, sport: 1024 + (i % 60000), dport: 80 }, reply: { src: dst, dst: src, proto: IPPROTO.TCP, sport: 80, dport: 1024 + (i % 60000) }, state: 3 })
}
const table = () => ({
  scan: async (onEntry) => { for (let i = 0; i < entries.length; i++) if (onEntry(entries[i]) === false) return false; return true },
  remove: async (b) => ({ deleted: b.length, gone: 0, failed: 0 }),
  close() {},
})
let passDone
const cleaner = new ConntrackCleaner({ log, open: table, onPass: (r) => { metrics.recordCleanup(r); passDone?.() } })

let gcs = 0
/** the scavenges V8 ran by itself (not forced here): ms each */
const natural = []
/** [start, end] of each forced GC, to tell V8's own scavenges from them */
const forced = []
new PerformanceObserver((l) => {
  for (const e of l.getEntries()) {
    gcs++
    const byUs = forced.some(([a, b]) => e.startTime >= a - 0.01 && e.startTime <= b)
    if (!byUs && e.detail?.kind === 1) natural.push(e.duration) // NODE_PERFORMANCE_GC_MINOR
  }
}).observe({ entryTypes: ['gc'] })
/** How full the young generation's allocation space is, 0..1. */
const youngFull = () => { const s = getHeapSpaceStatistics().find((x) => x.space_name === 'new_space'); return s.space_used_size / (s.space_used_size + s.space_available_size) }
const force = (o) => { const t = performance.now(); globalThis.gc(o); const t1 = performance.now(); forced.push([t, t1]); return t1 - t }
const STEPS = ['store + compile', 'recordSync', 'setApplied', 'conntrack pass']
/** kind of change -> step -> bytes */
const steps = new Map()
const minor = []
/** Heap bytes `fn` allocated; undefined when a GC ran meanwhile. */
async function bytesOf(fn) {
  await new Promise((r) => setTimeout(r, 1)) // the observer's entries of earlier GCs delivered first
  const g = gcs, h = process.memoryUsage().heapUsed
  await fn()
  const d = process.memoryUsage().heapUsed - h
  return gcs === g ? d : undefined
}
let kind
const put = (k, b) => {
  if (b === undefined) return
  if (!steps.has(kind)) steps.set(kind, Object.fromEntries(STEPS.map((s) => [s, []])))
  steps.get(kind)[k].push(b)
}

const localNs = [...new Set(locals.map((l) => l.namespace))]
const remote = [...state.pods.values()].filter((p) => p.labels.app === 'app-0' && !locals.some((l) => l.name === p.name && l.namespace === p.namespace))
const changes = [
  ['pod label change', (k) => { const p = remote[k * 7]; store.upsert('Pod', podObj({ ...p, labels: { ...p.labels, app: k % 2 ? 'app-0' : 'app-1' } })) }],
  ['namespace label change', (k) => { const n = state.namespaces.get(localNs[k % localNs.length]); store.upsert('Namespace', nsObj({ ...n, labels: { ...n.labels, team: k % 2 ? 't99' : n.labels.team } })) }],
  ['policy create', (k) => store.upsert('NetworkPolicy', extraPolicy(localNs[(k + 20) % localNs.length], k))],
  ['policy delete', (k) => store.remove('NetworkPolicy', extraPolicy(localNs[(k - 1 + 20) % localNs.length], k - 1))],
]
const session = args.profile ? new Session() : undefined
const n = Number(args.changes)
for (let k = 0; k < n; k++) {
  if (!args.gc) force()
  let next
  const [name, change] = changes[k % changes.length]
  kind = k === 0 ? 'first (the table built whole)' : name
  put('store + compile', await bytesOf(() => { change(k); next = compiler.compile(store.state(), locals) }))
  ir = next.ir
  const report = { reason: 'source changed', at: new Date(), durationMs: 3, apply: { mode: 'incremental', lines: 10 }, localPods: locals, attachments: [], invalid: next.invalid, steps: { records: 0, compile: 1, apply: 2 }, programmingMs: [3] }
  if (session && k === 4) {
    session.connect()
    await session.post('HeapProfiler.enable')
    await session.post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
  }
  if (!args.gc) force()
  put('recordSync', await bytesOf(() => metrics.recordSync(report)))
  put('setApplied', await bytesOf(() => recorder.setApplied(ir, store.state())))
  // As agent.ts requests it; the pass runs in the background and is awaited here.
  put('conntrack pass', await bytesOf(async () => {
    const done = new Promise((r) => (passDone = r))
    cleaner.request({ state: store.state(), localIps: locals.flatMap((p) => p.ips), skipped: next.invalid.map((i) => i.policy) })
    await done
  }))
  if (args['minor-gc'] && youngFull() >= Number(args['minor-gc-at'] ?? 0)) minor.push(force({ type: 'minor' }))
}
const kb = (xs) => (xs.length ? (median(xs) / 1024).toFixed(1) : '-')
console.log(`${args.namespaces} namespaces x 4 pods, ${locals.length} local pods, ${args.entries} conntrack entries, ${n} changes; KB allocated per change, median (a sample with a GC in it dropped)`)
console.log(`  ${'change'.padEnd(30)} ${STEPS.map((s) => s.padStart(16)).join('')} ${'outside compile'.padStart(16)}`)
for (const [k, byStep] of steps) {
  const outside = STEPS.slice(1).map((s) => median(byStep[s]) || 0).reduce((a, b) => a + b, 0)
  console.log(`  ${k.padEnd(30)} ${STEPS.map((s) => kb(byStep[s]).padStart(16)).join('')} ${(outside / 1024).toFixed(1).padStart(16)}`)
}
await new Promise((r) => setTimeout(r, 10)) // the last GC entries delivered
if (args.gc) console.log(`  scavenges V8 ran by itself: ${natural.length} in ${n} changes${natural.length ? `, median ${median(natural).toFixed(2)} ms, max ${Math.max(...natural).toFixed(2)} ms, ${(natural.reduce((a, b) => a + b, 0) / n).toFixed(3)} ms per change` : ''}`)
if (minor.length) console.log(`  a minor GC forced after ${minor.length} of the changes: median ${median(minor).toFixed(2)} ms, max ${Math.max(...minor).toFixed(2)} ms, ${(minor.reduce((a, b) => a + b, 0) / n).toFixed(3)} ms per change`)
if (session) {
  const { profile } = await session.post('HeapProfiler.stopSampling')
  writeFileSync(args.profile, JSON.stringify(profile))
  const self = new Map()
  const walk = (node) => {
    const f = node.callFrame
    const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`
    self.set(key, (self.get(key) ?? 0) + node.selfSize)
    for (const c of node.children) walk(c)
  }
  walk(profile.head)
  const total = [...self.values()].reduce((a, b) => a + b, 0)
  console.log(`allocation profile of changes 5..${n} (store and compile included): ${(total / 2 ** 20).toFixed(1)} MB sampled; top by self size:`)
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${(100 * v / total).toFixed(1).padStart(5)} %  ${k}`)
}
await cleaner.stop()
recorder.close()
process.exit(0)
