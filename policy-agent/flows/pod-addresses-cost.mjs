// What a pod change costs the flow recorder's address -> pod lookup at 30,000 pods, in process:
// before (the whole map rebuilt from every pod at the first flow event after the change, the
// recorder's code until pod-addresses.ts, copied below) against after (PodAddressIndex.sync over
// the pods the store logged), on the same snapshots, alternating which goes first. Also the
// recorder end to end: setApplied after the change, then one flow event naming a pod.
//
//   node --import tsx/esm policy-agent/flows/pod-addresses-cost.mjs [--pods 30000] [--changes 300]
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { podOf } from '../../bench/policy-cluster.mjs'
import { podObject } from '../../bench/policy-scale-objects.mjs'
import { median, quantile } from '../../bench/lib.mjs'
import { canonicalIp } from '../../lib/ip/index.js'
import { ClusterStore } from '../sources/store.js'
import { createFlowMetrics } from './metrics.js'
import { PodAddressIndex } from './pod-addresses.js'
import { FlowRecorder } from './recorder.js'
import { FlowRing } from './ring.js'

const { values: a } = parseArgs({ options: { pods: { type: 'string', default: '30000' }, changes: { type: 'string', default: '300' } } })
const PODS = Number(a.pods), CHANGES = Number(a.changes), PER_NS = 4

const store = new ClusterStore()
const list = store.replace('Pod')
const raw = (ns, n, j, i) => podObject(podOf(ns, n, j, i), i)
for (let i = 0; i < PODS; i++) list.add(raw(`ns-${Math.floor(i / PER_NS)}`, Math.floor(i / PER_NS), i % PER_NS, i))
list.done()

// Before: src/flows/recorder.ts #podOf as it was, the map built from every pod.
function rebuild(state) {
  const m = new Map()
  for (const p of state.pods.values()) {
    if (p.hostNetwork) continue
    for (const ip of p.ips) { const c = canonicalIp(ip, { lenient: true }); if (c) m.set(c, `${p.namespace}/${p.name}`) }
  }
  return m
}

const ix = new PodAddressIndex()
const t0 = performance.now()
ix.sync(store.state())
const firstIndex = performance.now() - t0
const t1 = performance.now()
rebuild(store.state())
const firstRebuild = performance.now() - t1

// The recorder end to end (after): a fake reader hands it one packet per change.
let hand
const rec = new FlowRecorder({
  group: 1, intervalMs: 3_600_000, ring: new FlowRing(10), metrics: createFlowMetrics({ registry: new Registry() }), log: pino({ level: 'silent' }),
  sink: { write() {}, close() {} }, openReader: async (o) => { hand = o; return { close() {} } },
})
await rec.start()
const IR = { chains: {}, policyCounters: {}, ruleCounters: {} }
const v4 = (addr) => {
  const b = Buffer.alloc(24); b[0] = 0x45; b[9] = 6
  Buffer.from(addr.split('.').map(Number)).copy(b, 12); Buffer.from([10, 64, 0, 1]).copy(b, 16)
  return { family: 2, group: 1, hwProtocol: 0x0800, hook: 2, prefix: 'cinch1:inxD:000000000000', payload: b }
}
rec.setApplied(IR, store.state())
hand.onPacket(v4('10.64.0.2')) // builds the recorder's index once

// Each change is one pod: a relabel (same addresses), a new pod with new addresses, its deletion.
const before = [], after = [], e2e = []
let extra = PODS
for (let c = 0; c < CHANGES; c++) {
  const k = c % 3
  if (k === 0) { const i = (c * 7919) % PODS; const o = raw(`ns-${Math.floor(i / PER_NS)}`, Math.floor(i / PER_NS), i % PER_NS, i); o.metadata.labels.rev = String(c); store.upsert('Pod', o) }
  if (k === 1) store.upsert('Pod', raw('ns-extra', 0, extra, extra))
  if (k === 2) store.remove('Pod', raw('ns-extra', 0, extra, extra++))
  const state = store.state()
  const runs = [() => before.push(time(() => rebuild(state).get('10.64.0.2'))), () => after.push(time(() => { ix.sync(state); ix.podOf('10.64.0.2') }))]
  if (c % 2) runs.reverse()
  for (const r of runs) r()
  e2e.push(time(() => { rec.setApplied(IR, state); hand.onPacket(v4('10.64.0.2')) }))
}
rec.close()

function time(fn) { const t = performance.now(); fn(); return performance.now() - t }
const f = (xs) => `median ${median(xs).toFixed(3)} ms, p90 ${quantile(xs, 0.9).toFixed(3)} ms, p99 ${quantile(xs, 0.99).toFixed(3)} ms`
console.log(`${PODS} pods, ${CHANGES} changes (relabel / add / delete of one pod)`)
console.log(`first build:   rebuild ${firstRebuild.toFixed(1)} ms, index ${firstIndex.toFixed(1)} ms`)
console.log(`per change, before (rebuild at the next flow event): ${f(before)}`)
console.log(`per change, after (index sync over the logged pods): ${f(after)}`)
console.log(`per change, after, recorder setApplied + one flow event: ${f(e2e)}`)
console.log(`ratio of medians before/after: ${(median(before) / median(after)).toFixed(0)}x`)
