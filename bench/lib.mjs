// Small helpers shared by the benchmarks: timing, statistics, namespaces. Benchmarks report
// medians and ratios measured in the same run, because these machines are shared and noisy.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, rmSync } from 'node:fs'

export function sh(cmd, args, opts = {}) {
  // Room for a ruleset listing: at 5k pods it passed the default 1 MiB once sets took 128-bit names.
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 256 << 20, ...opts })
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

/**
 * Runs this very script again inside a new network namespace of its own (its nftables writes then
 * touch nothing of the host), removes the namespace when that run ends, and exits with its status.
 * Returns only inside the namespace (CINCH_BENCH_NETNS names it).
 */
export function inOwnNetns(prefix) {
  if (process.env.CINCH_BENCH_NETNS) return
  const ns = uniqueName(prefix)
  netnsAdd(ns)
  process.on('SIGINT', () => {}) // Ctrl-C reaches the child too; the namespace is removed after it ends
  try {
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, CINCH_BENCH_NETNS: ns } })
    process.exitCode = r.status ?? 1
  } finally {
    netnsDel(ns)
  }
  process.exit()
}

// Clock ticks per second of /proc/<pid>/stat's times (USER_HZ); 100 on every Linux we run on.
const TICK_MS = 10

/** user+sys CPU of this process's reaped children (and theirs), /proc/self/stat cutime+cstime, in ms. */
export function childCpuMs() {
  const f = readStatFields('self')
  return (Number(f[13]) + Number(f[14])) * TICK_MS
}

/** user+sys CPU of process `pid` and its reaped children, in ms; 0 once it is gone. */
export function procCpuMs(pid) {
  try {
    const f = readStatFields(String(pid))
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * TICK_MS
  } catch {
    return 0
  }
}

/** The fields of /proc/<pid>/stat after "(comm)", so f[11] is utime (field 14 of proc(5)). */
function readStatFields(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return s.slice(s.lastIndexOf(')') + 2).split(' ')
}

/** Noise of a series: (p90 - p10) / median, as a percentage. */
export function spread(xs) {
  return `${(((quantile(xs, 0.9) - quantile(xs, 0.1)) / median(xs)) * 100).toFixed(0)}%`
}

/** Polls `ready` every 50 ms until true; throws after `ms`, with `detail()` (a log tail) in the message. */
export async function waitFor(what, ms, ready, detail = () => '') {
  const until = Date.now() + ms
  while (!ready()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}\n${detail()}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/**
 * What a bench creates (network namespaces, child processes, its temp dir `tmp`) is removed when
 * the process exits or is interrupted, whatever happens. `track` records; `cleanup` runs once.
 */
export function cleanupOnExit(tmp) {
  const made = { netns: [], children: [] }
  let cleaned = false
  const cleanup = () => {
    if (cleaned) return
    cleaned = true
    for (const c of made.children) if (c.exitCode === null && c.signalCode === null) try { process.kill(c.pid, 'SIGKILL') } catch { /* gone */ }
    // `ip netns exec` execs the program, so a child's pid is the program itself; a namespace whose
    // processes are gone disappears with its interfaces.
    for (const n of made.netns) netnsDel(n)
    if (tmp) rmSync(tmp, { recursive: true, force: true })
  }
  process.on('exit', cleanup)
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => { cleanup(); process.exit(130) })
  return { track: { netns: (n) => made.netns.push(n), child: (c) => (made.children.push(c), c) }, cleanup }
}

/**
 * Starts `cmd` as a child the bench's cleanup kills (cleanupOnExit's track); `done` resolves with
 * its stdout once it exits 0, or on SIGINT (perf writes its file, then re-raises it).
 */
export function runTracked(track, cmd, argv) {
  const child = track.child(spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] }))
  let out = '', err = ''
  child.stdout.on('data', (b) => (out += b))
  child.stderr.on('data', (b) => (err += b))
  const done = new Promise((resolve, reject) => child.on('close', (code, sig) => (code === 0 || sig === 'SIGINT' ? resolve(out) : reject(new Error(`${cmd} ${argv.join(' ')} exited ${code}: ${err}`)))))
  return { child, done }
}

/**
 * A perf.data's total samples, and the samples under each kernel symbol of `symbols` (name ->
 * symbol; children included), e.g. { nft: 'nft_do_chain' }.
 */
export function perfSamples(file, symbols) {
  const report = (...more) => sh('perf', ['report', '-i', file, '--stdio', '-g', 'none', ...more], { maxBuffer: 64 << 20 })
  const bySym = report('--children', '--sort', 'sym')
  // The sample count: the sum of the per-thread column (the header rounds to thousands).
  const samples = [...report('--no-children', '--sort', 'pid', '-n').matchAll(/^\s+[\d.]+%\s+(\d+)\s/gm)].reduce((n, m) => n + Number(m[1]), 0)
  const under = (sym) => {
    const m = new RegExp(`^\\s+([\\d.]+)%\\s+[\\d.]+%\\s+\\[k\\] ${sym}\\s*$`, 'm').exec(bySym)
    return m ? (Number(m[1]) / 100) * samples : 0
  }
  return { samples, ...Object.fromEntries(Object.entries(symbols).map(([name, sym]) => [name, under(sym)])) }
}
