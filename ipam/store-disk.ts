// The disk Store, in host-local's format (backend/disk/backend.go) so that host-local and cinch-ipam
// can share and inspect one another's state: `<dataDir>/<network>/<ip>` holds "<containerId>\r\n<ifname>",
// `last_reserved_ip.<N>` the last address handed out from range set N, and `lock` is the flock(2)
// file both plugins serialize on.
//
// Crash safety: an address file is written in full to a temp file, fsynced, then link(2)ed to its
// name. link fails with EEXIST instead of overwriting, and the name appears complete or not at
// all: a process killed at any instant leaves at worst a temp file, which host-local ignores (its
// name is no address) and the next locked list() deletes (only lock holders write temp files).
import { closeSync, constants, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomic } from '../lib/fs/atomic-write.js'
import { lockExclusive, unlock } from './flock.js'
import { parseIp } from '../lib/ip/index.js'
import type { Allocation, Store } from './store.js'

export const DEFAULT_DATA_DIR = '/var/lib/cni/networks'
const LAST_PREFIX = 'last_reserved_ip.'
/** Temp files start with a dot: never an address, so host-local skips them. */
export const TEMP_PREFIX = '.cinch-tmp.'

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code
}

function unlinkIfPresent(path: string): void {
  try {
    unlinkSync(path)
  } catch (err) {
    if (errCode(err) !== 'ENOENT') throw new Error(`remove ${path}`, { cause: err })
  }
}

/** A temp name that list() recognises (and, holding the lock, removes) if a writer died. */
const tempIn = (dir: string, tag: string) => join(dir, `${TEMP_PREFIX}${process.pid}.${tag}`)

export class DiskStore implements Store {
  readonly dir: string
  private lockFd = -1

  constructor(dataDir: string, network: string) {
    this.dir = join(dataDir, network)
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o755 })
    } catch (err) {
      throw new Error(`create IPAM store ${this.dir}`, { cause: err })
    }
  }

  lock(): void {
    const path = join(this.dir, 'lock')
    let fd: number
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644)
    } catch (err) {
      throw new Error(`open ${path}`, { cause: err })
    }
    try {
      lockExclusive(fd)
    } catch (err) {
      closeSync(fd)
      throw new Error(`lock ${path}`, { cause: err })
    }
    this.lockFd = fd
  }

  unlock(): void {
    if (this.lockFd < 0) return
    const fd = this.lockFd
    this.lockFd = -1
    try {
      unlock(fd)
    } finally {
      closeSync(fd) // closing drops the lock even if LOCK_UN failed
    }
  }

  list(): Allocation[] {
    const out: Allocation[] = []
    for (const e of readdirSync(this.dir, { withFileTypes: true })) {
      if (!e.isFile()) continue
      const path = join(this.dir, e.name)
      if (e.name.startsWith(TEMP_PREFIX)) {
        // Left by a writer that died: with the lock held, no live writer owns it.
        if (this.lockFd >= 0) unlinkIfPresent(path)
        continue
      }
      if (!parseIp(e.name)) continue // lock, last_reserved_ip.N, anything else
      let text: string
      try {
        text = readFileSync(path, 'utf8')
      } catch (err) {
        if (errCode(err) === 'ENOENT') continue
        throw new Error(`read ${path}`, { cause: err })
      }
      const [containerId = '', ifName = ''] = text.split(/\r?\n/).map((s) => s.trim())
      out.push({ ip: e.name, containerId, ifName })
    }
    return out
  }

  reserve(a: Allocation, rangeId: string): boolean {
    // The file is two lines; a line break inside either field would change what list() reads back
    // and so who owns the address. The plugin edge rejects such IDs (code 4); this is the store's own guard.
    if (/[\r\n\0]/.test(a.containerId + a.ifName)) throw new Error(`reserve ${a.ip}: owner ${JSON.stringify(a.containerId)}/${JSON.stringify(a.ifName)} holds a line break`)
    // host-local writes strings.TrimSpace(id) + "\r\n" + ifname.
    // link(2), not rename: the first writer of an address wins. 'full': the lease must outlive a
    // power cut, or a restarted node hands a running pod's address to the next pod (without the
    // file fsync ext4 can leave it empty; without the directory fsync it can vanish).
    let placed: boolean
    try {
      placed = writeFileAtomic(join(this.dir, a.ip), `${a.containerId.trim()}\r\n${a.ifName}`, { durability: 'full', exclusive: true, tmp: tempIn(this.dir, 'ip') })
    } catch (err) {
      throw new Error(`reserve ${a.ip} in ${this.dir}`, { cause: err })
    }
    if (!placed) return false
    // 'none': only a hint for round robin; a lost update costs one skipped round, never a duplicate.
    writeFileAtomic(join(this.dir, LAST_PREFIX + rangeId), a.ip, { durability: 'none', tmp: tempIn(this.dir, 'last') })
    return true
  }

  lastReserved(rangeId: string): string | null {
    try {
      return readFileSync(join(this.dir, LAST_PREFIX + rangeId), 'utf8').trim() || null
    } catch {
      return null
    }
  }

  release(ip: string): void {
    unlinkIfPresent(join(this.dir, ip))
  }

  /** The address file's mtime: it is written once, when the address is reserved. */
  reservedAtMs(ip: string): number | undefined {
    try {
      return statSync(join(this.dir, ip)).mtimeMs
    } catch (err) {
      if (errCode(err) === 'ENOENT') return undefined
      throw new Error(`stat ${join(this.dir, ip)}`, { cause: err })
    }
  }

  checkWritable(): void {
    const tmp = tempIn(this.dir, 'status')
    closeSync(openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o644))
    unlinkIfPresent(tmp)
  }

  close(): void {
    this.unlock()
  }
}
