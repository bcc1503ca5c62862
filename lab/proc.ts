// Processes for tests: one-shot commands (in the root namespace or inside a netns) and long-running
// ones inside a netns with their output captured, killed by the test's Cleanup. `ip netns exec`
// execs the command, so the child lives wholly in that namespace (nft and netlink included).
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs'
import type { Cleanup } from './cleanup.js'
import { waitFor } from './wait.js'

/** The system nft: under npx/vitest, PATH starts with node_modules/.bin, which holds @vercel/nft's `nft`. */
export const NFT = ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft'].find((p) => existsSync(p)) ?? 'nft'

export interface RunOptions {
  env?: NodeJS.ProcessEnv
  /** Written to stdin; without it stdin is closed at once. */
  input?: string
  /** Kill the command after this long (default 60 s). */
  timeoutMs?: number
  cwd?: string
}

/** Runs a command; resolves with stdout, rejects naming the command and its stderr. */
export function run(cmd: string, args: string[], o: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { env: o.env ?? process.env, cwd: o.cwd, maxBuffer: 64 << 20, timeout: o.timeoutMs ?? 60_000, encoding: 'utf8' }, (err, stdout, stderr) =>
      err ? reject(Object.assign(new Error(`${cmd} ${args.join(' ')}: ${(stderr || stdout || err.message).trim()}`), { code: (err as { code?: unknown }).code, stdout, stderr })) : resolve(stdout))
    // A command that exits before reading stdin is judged by its exit code, not an EPIPE.
    child.stdin?.on('error', () => {})
    child.stdin?.end(o.input ?? '')
  })
}

/** Runs a command inside `ns` (`nft` means the system nft). */
export function inNetns(ns: string, cmd: string, args: string[], o?: RunOptions): Promise<string> {
  return run('ip', ['netns', 'exec', ns, cmd === 'nft' ? NFT : cmd, ...args], o)
}

export type Spawned = ChildProcess & { log: () => string }

/**
 * Starts a long-running command inside `ns` (the root namespace when `ns` is null), stdout and
 * stderr collected in `log()`; the Cleanup kills it (SIGKILL) at teardown.
 */
export function spawnInNetns(cleanup: Cleanup, ns: string | null, cmd: string, args: string[], o: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Spawned {
  const argv = ns === null ? [cmd, ...args] : ['ip', 'netns', 'exec', ns, cmd === 'nft' ? NFT : cmd, ...args]
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: o.env ?? process.env, cwd: o.cwd })
  let out = ''
  child.stdout!.on('data', (b) => (out += b))
  child.stderr!.on('data', (b) => (out += b))
  child.stdin!.on('error', () => {})
  child.on('error', () => {})
  cleanup.add(() => killChild(child))
  return Object.assign(child, { log: () => out })
}

/** Sends `signal` and waits (bounded, 5 s) for the exit; after SIGKILL, drops the pipes a forked grandchild may hold. */
export async function killChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill(signal)
    await waitFor(`pid ${child.pid} to exit on ${signal}`, () => child.exitCode !== null || child.signalCode !== null, { timeoutMs: 5000, intervalMs: 20 }).catch(() => {})
  }
  // A forked grandchild may still hold the pipes open: they must not keep the test process alive.
  if (signal === 'SIGKILL') for (const s of [child.stdin, child.stdout, child.stderr]) s?.destroy()
}

/**
 * Starts a long-lived command inside `ns` that may outlive this process (`cinch demo --keep`): its
 * own process group (a Ctrl-C on the terminal reaches only the demo, which then stops everything
 * in order), output appended to `logFile`. The caller records the pid and stops it with stopPids.
 */
export function spawnDetachedInNetns(ns: string, cmd: string, args: string[], o: { logFile: string; env?: NodeJS.ProcessEnv }): ChildProcess {
  const fd = openSync(o.logFile, 'a')
  try {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { detached: true, stdio: ['ignore', fd, fd], env: o.env ?? process.env })
    child.unref()
    return child
  } finally {
    closeSync(fd)
  }
}

/** Whether `pid` still runs the command we started (pids are reused). */
export function pidRuns(pid: number, needle: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle)
  } catch {
    return false
  }
}

/** SIGTERM, then SIGKILL after `graceMs`, to each pid that still runs what we started. */
export async function stopPids(procs: { pid: number; needle: string }[], graceMs = 2000): Promise<void> {
  const live = () => procs.filter((p) => pidRuns(p.pid, p.needle))
  const kill = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig)
    } catch {
      // exited meanwhile
    }
  }
  for (const p of live()) kill(p.pid, 'SIGTERM')
  await waitFor('our processes to exit on SIGTERM', () => live().length === 0, { timeoutMs: graceMs }).catch(() => {})
  for (const p of live()) kill(p.pid, 'SIGKILL')
}
