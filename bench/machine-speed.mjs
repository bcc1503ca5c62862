// How fast this machine is in this sitting, by a fixed piece of work that none of cinch's code
// changes: the absolute goals of bench:policy-scale (5 ms a change, 2 s a restart) are read on
// shared 2-core VMs whose speed moved those figures by half between sittings, the code on their path
// the same (bench/README.md phase 23). Printed beside them, it tells a slow sitting from a slow build.
//
// The work is shaped like the agent's: small objects with labels built, written as JSON, parsed
// back, kept in a Map by key, their keys sorted and a label selected: CPU and fresh memory, no I/O.
// It runs in a child of its own (the pinned runtime, a fresh heap), not beside the bench's heap of
// a 30k cluster, and reports the median of rounds 2-11 (the first pays the JIT's warm-up).
//   node --expose-gc bench/machine-speed.mjs    prints {"ms": ..., "firstMs": ...}
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const OBJECTS = 50_000
const ROUNDS = 11

function round() {
  globalThis.gc?.() // each round from the same clean heap (the child runs with --expose-gc)
  const t = performance.now()
  const objects = []
  for (let i = 0; i < OBJECTS; i++) {
    objects.push({ namespace: `ns-${i % 500}`, name: `pod-${i}`, labels: { app: `app-${i % 50}`, version: `v${i % 4}` }, ips: [`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`] })
  }
  const text = JSON.stringify(objects)
  const byKey = new Map()
  for (const o of JSON.parse(text)) byKey.set(`${o.namespace}/${o.name}`, o)
  const keys = [...byKey.keys()].sort()
  let selected = 0
  for (const k of keys) if (byKey.get(k).labels.version === 'v1') selected++
  if (selected !== OBJECTS / 4) throw new Error(`machine-speed: selected ${selected}`)
  return performance.now() - t
}

/** This machine's time for the reference work (ms, median of the warm rounds), measured in a fresh child. */
export function machineSpeed() {
  const out = execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url)], { encoding: 'utf8' })
  return JSON.parse(out)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const times = Array.from({ length: ROUNDS }, round)
  const warm = times.slice(1).sort((a, b) => a - b)
  process.stdout.write(JSON.stringify({ ms: warm[warm.length >> 1], firstMs: times[0] }) + '\n')
}
