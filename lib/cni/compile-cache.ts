// V8's code cache on disk for the modules a plugin loads after its own bundle (netlink's and koffi's
// JS: about a third of an ADD's load time, issue 13). Node compiles them from source on every start
// otherwise; with the cache it reads the compiled code back (module.enableCompileCache, Node 22.1+).
//
// The cache holds code this process will run as root, so it is only used from a directory this user
// owns and nobody else can write: a cache someone else can write is code they can inject. Anything
// else (no /var/cache, a read-only file system, a symlink, wrong owner or mode) means running
// without it, silently: a cache must never be why a pod fails to start.
import { existsSync, lstatSync, mkdirSync, readdirSync, rmdirSync, rmSync } from 'node:fs'
import { dirname } from 'node:path'
import { enableCompileCache } from 'node:module'

/** What Node puts in a compile cache directory: one directory per Node version, arch and V8 flags. */
const NODE_CACHE_ENTRY = /^v\d+\.\d+\.\d+-/

/** Where the plugins keep their code cache; NODE_COMPILE_CACHE (set by Node itself) wins. */
export const COMPILE_CACHE_DIR = '/var/cache/cinch/compile-cache'

/** True when `dir` is a real directory owned by this user, not writable by group or others. */
export function isPrivateDir(dir: string): boolean {
  const st = lstatSync(dir, { throwIfNoEntry: false })
  const uid = process.geteuid?.()
  return !!st && st.isDirectory() && uid !== undefined && st.uid === uid && (st.mode & 0o022) === 0
}

/** Enables the on-disk compile cache in `dir` when it is safe to; never throws. */
export function enablePluginCompileCache(dir: string = COMPILE_CACHE_DIR): void {
  try {
    if (process.env.NODE_COMPILE_CACHE) return // Node enabled it at start, for the bundle too
    // Two levels at most (/var/cache must exist), and not mkdir's `recursive`: on /proc, Node's
    // recursive mkdir loops forever (ENOENT at every level), and a plugin must never hang on its cache.
    for (const d of [dirname(dir), dir]) {
      if (!isPrivateDir(d)) mkdirSync(d, { mode: 0o700 })
    }
    if (!isPrivateDir(dirname(dir)) || !isPrivateDir(dir)) return
    enableCompileCache(dir)
  } catch {
    // read-only or missing /var/cache, EACCES: run without a cache
  }
}

/**
 * Removes the cache directory and its parent when that is left empty (`cinch uninstall --all`):
 * the plugins create it at run time, so nothing in installed.json names it. Returns what went.
 */
export function removeCompileCache(dir: string = COMPILE_CACHE_DIR): string[] {
  const removed: string[] = []
  if (!existsSync(dir)) return removed
  // `--cache-dir` is the operator's to type: a recursive removal only of what looks like Node's
  // compile cache (private, and nothing in it but Node's per-version directories), never of `/`.
  const entries = isPrivateDir(dir) ? readdirSync(dir, { withFileTypes: true }) : undefined
  if (!entries || !entries.every((e) => e.isDirectory() && NODE_CACHE_ENTRY.test(e.name))) {
    throw new Error(`${dir} does not look like a compile cache (a private directory of Node's v<version>-<arch>-... directories): not removed`)
  }
  rmSync(dir, { recursive: true, force: true })
  removed.push(dir)
  try {
    rmdirSync(dirname(dir)) // only if empty: anything else there is not ours
    removed.push(dirname(dir))
  } catch {
    /* not empty, or gone */
  }
  return removed
}
