// node bench/cpuprofile-top.mjs FILE.cpuprofile [N]: where a `node --cpu-prof` profile's time went,
// by function (self time, and total time including callees), the N (20) largest of each.
// bench:policy-scale --cpu-prof DIR writes one for the agent's restart.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

const [file, n = '20'] = process.argv.slice(2)
if (!file) throw new Error('usage: node bench/cpuprofile-top.mjs FILE.cpuprofile [N]')
const prof = JSON.parse(readFileSync(file, 'utf8'))
const byId = new Map(prof.nodes.map((node) => [node.id, node]))
const parent = new Map()
for (const node of prof.nodes) for (const c of node.children ?? []) parent.set(c, node.id)
// Sample i lasted timeDeltas[i + 1] µs (the next delta), the last one is dropped.
const selfUs = new Map()
for (let i = 0; i < prof.samples.length - 1; i++) selfUs.set(prof.samples[i], (selfUs.get(prof.samples[i]) ?? 0) + prof.timeDeltas[i + 1])
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
const show = (title, m) => {
  console.log(`${title} (of ${(all / 1000).toFixed(0)} ms sampled)`)
  for (const [l, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, Number(n))) console.log(`${(us / 1000).toFixed(0).padStart(8)} ms ${((us / all) * 100).toFixed(1).padStart(5)}%  ${l}`)
}
show('self time', self)
console.log()
show('total time (with callees)', total)
