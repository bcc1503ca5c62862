// Small helpers shared by the benchmarks: timing, statistics, namespaces. Benchmarks report
// medians and ratios measured in the same run, because these machines are shared and noisy.
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'

export function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], ...opts })
}

export function runAsync(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts })
    let out = ''
    let err = ''
    child.stdout.on('data', (b) => (out += b))
    child.stderr.on('data', (b) => (err += b))
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: ${err || out}`))))
  })
}

export function timeMs(fn) {
  const t = performance.now()
  fn()
  return performance.now() - t
}

export async function timeMsAsync(fn) {
  const t = performance.now()
  await fn()
  return performance.now() - t
}

export function median(xs) {
  return quantile(xs, 0.5)
}

export function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b)
  if (s.length === 0) return NaN
  const pos = (s.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return s[lo] + (s[hi] - s[lo]) * (pos - lo)
}

export function fmt(ms) {
  return `${ms.toFixed(1)} ms`
}

export function uniqueName(prefix) {
  return `${prefix}-${randomBytes(3).toString('hex')}`
}

export function netnsAdd(name) {
  sh('ip', ['netns', 'add', name])
  sh('ip', ['-n', name, 'link', 'set', 'lo', 'up'])
}

export function netnsDel(name) {
  try {
    sh('ip', ['netns', 'del', name])
  } catch {
    // already gone
  }
}
