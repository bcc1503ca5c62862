// Ends the conntrack entries of flows a policy change denies, in the background: the sync hands
// over the state it applied and goes on; at most one pass runs, and a pass that finishes picks up
// the newest state requested meanwhile (older ones are superseded, never queued). Each pass is
// bounded in time, entries examined and entries deleted, and stop() cancels it. A pass streams the
// table over netlink (lib/net/conntrack.ts), judges each entry as it arrives (denied.ts), and
// deletes the denied ones in batches, one sendmsg each.
import type { Logger } from 'pino'
import type { ClusterState } from '../model/cluster.js'
import { NfnlSocket } from '../../lib/net/nfnetlink.js'
import { deleteConntrack, dumpConntrack, type CtEntry, type DeleteOutcome } from '../../lib/net/conntrack.js'
import { deniedEntries } from './denied.js'
import type { FailedClosedSides } from '../cnp/tiered.js'
import { CanonicalAddresses, NodeAddresses } from './addresses.js'

/** The kernel's conntrack table as a pass uses it; the I/O edge, faked in cleaner.test.ts. */
export interface ConntrackTable {
  /** Streams entries into `onEntry` (false: stop); resolves true when the table was read whole. */
  scan(onEntry: (e: CtEntry) => boolean | void, signal: AbortSignal): Promise<boolean>
  remove(batch: CtEntry[]): Promise<DeleteOutcome>
  close(): void
}

/** The table of the agent's network namespace over NETLINK_NETFILTER, one socket per pass. */
export function openNetlinkTable(): ConntrackTable {
  // A dump stopped early closes its socket (NfnlSocket.dump), so deletes get their own.
  const dumpSock = new NfnlSocket()
  let delSock: NfnlSocket | undefined
  return {
    scan: (onEntry, signal) => dumpConntrack(dumpSock, onEntry, signal),
    // Room for a batch's acks (each a small skb) on a node where other traffic shares the socket's budget.
    remove: (batch) => deleteConntrack((delSock ??= new NfnlSocket({ recvBufferSize: 1 << 20 })), batch),
    close: () => { dumpSock.close(); delSock?.close() },
  }
}

export interface CleanupJob {
  state: ClusterState
  localIps: Iterable<string>
  /** The policies the compiler skipped (the sync's invalid list): not in the kernel, not judged. */
  skipped?: readonly string[]
  /** The local pods' directions that fail closed (the sync's failedClosed): denied whole, as their chains do. */
  closed?: FailedClosedSides
}

export type CutBy = 'time' | 'examined' | 'deletes' | 'stopped'

export interface CleanupReport {
  examined: number
  denied: number
  deleted: number
  /** Gone before we got to them (ended by themselves). */
  gone: number
  /** Deletes the kernel refused, plus 1 for a pass that failed as a whole. */
  errors: number
  durationMs: number
  /** The bound that ended the pass early; undefined when it covered the whole table. */
  cutBy?: CutBy
  error?: string
}

export interface CleanerOptions {
  log: Logger
  open?: () => ConntrackTable
  /**
   * The node's own addresses, whose flows are never ended; default: this netns's interfaces.
   * Called by a pass at its first entry that touches a local pod.
   */
  nodeIps?: () => Set<string>
  /** Per pass. Defaults: 10 s, 1,000,000 entries examined, 20,000 deleted, 256 per sendmsg. */
  budgetMs?: number
  maxExamined?: number
  maxDeletes?: number
  batch?: number
  /** Every finished pass (metrics). */
  onPass?: (r: CleanupReport) => void
}

const SAMPLE = 3
/** Entries between two looks at the clock, from the first (performance.now() per entry allocated a number each). */
const CLOCK_EVERY = 64

export class ConntrackCleaner {
  #next?: CleanupJob
  #running?: Promise<void>
  #abort?: AbortController
  #stopped = false
  /** Canonical addresses kept between passes: each sync requests one (addresses.ts). */
  readonly #local = new CanonicalAddresses()
  readonly #nodeIps: () => Set<string>

  constructor(private readonly o: CleanerOptions) {
    this.#nodeIps = o.nodeIps ?? new NodeAddresses().get
  }

  /** Cleans for `job` soon; a request made while a pass runs replaces any not yet started. */
  request(job: CleanupJob): void {
    if (this.#stopped) return
    this.#next = job
    this.#running ??= this.#loop().finally(() => (this.#running = undefined))
  }

  /** Cancels the running pass and drops the pending one; resolves once nothing runs. */
  async stop(): Promise<void> {
    this.#stopped = true
    this.#next = undefined
    this.#abort?.abort('stopped')
    await this.#running
  }

  async #loop(): Promise<void> {
    while (this.#next && !this.#stopped) {
      const job = this.#next
      this.#next = undefined
      const r = await this.#pass(job)
      this.o.onPass?.(r)
      // A pass cut by time or by its delete cap made progress: the rest of the same job comes
      // next, unless a newer state supersedes it. One cut by entries examined would only read the
      // same first entries again (a dump always starts at the top), so it is not repeated.
      if ((r.cutBy === 'time' || r.cutBy === 'deletes') && r.deleted > 0 && !this.#next) this.#next = job
      await new Promise<void>((res) => setImmediate(res))
    }
  }

  async #pass(job: CleanupJob): Promise<CleanupReport> {
    const o = this.o
    const budgetMs = o.budgetMs ?? 10_000
    const maxExamined = o.maxExamined ?? 1_000_000
    const maxDeletes = o.maxDeletes ?? 20_000
    const batch = Math.max(1, o.batch ?? 256)
    const t0 = performance.now()
    const r: CleanupReport = { examined: 0, denied: 0, deleted: 0, gone: 0, errors: 0, durationMs: 0 }
    const localIps = this.#local.of(job.localIps)
    if (localIps.size === 0) return r
    let table: ConntrackTable | undefined
    const abort = (this.#abort = new AbortController())
    const overTime = () => performance.now() - t0 > budgetMs
    // The checks between entries and batches need entries to arrive: a kernel that goes quiet is
    // cut by the clock too. Aborting closes the table, which fails whatever is in flight.
    const timer = setTimeout(() => abort.abort('time'), budgetMs + 1000)
    abort.signal.addEventListener('abort', () => table?.close())
    const isDenied = deniedEntries(job.state, localIps, this.#nodeIps, job.skipped, job.closed)
    const victims: CtEntry[] = []
    try {
      table = (o.open ?? openNetlinkTable)()
      const cut = (why: CutBy) => { r.cutBy = why; return false }
      await table.scan((e) => {
        if (++r.examined > maxExamined) return cut('examined')
        if (isDenied(e)) victims.push(e)
        if (victims.length >= maxDeletes) return cut('deletes')
        if (r.examined % CLOCK_EVERY === 1 && overTime()) return cut('time')
        return true
      }, abort.signal)
      r.examined = Math.min(r.examined, maxExamined)
      r.denied = victims.length
      for (let i = 0; i < victims.length; i += batch) {
        if (abort.signal.aborted) break
        if (i > 0 && overTime()) { r.cutBy = 'time'; break } // the first batch always goes: progress
        const out = await table.remove(victims.slice(i, i + batch))
        r.deleted += out.deleted
        r.gone += out.gone
        r.errors += out.failed
        if (out.failed && !r.error) r.error = `delete refused: errno ${out.firstErrno}`
      }
    } catch (err) {
      // A request the abort cut short (the table closed under it) is no failure of the kernel's.
      if (!abort.signal.aborted) {
        r.errors++
        r.error = (err as Error).message
      }
    } finally {
      clearTimeout(timer)
      table?.close()
      if (abort.signal.aborted) r.cutBy = abort.signal.reason as CutBy
      this.#abort = undefined
    }
    r.durationMs = Math.round((performance.now() - t0) * 10) / 10
    this.#log(r, victims)
    return r
  }

  #log(r: CleanupReport, victims: CtEntry[]): void {
    const { log } = this.o
    const figures = { examined: r.examined, denied: r.denied, deleted: r.deleted, gone: r.gone, errors: r.errors, durationMs: r.durationMs, ...(r.cutBy ? { cutBy: r.cutBy } : {}) }
    // Counts only: a flow list grows with the table (20k flows once made a 2 MB line). A few
    // flows at debug level say what kind of traffic it was.
    if (r.error) log.warn({ ...figures, err: r.error }, 'conntrack cleanup failed')
    else if (r.deleted > 0) log.info(figures, 'ended connections the new rules deny')
    else if (r.cutBy) log.info(figures, 'conntrack cleanup cut short')
    if (victims.length && log.isLevelEnabled('debug')) {
      const sample = victims.slice(0, SAMPLE).map((e) => `${e.family === 4 ? 'ipv4' : 'ipv6'}/${e.orig.proto} ${e.orig.src}:${e.orig.sport} -> ${e.reply.src}:${e.reply.sport}`)
      log.debug({ sample, of: victims.length }, 'conntrack cleanup sample')
    }
  }
}
