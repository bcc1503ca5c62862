// The agent's view of the attachment records, listed before every sync (policy-agent/agent.ts).
// A local pod's ADD or DEL waits for that sync, so the listing is on the pod's way: at 110 records
// stat'ing every file and re-reading the young ones took 1.2-1.3 ms of each ADD's and DEL's sync at
// 30k/30k (bench:policy-scale, phase 10c), as much as its compile.
//
// So the lister watches the directory with inotify (dir-watch.ts) and, at each listing, reads only
// the files named by the events queued since the last one. The kernel queues an event inside the
// syscall that makes the change, so a listing sees every change completed before it began, by any
// writer: cinch-bridge's rename on ADD and unlink on DEL, GC, an ADD killed mid-write (its temp
// file is not *.json; its rename, if it happened, is an event), an operator's rm or an editor's
// write in place (IN_MODIFY / IN_CLOSE_WRITE; the listing by stat missed those while the
// directory's own times stood still). No clock is involved, so a rewrite within one tick of a
// coarse clock, or a reused inode number, cannot hide a change. The listing starts over from the
// directory (every file read again) when the watch cannot tell: the queue overflowed, the
// directory was removed, moved, unmounted or the path now names another directory (checked by
// its device and inode at each listing), or the directory appeared.
//
// Where inotify is refused (the user's max_user_instances or max_user_watches reached: other
// programs on the node hold them), each listing goes by stat as before (StatLister), and the watch
// is tried again at the next one. `watchError` says why, for the agent's log.
import { lstatSync, readdirSync, statSync, type Stats } from 'node:fs'
import { join } from 'node:path'
import { DirWatch } from './dir-watch.js'
import { attachmentsDir, loadRecordFile, noDir, RecordError, recordFiles, report, type AttachmentRecord, type OnProblem } from './attachments.js'

interface Entry { record?: AttachmentRecord; problem?: unknown }

/**
 * listAttachmentsSync for a reader that lists again and again: the same records, and the same
 * problems reported, as a fresh listing at that moment. Returns the array it returned last time,
 * the same object, when nothing in the directory changed since (and then reports nothing: the
 * problems are those reported with that array).
 */
export class AttachmentLister {
  readonly #dir: string
  #watch?: DirWatch
  /** Watched: every *.json entry as last read, by name. */
  #entries = new Map<string, Entry>()
  /** Watched: names to read again (changed since, or failed with an error other than RecordError). */
  #dirty = new Set<string>()
  #last?: AttachmentRecord[]
  #byStat: StatLister
  /** Why the directory could not be watched at the last listing (it went by stat then); undefined when watched. */
  watchError?: Error

  constructor(stateDir: string) {
    this.#dir = attachmentsDir(stateDir)
    this.#byStat = new StatLister(this.#dir)
  }

  list(onProblem?: OnProblem): AttachmentRecord[] {
    const dir = this.#dir
    let st: Stats | undefined
    try { st = statSync(dir, { throwIfNoEntry: false }) } catch (err) { this.close(); return noDir(dir, err) }
    if (!st) {
      const last = this.#watch ? undefined : this.#last
      this.close()
      return (this.#last = last?.length === 0 ? last : [])
    }
    if (this.#watch && (this.#watch.dev !== st.dev || this.#watch.ino !== st.ino)) this.close()
    if (this.#watch) {
      const { names, lost } = this.#watch.drain()
      if (lost) this.close()
      else for (const n of names) if (n.endsWith('.json')) this.#dirty.add(n)
    }
    if (!this.#watch) {
      try {
        this.#watch = DirWatch.open(dir)
        this.watchError = undefined
      } catch (err) {
        this.watchError = err as Error
        this.#last = undefined
        return this.#byStat.list(onProblem)
      }
      this.#byStat = new StatLister(dir) // its cache is stale once the watch has seen changes
      // Listed after the watch is in place: a change from now on is also an event (read again then).
      let names: string[]
      try { names = readdirSync(dir) } catch (err) { this.close(); return noDir(dir, err) }
      this.#entries.clear()
      this.#dirty = new Set(names.filter((n) => n.endsWith('.json')))
      this.#last = undefined
    }
    if (this.#last && this.#dirty.size === 0) return this.#last
    if (!this.#readDirty() && this.#last) return this.#last
    const out: AttachmentRecord[] = []
    for (const name of [...this.#entries.keys()].sort()) {
      const e = this.#entries.get(name)!
      if (e.record) out.push(e.record)
      else report(join(dir, name), e.problem, onProblem)
    }
    return (this.#last = out)
  }

  /** Reads the dirty names; false when all that came of it is the same error again for each. */
  #readDirty(): boolean {
    const again = new Set<string>()
    let changed = false
    for (const name of this.#dirty) {
      const file = join(this.#dir, name)
      try {
        const st = lstatSync(file, { throwIfNoEntry: false })
        if (st) this.#entries.set(name, { record: loadRecordFile(file, st) })
        else this.#entries.delete(name)
        changed = true
      } catch (err) {
        // ENOENT: removed between the lstat and the open (its unlink is an event too).
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') { this.#entries.delete(name); changed = true; continue }
        const was = this.#entries.get(name)?.problem
        // An EIO or EMFILE says nothing about the file: read it again at the next listing, and
        // while it fails the same way, list (and report) nothing new: a sync per change must not
        // log the same line each time.
        if (!(err instanceof RecordError)) again.add(name)
        if (!(was instanceof Error && was.constructor === (err as Error).constructor && was.message === (err as Error).message)) changed = true
        this.#entries.set(name, { problem: err })
      }
    }
    this.#dirty = again
    return changed
  }

  /** Drops the watch (its descriptor) and what it kept; the next listing starts over. */
  close(): void {
    this.#watch?.close()
    this.#watch = undefined
    this.#entries.clear()
    this.#dirty.clear()
    this.#last = undefined
  }
}

/**
 * The listing without inotify: every file is lstat'ed and read again only if its inode, size or
 * times changed, and the whole listing is skipped while the directory's inode and times are those
 * of the last one. cinch-bridge writes a record by rename (a new inode, and the directory's times
 * change) and never in place. Times come from a coarse clock and inode numbers are reused: a
 * rewrite within one tick could keep both keys, so a directory or file is trusted unchanged only
 * once it last changed over a second before the listing that read it.
 */
class StatLister {
  #seen = new Map<string, { key: string; record?: AttachmentRecord; problem?: unknown }>()
  #last?: { key: string; readAt: number; records: AttachmentRecord[] }

  constructor(private readonly dir: string) {}

  list(onProblem?: OnProblem): AttachmentRecord[] {
    const dir = this.dir
    const dst = statSync(dir, { throwIfNoEntry: false })
    const dirKey = dst ? `${dst.ino} ${dst.mtimeMs} ${dst.ctimeMs}` : ''
    const c = this.#last
    if (dst && c && c.key === dirKey && c.readAt - Math.max(dst.mtimeMs, dst.ctimeMs) > 1000) return c.records
    const now = Date.now()
    let names: string[]
    try { names = readdirSync(dir) } catch (err) { this.#seen.clear(); this.#last = undefined; return noDir(dir, err) }
    const seen = new Map<string, { key: string; record?: AttachmentRecord; problem?: unknown }>()
    const out: AttachmentRecord[] = []
    for (const file of recordFiles(dir, names)) {
      let st: Stats
      try { st = lstatSync(file) } catch (err) { report(file, err, onProblem); continue }
      const key = `${st.ino} ${st.size} ${st.mtimeMs} ${st.ctimeMs}`
      let e = this.#seen.get(file)
      // A file replaced between the stat and the read is read again at the next listing (its key differs).
      if (e?.key !== key) {
        try { e = { key, record: loadRecordFile(file, st) } } catch (err) { e = { key, problem: err } }
      }
      // Kept only if it last changed over a second ago, and only a record or a RecordError (an
      // EMFILE or EIO passes).
      if (now - Math.max(st.mtimeMs, st.ctimeMs) > 1000 && (e.record || e.problem instanceof RecordError)) seen.set(file, e)
      if (e.record) out.push(e.record)
      else report(file, e.problem, onProblem)
    }
    this.#seen = seen
    this.#last = { key: dirKey, readAt: now, records: out }
    return out
  }
}
