// node bench/heapprofile-top.mjs DIR/agent-PID.heapprofile DIR/agent-PID.syncs
// A sampling allocation profile (bench/agent-alloc-prof.cjs) summed per sync by the first frame,
// from the root, that names a step of the agent (compile, setApplied, the conntrack request ...);
// what no step claims is listed by its first 8 frames.
import { readFileSync } from 'node:fs'
const [file, syncsFile] = process.argv.slice(2)
const p = JSON.parse(readFileSync(file)); const syncs = Number(readFileSync(syncsFile, 'utf8'))
const STEPS = ['warmUp', 'setApplied', '#pass', 'recordSync', 'compile', 'planDiff', 'apply', '#readRecords', 'toLocalPods', 'requestSync', 'scheduleSync', 'onEvent', 'upsert', 'remove', 'decode', 'collect', 'metrics', 'write', 'info', 'asJson', 'LOG', '#startOverlay', 'request', 'follow', 'flush']
const agg = new Map()
const walk = (node, bucket, st) => {
  const fn = node.callFrame.functionName
  const b = bucket ?? (STEPS.includes(fn) ? fn : undefined)
  const s2 = st.length < 8 ? [...st, fn || '(anon)'] : st
  if (node.selfSize) { const k = b ?? `? ${s2.slice(0, 8).join('>')}`; agg.set(k, (agg.get(k) ?? 0) + node.selfSize) }
  for (const c of node.children) walk(c, b, s2)
}
walk(p.head, undefined, [])
const tot = [...agg.values()].reduce((a, b) => a + b, 0)
console.log(`${(tot / syncs / 1024).toFixed(0)} KB per sync (${syncs} syncs)`)
for (const [k, v] of [...agg].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${(v / syncs / 1024).toFixed(1).padStart(7)} KB  ${k}`)
