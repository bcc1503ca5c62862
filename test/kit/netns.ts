// Network namespaces and temp dirs for tests: unique names (a random suffix, since several test
// files and engineers share one kernel) and removal through the test's Cleanup, even on failure.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Cleanup } from './cleanup.js'

/** `<prefix>-<6 hex digits>`: unique enough for namespaces, dirs and container IDs of one run. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`
}

export const nsPath = (ns: string) => `/var/run/netns/${ns}`

/**
 * Creates a netns with loopback up and registers its removal first: every process still inside
 * (servers, socat's forked children) is killed, then the namespace deleted. `prefix` gets a random
 * suffix unless `exact` (for names already made unique, e.g. `<unique tag>-<pod>`).
 * Synchronous on purpose: the name exists before anything refers to it.
 */
export function makeNetns(cleanup: Cleanup, prefix: string, o: { exact?: boolean } = {}): string {
  const name = o.exact ? prefix : uniqueName(prefix)
  if (Buffer.byteLength(name) > 64) throw new Error(`netns name ${name} is too long`)
  cleanup.add(() => removeNetns(name))
  execFileSync('ip', ['netns', 'add', name])
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up'])
  return name
}

/** Kills what runs in `name`, then deletes it; a missing namespace is not an error. */
export function removeNetns(name: string): void {
  let pids: string[] = []
  try {
    pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').filter(Boolean)
  } catch {
    return // no such namespace
  }
  for (const pid of pids) {
    try { process.kill(Number(pid), 'SIGKILL') } catch { /* gone already */ }
  }
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' })
  } catch {
    // already gone
  }
}

/** A fresh directory under the system temp dir, removed with the test. */
export function tempDir(cleanup: Cleanup, prefix = 'cinch-t-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix.endsWith('-') ? prefix : `${prefix}-`))
  cleanup.add(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}
