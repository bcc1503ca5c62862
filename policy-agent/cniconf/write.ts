// Writes the conflist into the CNI config directory by rename, and only when its bytes change.
// Runtimes (containerd, CRI-O) watch that directory and load *.conf, *.conflist, *.json: a reader
// must never see a half-written file, so we write a dot-file with another suffix and rename(2) it
// over the target (atomic within one filesystem). kubelet reports the node NotReady until a config
// exists, so writing it only once the overlay is programmed keeps pods off a node without a network.
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomic } from '../../lib/fs/atomic-write.js'
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
  // 'file': the rename must not become visible before the data (a runtime must never load an empty
  // conflist after a crash); a lost rename is harmless, since the agent rewrites it when it starts.
  // The temp name `.<name>.<pid>.<random>.tmp` is what overlay/teardown.ts removes when left over.
  writeFileAtomic(path, o.content, { durability: 'file' })
  return true
}
