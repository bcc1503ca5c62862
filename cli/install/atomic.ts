// Atomic file placement. kubelet (through the runtime) may exec a plugin at any instant, so a path
// must always name either the old complete file or the new complete file: written through
// lib/fs/atomic-write.ts at 'full' durability (fsync the temp, rename, fsync the directory), since
// an install reported done must survive a power cut; symlinks and copies here do the same.
import { linkSync, renameSync, rmSync, symlinkSync, copyFileSync, chmodSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { fsyncPath, writeFileAtomic as writeAtomic } from '../../lib/fs/atomic-write.js'

export { fsyncPath }

/** A temp name beside `path`, hidden and recognisable as ours if a crash leaves it behind. */
export function tempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.cinch-tmp-${process.pid}-${randomBytes(3).toString('hex')}`)
}

/** Replaces `path` with `data` (mode `mode`, exactly) so that readers and exec see old or new, never a mix. */
export function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): void {
  writeAtomic(path, data, { durability: 'full', mode, tmp: tempPath(path) })
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
