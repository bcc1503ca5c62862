// node bench/cpuprofile-top.mjs FILE.cpuprofile [N] [--windows WINDOWS.json KEY]: where a
// `node --cpu-prof` profile's time went, by function (self time, and total time including
// callees), the N (20) largest of each. bench:policy-scale --cpu-prof DIR writes one for the
// agent's restart; with `--cpu-prof-of changes`, one of the agent that takes the changes and
// DIR/local-windows.json: {"add": [[startUs, endUs], ...], "del": [...], "policy create": [...]},
// each window one timed local ADD or DEL request (record write to reply), or one watch change of
// that kind (its event's write to its commit), in CLOCK_MONOTONIC microseconds (the bench's
// process.hrtime(), V8's base::TimeTicks: the profile's startTime and timeDeltas). With
// `--windows`, only the samples inside those windows count, per request. "(idle)" is the process
// waiting, "(program)" native work V8 cannot attribute, "(garbage collector)" GC.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'

const { values: opts, positionals } = parseArgs({ allowPositionals: true, options: { windows: { type: 'string' } } })
const [file, a, b] = positionals
const [key, n = '20'] = opts.windows ? [a, b] : [undefined, a ?? '20']
if (!file || (opts.windows && !key)) throw new Error('usage: node bench/cpuprofile-top.mjs FILE.cpuprofile [N] [--windows WINDOWS.json KEY]')
const prof = JSON.parse(readFileSync(file, 'utf8'))
const windows = opts.windows ? JSON.parse(readFileSync(opts.windows, 'utf8'))[key] : undefined
if (windows && (!Array.isArray(windows) || !windows.length)) throw new Error(`${opts.windows} has no windows under ${JSON.stringify(key)}`)
if (windows) {
  const outside = windows.filter(([s, e]) => s < prof.startTime || e > prof.endTime).length
  if (outside) console.log(`${outside} of ${windows.length} windows fall outside the profile (${prof.startTime}..${prof.endTime} us): another clock, or another process`)
}
const byId = new Map(prof.nodes.map((node) => [node.id, node]))
const parent = new Map()
for (const node of prof.nodes) for (const c of node.children ?? []) parent.set(c, node.id)
// Sample i is taken at startTime + timeDeltas[0..i] and lasts timeDeltas[i + 1] µs (the next
// delta); the last one is dropped.
const within = (t) => !windows || windows.some(([s, e]) => t >= s && t < e)
const selfUs = new Map()
let t = prof.startTime
for (let i = 0; i < prof.samples.length - 1; i++) {
  t += prof.timeDeltas[i]
  if (within(t)) selfUs.set(prof.samples[i], (selfUs.get(prof.samples[i]) ?? 0) + prof.timeDeltas[i + 1])
}
// A bundle (dist/bin/cinch) names each module in a comment where it begins (esbuild): map a
// bundle line back to its source file.
const modules = new Map()
function sourceOf(path, line) {
  if (!modules.has(path)) {
    const marks = []
    try {
      readFileSync(path, 'utf8').split('\n').forEach((l, i) => { const m = /^\/\/ ([\w@./-]+\.[cm]?[jt]s)$/.exec(l); if (m) marks.push([i, m[1]]) })
    } catch { /* not readable */ }
    modules.set(path, marks)
  }
  let found
  for (const [at, file] of modules.get(path)) if (at <= line) found = file; else break
  return found
}
const label = (node) => {
  const f = node.callFrame
  const path = f.url.replace(/^file:\/\//, '')
  // The bundle as it was when profiled, if the bench copied it beside the profile.
  const copy = join(dirname(file), 'cinch-bundle.js')
  const bundle = path.endsWith('/dist/bin/cinch') && existsSync(copy) ? copy : path
  const src = path.startsWith('/') ? sourceOf(bundle, f.lineNumber) : undefined
  const where = src ?? path.replace(/^.*\/(node_modules|work\/main)\//, '$1/')
  return `${f.functionName || '(anonymous)'} ${where ? `${where}${src ? '' : `:${f.lineNumber + 1}`}` : ''}`.trim()
}
const self = new Map()
const total = new Map()
let all = 0
for (const [id, us] of selfUs) {
  all += us
  const node = byId.get(id)
  self.set(label(node), (self.get(label(node)) ?? 0) + us)
  // Each function once per stack (recursion counted once).
  const seen = new Set()
  for (let at = id; at !== undefined; at = parent.get(at)) {
    const l = label(byId.get(at))
    if (seen.has(l)) continue
    seen.add(l)
    total.set(l, (total.get(l) ?? 0) + us)
  }
}
const span = windows?.reduce((x, [s, e]) => x + (e - s), 0)
const amount = (us) => (windows ? `${(us / 1000 / windows.length).toFixed(2).padStart(7)} ms/req` : `${(us / 1000).toFixed(0).padStart(8)} ms`)
const show = (title, m) => {
  console.log(windows ? `${title}: ${windows.length} windows of ${(span / 1000).toFixed(1)} ms, ${(all / 1000).toFixed(1)} ms sampled` : `${title} (of ${(all / 1000).toFixed(0)} ms sampled)`)
  for (const [l, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, Number(n))) console.log(`${amount(us)} ${((us / all) * 100).toFixed(1).padStart(5)}%  ${l}`)
}
show('self time', self)
console.log()
show('total time (with callees)', total)
