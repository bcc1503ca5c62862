// Atomic file placement. kubelet (through the runtime) may exec a plugin at any instant, so a path
// must always name either the old complete file or the new complete file: write a temp file in the
// SAME directory (rename(2) is atomic only within one filesystem), fsync it, rename it over the
// target, then fsync the directory so the rename itself survives a power cut (rename(2), fsync(2)).
import { closeSync, fsyncSync, linkSync, openSync, renameSync, rmSync, symlinkSync, writeSync, copyFileSync, chmodSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { randomBytes } from 'node:crypto'

/** A temp name beside `path`, hidden and recognisable as ours if a crash leaves it behind. */
export function tempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.cinch-tmp-${process.pid}-${randomBytes(3).toString('hex')}`)
}

export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** Replaces `path` with `data` (mode `mode`) so that readers and exec see old or new, never a mix. */
export function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): void {
  const tmp = tempPath(path)
  try {
    const fd = openSync(tmp, 'wx', mode)
    try {
      writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    chmodSync(tmp, mode) // openSync's mode is filtered by the umask
    renameSync(tmp, path)
  } catch (err) {
    rmSync(tmp, { force: true })
    throw new Error(`write ${path}`, { cause: err })
  }
  fsyncPath(dirname(path))
}

/** Copies `src` to a new file `dst` (which must not exist) and fsyncs it. */
export function copyFileDurable(src: string, dst: string, mode: number): void {
  copyFileSync(src, dst)
  chmodSync(dst, mode)
  fsyncPath(dst)
}

/** Hard-links `src` at `dst` if both sit on one filesystem; otherwise copies. */
export function linkOrCopy(src: string, dst: string, mode: number): 'linked' | 'copied' {
  try {
    linkSync(src, dst)
    return 'linked'
  } catch {
    copyFileDurable(src, dst, mode)
    return 'copied'
  }
}

/** Points the symlink `path` at `target` in one rename: there is no instant without a link. */
export function symlinkAtomic(target: string, path: string): void {
  const tmp = tempPath(path)
  symlinkSync(target, tmp)
  try {
    renameSync(tmp, path)
  } catch (err) {
    rmSync(tmp, { force: true })
    throw new Error(`point ${path} at ${target}`, { cause: err })
  }
  fsyncPath(dirname(path))
}
