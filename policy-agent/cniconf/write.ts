// Writes the conflist into the CNI config directory by rename, and only when its bytes change.
// Runtimes (containerd, CRI-O) watch that directory and load *.conf, *.conflist, *.json: a reader
// must never see a half-written file, so we write a dot-file with another suffix and rename(2) it
// over the target (atomic within one filesystem). kubelet reports the node NotReady until a config
// exists, so writing it only once the overlay is programmed keeps pods off a node without a network.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, fsyncSync, openSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { CONFLIST_DEFAULTS } from './render.js'

export interface WriteConflistOptions {
  /** Default /etc/cni/net.d. */
  dir?: string
  fileName?: string
  content: string
}

/** Returns true when the file was (re)written, false when it already held `content`. */
export function ensureConflistFile(o: WriteConflistOptions): boolean {
  const dir = o.dir ?? '/etc/cni/net.d'
  const path = join(dir, o.fileName ?? CONFLIST_DEFAULTS.fileName)
  try {
    if (readFileSync(path, 'utf8') === o.content) return false
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`read ${path}`, { cause: err })
  }
  mkdirSync(dir, { recursive: true })
  const tmp = join(dir, `.${o.fileName ?? CONFLIST_DEFAULTS.fileName}.${process.pid}.tmp`)
  try {
    const fd = openSync(tmp, 'w', 0o644)
    try {
      writeFileSync(fd, o.content)
      fsyncSync(fd) // the rename must not become visible before the data (ext4 data=ordered aside)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, path)
  } catch (err) {
    rmSync(tmp, { force: true })
    throw new Error(`write ${path}`, { cause: err })
  }
  return true
}
