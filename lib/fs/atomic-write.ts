// One way to replace a file so that no reader ever sees half of it: write a temp file in the SAME
// directory (rename(2) and link(2) are atomic only within one filesystem), then rename it over the
// target, or link it there when the target must not exist yet. What survives a crash is a separate
// choice, made by each writer and named at its call site:
//
//   'none'  rename only. Readers see old or new; after a power cut the new file may be lost, or
//           (ext4 delayed allocation, new files) present but empty. For hints that can be rebuilt,
//           and for records of what a power cut ends anyway (a pod's attachment: its netns, veth
//           and rules do not outlive the kernel either).
//   'file'  fsync(2) the temp file before the rename: the target names complete old or complete new
//           content after a crash, but the rename itself may be lost. For files their writer
//           rewrites on its next start anyway.
//   'full'  fsync the file, rename, then fsync the directory: once the call returns, the new
//           content survives a power cut (rename(2) and fsync(2): the directory entry is data of
//           the directory). For state whose loss breaks a promise already made to someone else.
import { closeSync, fchmodSync, fsyncSync, linkSync, lstatSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'

export type Durability = 'none' | 'file' | 'full'

export interface AtomicWriteOptions {
  durability: Durability
  /** Mode of the new file, exactly (not filtered by the umask); default 0644 less the umask. */
  mode?: number
  /** The temp file's path; must be in the target's directory. Default: a hidden name beside it ending in `.tmp`. */
  tmp?: string
  /**
   * link(2) instead of rename(2): the target must not exist, and when it does nothing changes and
   * the call returns false (an IPAM lease: the first writer wins).
   */
  exclusive?: boolean
}

/**
 * A hidden name beside `path`, recognisable as a leftover if a crash leaves it behind. Unique, not
 * secret: it carries the pid and is created with O_EXCL (never follows a planted file or link), so
 * Math.random does; node:crypto would cost every plugin start 3-5 ms to load (issue 13).
 */
function tempPathBeside(path: string): string {
  const hex = Math.floor(Math.random() * 0x1000000).toString(16).padStart(6, '0')
  return join(dirname(path), `.${basename(path)}.${process.pid}.${hex}.tmp`)
}

// tempPathBeside's names: `.<target>.<pid>.<6 hex>.tmp`.
const TEMP_NAME = /^\..+\.(\d{1,10})\.[0-9a-f]{6}\.tmp$/

/** False only when no process has this pid (kill(pid, 0) says ESRCH); EPERM means it exists. */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH'
  }
}

/**
 * Removes the temp files tempPathBeside named in `dir` whose writer is gone: no process has the pid
 * in the name and the file is older than `minAgeMs`. A writer killed between writing and renaming
 * leaves one; nobody else ever will. The age is the guard against a writer in another pid
 * namespace, whose live pid this process cannot see: a write takes milliseconds, not a minute.
 * Returns the names removed; a missing directory is no error.
 */
export function removeAbandonedTempFiles(dir: string, minAgeMs = 60_000, nowMs = Date.now()): string[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  const removed: string[] = []
  for (const name of names) {
    const m = TEMP_NAME.exec(name)
    if (!m || processExists(Number(m[1]))) continue
    const path = join(dir, name)
    const st = lstatSync(path, { throwIfNoEntry: false })
    if (!st?.isFile() || nowMs - st.mtimeMs < minAgeMs) continue
    rmSync(path, { force: true })
    removed.push(name)
  }
  return removed
}

/** write(2) until all of `buf` is written (a regular file may take less than asked in one call). */
function writeAll(fd: number, buf: Buffer): void {
  for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off, buf.length - off)
}

/**
 * Pieces of text written through one reused buffer: each is UTF-8 encoded into it (at most 3 bytes
 * a UTF-16 unit) and the buffer written when the next might not fit. A restart snapshot's 67,550
 * lines (26 MB at 30k/30k) are never joined into chunks, nor each chunk copied into a Buffer of
 * its own: in process, 23 MB of lines in 22-38 ms against 60-90 ms, and no garbage for the stop's
 * GC in a heap of ~500 MB.
 */
function writePieces(fd: number, pieces: Iterable<string>): void {
  const buf = Buffer.allocUnsafe(PIECES_BUFFER)
  let used = 0
  for (const s of pieces) {
    if (used + s.length * 3 > buf.length) {
      writeAll(fd, buf.subarray(0, used))
      used = 0
    }
    if (s.length * 3 > buf.length) writeAll(fd, Buffer.from(s))
    else used += buf.write(s, used)
  }
  writeAll(fd, buf.subarray(0, used))
}
const PIECES_BUFFER = 1 << 20

/** `tmp` opened with `flag`, `data` written whole and its mode set exactly: its descriptor, still open. */
function writeTemp(tmp: string, flag: 'w' | 'wx', data: string | Buffer | Iterable<string>, mode: number | undefined): number {
  const fd = openSync(tmp, flag, mode ?? 0o644)
  try {
    if (typeof data === 'string' || Buffer.isBuffer(data)) writeAll(fd, typeof data === 'string' ? Buffer.from(data) : data)
    else writePieces(fd, data)
    if (mode !== undefined) fchmodSync(fd, mode) // open(2)'s mode is filtered by the umask
    return fd
  } catch (err) {
    closeSync(fd)
    throw err
  }
}

/** fsync(2) of a file or directory by path. */
export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/**
 * Replaces (or, `exclusive`, creates) `path` with `data` at the durability asked for. Returns false
 * only when `exclusive` and the target already existed. Errors name the path, with the cause.
 */
export function writeFileAtomic(path: string, data: string | Buffer | Iterable<string>, o: AtomicWriteOptions): boolean {
  const tmp = o.tmp ?? tempPathBeside(path)
  if (dirname(tmp) !== dirname(path)) throw new Error(`write ${path}: temp file ${tmp} is not in the same directory`)
  let placed = false
  try {
    // A name of our own making must be new; one the caller gave may be a dead writer's leftover.
    const fd = writeTemp(tmp, o.tmp ? 'w' : 'wx', data, o.mode)
    try {
      if (o.durability !== 'none') fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    if (o.exclusive) {
      try {
        linkSync(tmp, path)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
        throw err
      }
    } else {
      renameSync(tmp, path)
    }
    placed = true
  } catch (err) {
    throw new Error(`write ${path}`, { cause: err })
  } finally {
    // A linked temp is a second name of the target: drop it. A failed one must not stay behind.
    if (!placed || o.exclusive) rmSync(tmp, { force: true })
  }
  if (o.durability === 'full') fsyncPath(dirname(path))
  return true
}
