// The agent loop: sources -> ClusterState -> compile -> render -> apply, then conntrack cleanup.
// One sync runs at a time; requests arriving meanwhile are coalesced into the next sync, so a burst
// of events costs one transaction, and each caller learns when a sync that began after its request
// (and so saw its change) is in the kernel.
import type { Logger } from 'pino'
import { Compiler } from './compile/index.js'
import type { LocalPod } from './model/cluster.js'
import type { Source } from './sources/types.js'
import type { OverlayController } from './overlay/controller.js'
import { statSync } from 'node:fs'
import { attachmentsDir, listAttachments, type AttachmentRecord } from '../lib/state/attachments.js'
import { toLocalPods } from './sources/attachments.js'
import { Applier, type ApplyResult } from './apply/applier.js'
import { removeDeniedFlows } from './apply/conntrack.js'

export interface AgentOptions {
  source: Source
  stateDir: string
  nodeName: string
  log: Logger
  failOpen?: boolean
  /**
   * Quiet time before a sync after a source event (default 0: the next turn of the event loop).
   * Bursts coalesce anyway: events that arrive while a sync runs are all served by the next one.
   */
  debounceMs?: number
  /** Remove conntrack entries of flows the new rules deny (default true). */
  conntrackCleanup?: boolean
  applier?: Applier
  onSynced?: (report: SyncReport) => void
  /** Node-driven work (overlay routes, conflist): run on every sync, before the policy. */
  overlay?: Pick<OverlayController, 'sync'>
}

export interface SyncReport {
  reason: string
  at: Date
  durationMs: number
  apply: ApplyResult
  localPods: LocalPod[]
  /** `<containerId>/<ifName>` of every attachment this sync programmed. */
  attachments: string[]
  invalid: { policy: string; reason: string }[]
}

interface Waiter {
  resolve: (r: SyncReport) => void
  reject: (e: Error) => void
}

export class Agent {
  readonly applier: Applier
  // Kept between syncs: it redoes only what changed since the last one (compile/compiler.ts).
  readonly #compiler = new Compiler()
  #records?: { key: string; readAt: number; records: AttachmentRecord[] }
  #pending: Waiter[] = []
  #reasons = new Set<string>()
  #running = false
  #timer?: NodeJS.Timeout
  #stopped = false
  last?: SyncReport
  lastError?: { at: Date; message: string }

  constructor(private readonly opts: AgentOptions) {
    this.applier = opts.applier ?? new Applier({ failOpen: opts.failOpen })
  }

  /** Reads the whole cluster, then applies the first (full) sync; resolves once it is in the kernel. */
  async start(): Promise<SyncReport> {
    await this.opts.source.start(() => this.scheduleSync('source changed'))
    return this.requestSync('start')
  }

  /** Debounced: for events of the sources. */
  scheduleSync(reason: string): void {
    this.#reasons.add(reason)
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => void this.requestSync(reason).catch(() => {}), this.opts.debounceMs ?? 0)
  }

  /** Resolves when a sync that started after this call is in the kernel; rejects if it failed. */
  requestSync(reason: string): Promise<SyncReport> {
    this.#reasons.add(reason)
    const p = new Promise<SyncReport>((resolve, reject) => this.#pending.push({ resolve, reject }))
    void this.#pump()
    return p
  }

  async #pump(): Promise<void> {
    if (this.#running || this.#stopped) return
    this.#running = true
    try {
      while (this.#pending.length && !this.#stopped) {
        const waiters = this.#pending
        const reason = [...this.#reasons].join(', ')
        this.#pending = []
        this.#reasons.clear()
        try {
          const { report, cleanup } = await this.#sync(reason)
          for (const w of waiters) w.resolve(report)
          // After the replies: a waiting CNI ADD must not pay for the conntrack walk.
          await cleanup()
        } catch (err) {
          this.lastError = { at: new Date(), message: (err as Error).message }
          this.opts.log.error({ err, reason }, 'sync failed')
          for (const w of waiters) w.reject(err as Error)
        }
      }
    } finally {
      this.#running = false
    }
  }

  /**
   * The attachment records, re-read only when the directory changed: reading 100 records costs
   * more than the rest of an incremental sync. cinch-bridge writes records by rename and DEL
   * unlinks them (lib/state/README.md), so every change updates the directory's mtime/ctime. Those come
   * from a coarse clock, so a change in the same tick as a read could leave them equal: the
   * cache is trusted only when the directory last changed well before the read began.
   */
  async #readRecords(log: Logger): Promise<AttachmentRecord[]> {
    let st: { ino: number; mtimeMs: number; ctimeMs: number } | undefined
    try { st = statSync(attachmentsDir(this.opts.stateDir)) } catch { st = undefined }
    const key = st ? `${st.ino} ${st.mtimeMs} ${st.ctimeMs}` : ''
    const c = this.#records
    if (st && c && c.key === key && c.readAt - Math.max(st.mtimeMs, st.ctimeMs) > 1000) return c.records
    const readAt = Date.now()
    const records = await listAttachments(this.opts.stateDir, (file, err) =>
      log.warn({ file, err: err.message }, 'unreadable attachment record skipped'),
    )
    this.#records = { key, readAt, records }
    return records
  }

  async #sync(reason: string): Promise<{ report: SyncReport; cleanup: () => Promise<void> }> {
    const log = this.opts.log.child({ sync: reason })
    const t0 = performance.now()
    const records = await this.#readRecords(log)
    const localPods = toLocalPods(records)
    const state = this.opts.source.state()
    // An overlay failure (one bad Node, a device the kernel refuses) must not hold the policy back:
    // the rules protect the pods this node already runs, whatever the routes to other nodes.
    try {
      await this.opts.overlay?.sync(state.nodes.values())
    } catch (err) {
      log.warn({ err }, 'overlay sync failed; policy applied anyway')
    }
    const { ir, invalid } = this.#compiler.compile(state, localPods)
    for (const i of invalid) log.warn({ policy: i.policy, reason: i.reason }, 'invalid NetworkPolicy skipped')
    const apply = await this.applier.apply(ir)
    const durationMs = performance.now() - t0
    const attachments = records.map((r) => `${r.containerId}/${r.ifName}`)
    const report: SyncReport = { reason, at: new Date(), durationMs, apply, localPods, attachments, invalid }
    this.last = report
    this.lastError = undefined
    log.info(
      { mode: apply.mode, ruleLines: apply.lines, localPods: localPods.length, invalid: invalid.length, durationMs: Math.round(durationMs * 10) / 10 },
      'rules applied',
    )
    this.opts.onSynced?.(report)
    const cleanup = async () => {
      if (apply.mode === 'none' || this.opts.conntrackCleanup === false) return
      const localIps = new Set(localPods.flatMap((p) => p.ips))
      try {
        const ended = await removeDeniedFlows(state, localIps)
        if (ended.length) log.info({ flows: ended }, 'ended connections the new rules deny')
      } catch (err) {
        log.warn({ err }, 'conntrack cleanup failed')
      }
    }
    return { report, cleanup }
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    await this.opts.source.stop()
  }
}
