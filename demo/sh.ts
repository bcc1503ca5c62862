// Running commands for the demo cluster: in the root namespace or inside a netns (`ip netns exec`:
// the child lives wholly in that namespace, nft and netlink included).
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'

/** Runs a command; resolves with stdout, rejects naming the command and its stderr. */
export function run(cmd: string, args: string[], o: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { env: o.env ?? process.env, maxBuffer: 16 << 20, timeout: o.timeoutMs ?? 60_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')}: ${(stderr || stdout || err.message).trim()}`)) : resolve(stdout))
    // No stdin: a fast child would race our end() into EPIPE.
    child.stdin?.on('error', () => {})
    child.stdin?.end()
  })
}

export const inNs = (ns: string, cmd: string, args: string[], o?: { env?: NodeJS.ProcessEnv; timeoutMs?: number }) =>
  run('ip', ['netns', 'exec', ns, cmd, ...args], o)

/**
 * Starts a long-lived command inside `ns`, in its own process group (a Ctrl-C on the terminal
 * reaches only the demo, which then stops everything in order), output appended to `logFile`.
 * `ip netns exec` execs the command, so the pid is the command's own.
 */
export function spawnInNs(ns: string, cmd: string, args: string[], o: { logFile: string; env?: NodeJS.ProcessEnv }): ChildProcess {
  const fd = openSync(o.logFile, 'a')
  try {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { detached: true, stdio: ['ignore', fd, fd], env: o.env ?? process.env })
    child.unref()
    return child
  } finally {
    closeSync(fd)
  }
}

export async function waitFor<T>(what: string, ms: number, probe: () => Promise<T | undefined | false> | T | undefined | false): Promise<T> {
  const until = Date.now() + ms
  for (let delay = 25; ; delay = Math.min(delay * 2, 250)) {
    const v = await probe()
    if (v) return v
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, delay))
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
  const until = Date.now() + graceMs
  while (live().length && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
  for (const p of live()) kill(p.pid, 'SIGKILL')
}
