// node bench/cpuprofile-window.mjs FILE.cpuprofile WINDOWS.json KEY [N]: where a `node --cpu-prof`
// profile's time went inside given time windows only, by function (self and total time), the N
// (25) largest of each. bench:policy-scale --cpu-prof DIR --cpu-prof-of changes writes the agent's
// profile and DIR/local-windows.json: {"add": [[startUs, endUs], ...], "del": [...]}, each window
// one timed local ADD or DEL request (record write to reply), in CLOCK_MONOTONIC microseconds:
// process.hrtime() in the bench, base::TimeTicks (the profile's startTime and timeDeltas) in V8.
// "(idle)" is the agent waiting (for the kernel's answer, the client, a CPU); "(program)" native
// work V8 cannot attribute; "(garbage collector)" GC.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

const [file, windowsFile, key, n = '25'] = process.argv.slice(2)
if (!file || !windowsFile || !key) throw new Error('usage: node bench/cpuprofile-window.mjs FILE.cpuprofile WINDOWS.json KEY [N]')
const prof = JSON.parse(readFileSync(file, 'utf8'))
const windows = JSON.parse(readFileSync(windowsFile, 'utf8'))[key]
if (!Array.isArray(windows) || !windows.length) throw new Error(`${windowsFile} has no windows under ${JSON.stringify(key)}`)
const outside = windows.filter(([s, e]) => s < prof.startTime || e > prof.endTime).length
if (outside) console.log(`${outside} of ${windows.length} windows fall outside the profile (${prof.startTime}..${prof.endTime} us): another clock, or another process`)

const byId = new Map(prof.nodes.map((node) => [node.id, node]))
const parent = new Map()
for (const node of prof.nodes) for (const c of node.children ?? []) parent.set(c, node.id)
// Sample i is taken at startTime + timeDeltas[0..i] and lasts until the next one.
const within = (t) => windows.some(([s, e]) => t >= s && t < e)
const selfUs = new Map()
let t = prof.startTime
for (let i = 0; i < prof.samples.length - 1; i++) {
  t += prof.timeDeltas[i]
  if (within(t)) selfUs.set(prof.samples[i], (selfUs.get(prof.samples[i]) ?? 0) + prof.timeDeltas[i + 1])
}

// A bundle (dist/bin/cinch) names each module in a comment where it begins (esbuild): map a
// bundle line back to its source file, from the copy the bench left beside the profile.
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
  for (const [at, f] of modules.get(path)) if (at <= line) found = f; else break
  return found
}
const label = (node) => {
  const f = node.callFrame
  const path = f.url.replace(/^file:\/\//, '')
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
  self.set(label(byId.get(id)), (self.get(label(byId.get(id))) ?? 0) + us)
  const seen = new Set()
  for (let at = id; at !== undefined; at = parent.get(at)) {
    const l = label(byId.get(at))
    if (seen.has(l)) continue
    seen.add(l)
    total.set(l, (total.get(l) ?? 0) + us)
  }
}
const span = windows.reduce((x, [s, e]) => x + (e - s), 0)
const per = (us) => `${(us / 1000 / windows.length).toFixed(2).padStart(7)} ms/req`
const show = (title, m) => {
  console.log(`${title}: ${windows.length} windows of ${(span / 1000).toFixed(1)} ms, ${(all / 1000).toFixed(1)} ms sampled`)
  for (const [l, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, Number(n))) console.log(`${per(us)} ${((us / all) * 100).toFixed(1).padStart(5)}%  ${l}`)
}
show('self time', self)
console.log()
show('total time (with callees)', total)
