// One directory watched with inotify(7), read synchronously: the names of its entries that changed
// since the last drain. The kernel queues an inotify event inside the syscall that makes the change
// (fsnotify is called from vfs_rename, vfs_unlink, the write path, ...), before that syscall
// returns; so a drain started after a change has completed sees it, whoever made it (cinch-bridge
// in the runtime's mount namespace, GC, an operator's rm) and whatever the clocks say. Node's
// fs.watch reads the same events through the event loop, later: a sync could start before the
// event of the record its own request names was read. Only inotify_init1 and inotify_add_watch go
// through koffi; loaded on first use (the agent's), never by a plugin.
import { closeSync, statSync } from 'node:fs'
import { libcLib, loadKoffi } from '../ffi/koffi.js'

// <sys/inotify.h>
const IN_MODIFY = 0x2
const IN_ATTRIB = 0x4
const IN_CLOSE_WRITE = 0x8
const IN_MOVED_FROM = 0x40
const IN_MOVED_TO = 0x80
const IN_CREATE = 0x100
const IN_DELETE = 0x200
const IN_DELETE_SELF = 0x400
const IN_MOVE_SELF = 0x800
const IN_UNMOUNT = 0x2000
const IN_Q_OVERFLOW = 0x4000
const IN_IGNORED = 0x8000
const IN_ONLYDIR = 0x01000000
const IN_NONBLOCK = 0o4000
const IN_CLOEXEC = 0o2000000
const EAGAIN = 11
const EINTR = 4

// Every way an entry's name or content can change. Not IN_OPEN / IN_ACCESS / IN_CLOSE_NOWRITE: the
// reader's own reads would fill the queue with them.
const MASK = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF
// The watch no longer tells everything: the queue overflowed (events were dropped), or the
// directory itself was removed, moved away or unmounted.
const LOST = IN_Q_OVERFLOW | IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT

interface Libc {
  init1: (flags: number) => number
  addWatch: (fd: number, path: string, mask: number) => number
  read: (fd: number, buf: Buffer, len: number) => number
  errno: () => number
}
let libc: Libc | undefined

function load(): Libc {
  const lib = libcLib()
  const koffi = loadKoffi()
  return (libc ??= {
    init1: lib.func('int inotify_init1(int flags)') as Libc['init1'],
    addWatch: lib.func('int inotify_add_watch(int fd, const char *path, uint32_t mask)') as Libc['addWatch'],
    read: lib.func('long read(int fd, _Out_ uint8_t *buf, unsigned long count)') as Libc['read'],
    errno: () => koffi.errno(),
  })
}

/** What changed since the last drain: entry names, or `lost` when only a full listing can tell. */
export interface Drained {
  names: Set<string>
  lost: boolean
}

export class DirWatch {
  // Room for many events per read(2); one event is 16 bytes + its name (NAME_MAX 255, padded).
  static readonly #buf = Buffer.alloc(64 * 1024)
  #fd: number
  /** The watched directory's identity: a path that now names another directory is not watched. */
  readonly dev: number
  readonly ino: number

  private constructor(fd: number, dev: number, ino: number) {
    this.#fd = fd
    this.dev = dev
    this.ino = ino
  }

  /**
   * Watches `dir`; throws (naming the call and errno) when inotify cannot (EMFILE: the user's
   * max_user_instances, ENOSPC: max_user_watches) or the directory changed under the call.
   */
  static open(dir: string): DirWatch {
    const c = load()
    const fd = c.init1(IN_NONBLOCK | IN_CLOEXEC)
    if (fd < 0) throw new Error(`inotify_init1: errno ${c.errno()}`)
    try {
      const before = statSync(dir)
      if (c.addWatch(fd, dir, MASK | IN_ONLYDIR) < 0) throw new Error(`inotify_add_watch ${dir}: errno ${c.errno()}`)
      // The identity is taken on both sides of the call: the directory the watch is on is that one.
      const after = statSync(dir)
      if (before.dev !== after.dev || before.ino !== after.ino) throw new Error(`${dir} was replaced while it was being watched`)
      return new DirWatch(fd, after.dev, after.ino)
    } catch (err) {
      closeSync(fd)
      throw err
    }
  }

  /** Every event queued so far, without waiting. */
  drain(): Drained {
    const c = load()
    const out: Drained = { names: new Set(), lost: false }
    const buf = DirWatch.#buf
    for (;;) {
      const n = c.read(this.#fd, buf, buf.length)
      if (n < 0) {
        const e = c.errno()
        if (e === EINTR) continue
        if (e === EAGAIN) return out
        out.lost = true // EBADF or worse: nothing can be trusted
        return out
      }
      if (n === 0) return out
      // struct inotify_event { int wd; uint32_t mask, cookie, len; char name[len]; } (name NUL-padded)
      for (let off = 0; off + 16 <= n;) {
        const mask = buf.readUInt32LE(off + 4)
        const len = buf.readUInt32LE(off + 12)
        if (mask & LOST) out.lost = true
        else if (len > 0) {
          const end = buf.indexOf(0, off + 16)
          out.names.add(buf.toString('utf8', off + 16, end === -1 || end > off + 16 + len ? off + 16 + len : end))
        }
        off += 16 + len
      }
    }
  }

  close(): void {
    if (this.#fd < 0) return
    closeSync(this.#fd)
    this.#fd = -1
  }
}
