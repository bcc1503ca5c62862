// The agent loop: sources -> ClusterState -> compile -> render -> apply. One sync runs at a time;
// requests arriving meanwhile are coalesced into the next sync, so a burst of events costs one
// transaction, and each caller learns when a sync that began after its request (and so saw its
// change) is in the kernel. Only what the rules need sits on that path (attachment records,
// compile, one nft transaction): the overlay (routes, conflist) and the conntrack cleanup each run
// beside it in their own lane, at most one run at a time, the next taking the newest state, so
// neither a slow node change nor a table of 100k flows can hold back a pod's ADD. The conntrack
// pass also waits for a pause in the changes (see #requestCleanup): its dump stalls the process.
import type { Logger } from 'pino'
import { Compiler } from './compile/index.js'
import { failedClosed, recordDeltaFrom, type FailedClosed, type PolicyIR } from './compile/ir.js'
import { failedClosedSides } from './cnp/tiered.js'
import type { LocalPod, Node } from './model/cluster.js'
import type { Source } from './sources/types.js'
import type { FlowLogOptions } from './flows/options.js'
import { FlowCompiler } from './flows/compiler.js'
import type { OverlayController } from './overlay/controller.js'
import type { AttachmentRecord } from '../lib/state/attachments.js'
import { AttachmentLister } from '../lib/state/attachment-lister.js'
import { toLocalPods } from './sources/attachments.js'
import { Applier, type ApplyResult } from './apply/applier.js'
import { DEFAULT_MAX_NODE_POLICY_COST } from './compile/cost.js'
import { warmUp } from './apply/warm.js'
import { collectYoungWhenFull } from './idle-gc.js'
import { ConntrackCleaner, type CleanupJob, type CleanupReport, type ConntrackTable } from './conntrack/cleaner.js'

export interface AgentOptions {
  source: Source
  stateDir: string
  nodeName: string
  log: Logger
  failOpen?: boolean
  /** Bound on what one policy may cost (compile/cost.ts); over it, the policy is reported invalid. */
  maxPolicyCost?: number
  /** Bound on what the policies selecting one local pod add up to; over it, the pod's direction fails closed. */
  maxPodPolicyCost?: number
  /** Bound on what the policies selecting the local pods add up to; over it, the costliest namespace's directions fail closed first. */
  maxNodePolicyCost?: number
  /**
   * false: the first sync checks every namespace's policies (`cinch agent --once`, which stops
   * after it and must report every invalid one); by default those of namespaces without a local
   * pod are checked after it (#deferring).
   */
  deferRemotePolicies?: boolean
  /**
   * Quiet time before a sync after a source event (default 0: the next turn of the event loop).
   * Bursts coalesce anyway: events that arrive while a sync runs are all served by the next one.
   */
  debounceMs?: number
  /** Remove conntrack entries of flows the new rules deny, in the background (default true). */
  conntrackCleanup?: boolean
  /** Every conntrack cleanup pass, when it ends (metrics). */
  onCleanup?: (report: CleanupReport) => void
  /**
   * A conntrack pass starts once no sync has ended for this long (default 100 ms), and at the
   * latest this long after the first sync it owes a pass to (default 1,000 ms): see #requestCleanup.
   */
  conntrackQuietMs?: number
  conntrackMaxDelayMs?: number
  /** The conntrack table a pass reads (default: this namespace's, over netlink). */
  openConntrack?: () => ConntrackTable
  applier?: Applier
  onSynced?: (report: SyncReport) => void
  /** A minor GC between changes when the young generation is half full (idle-gc.ts; default on). */
  idleGc?: boolean
  /** Node-driven work (overlay routes, conflist): started by every sync once its rules are in, never awaited by it. */
  overlay?: Pick<OverlayController, 'sync'>
  /** Flow records: which pods' chains log (--flow-logs, namespace annotations) and the kernel limit. */
  flowLogs?: FlowLogOptions
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
  /** the local pods' directions that fail closed (compile/ir.ts failedClosed), sorted */
  failedClosed: FailedClosed[]
  /** what the local pods' open chains add up to (cost.ts units), and --max-node-policy-cost */
  nodePolicyCost: { used: number; max: number }
  /**
   * Where the time went, in ms: every step the sync (and so an ADD waiting on it) awaited; `kernel`
   * is the part of `apply` spent in the kernel (a netlink diff's round trip).
   */
  steps: { records: number; compile: number; apply: number; kernel?: number }
  /**
   * Policy programming latency: for each source change this sync applied, ms from its arrival (the
   * source's callback, made as the change is stored) to the end of the sync's nft transaction.
   */
  programmingMs: number[]
}

// Arrival times kept between two syncs. A relist reports once, so only a flood of watch events in
// one sync's time could pass this; the earliest (the longest waits) are kept.
const MAX_ARRIVALS = 10_000
// A turn's share of checking the policies the first sync left (#scheduleDeferredCheck): a change that
// arrives meanwhile waits at most about this long.
const DEFERRED_CHECK_MS = 2
const DEFERRED_CHECK_LIMIT_MS = 10_000

/** The attachment records as last read, with what each sync needs of them (shared, never changed). */
interface RecordsRead {
  records: AttachmentRecord[]
  localPods: LocalPod[]
  attachments: string[]
  localIps: string[]
}

interface Waiter {
  resolve: (r: SyncReport) => void
  reject: (e: Error) => void
}

export class Agent {
  readonly applier: Applier
  // Kept between syncs: it redoes only what changed since the last one (compile/compiler.ts).
  readonly #compiler: Pick<Compiler, 'compile' | 'checkDeferred' | 'nodeCost' | 'recordsCompiled'>
  /**
   * Until the compiler has checked every namespace's policies: the first sync checks only those of
   * namespaces with a local pod (at 30k policies ~0.3 s of a restart's first sync went to policies
   * that compile into no chain here), and the rest are checked between changes, a few ms a turn
   * (#scheduleDeferredCheck); then, if that found invalid policies, one more sync hands out the
   * whole list (the rules stay as they are: those policies select no pod here). Changes that never
   * leave an idle turn cannot put it off for ever: a sync DEFERRED_CHECK_LIMIT_MS after the first
   * checks whatever is left itself.
   */
  #deferring: boolean
  #deferringSince?: number
  #deferredCheck?: NodeJS.Immediate
  #deferredInvalid = false
  #records?: RecordsRead
  readonly #lister: AttachmentLister
  #watchError?: string
  /** The invalid policies as last logged (#logInvalid), and the compiler's list they came from. */
  #invalidLogged = new Map<string, string>()
  #invalidSeen?: readonly { policy: string; reason: string }[]
  /** #failedClosed's last answer and the chains record it was read from */
  #closedSeen?: { chains: PolicyIR['chains']; list: FailedClosed[]; names: ReadonlySet<string> }
  #pending: Waiter[] = []
  #reasons = new Set<string>()
  /** performance.now() of each source change not yet applied, and of those the running sync applies. */
  #arrivals: number[] = []
  #applying: number[] = []
  #running = false
  #timer?: NodeJS.Timeout
  #immediate?: NodeJS.Immediate
  #idleGc?: NodeJS.Immediate
  #stopped = false
  readonly #cleaner: ConntrackCleaner
  #cleanupJob?: CleanupJob
  #cleanupTimer?: NodeJS.Timeout
  /** performance.now() by which the owed pass starts, whatever the changes do. */
  #cleanupDue = 0
  #overlayNext?: Node[]
  #overlayRun?: Promise<void>
  last?: SyncReport
  lastError?: { at: Date; message: string }
  /** Attachment records skipped at the last read, and why (shown by `cinch status`). */
  recordProblems: { where: string; reason: string }[] = []

  constructor(private readonly opts: AgentOptions) {
    this.applier = opts.applier ?? new Applier({ failOpen: opts.failOpen, log: opts.log.child({ part: 'applier' }) })
    this.#compiler = this.#makeCompiler()
    this.#deferring = opts.deferRemotePolicies !== false
    this.#lister = new AttachmentLister(opts.stateDir)
    this.#cleaner = new ConntrackCleaner({ log: opts.log.child({ part: 'conntrack' }), onPass: opts.onCleanup, ...(opts.openConntrack ? { open: opts.openConntrack } : {}) })
  }

  #makeCompiler(): Pick<Compiler, 'compile' | 'checkDeferred' | 'nodeCost' | 'recordsCompiled'> {
    const o = this.opts
    const bounds = { maxPolicyCost: o.maxPolicyCost, maxPodPolicyCost: o.maxPodPolicyCost, maxNodePolicyCost: o.maxNodePolicyCost }
    return o.flowLogs ? new FlowCompiler({ ...bounds, flowLogs: o.flowLogs }) : new Compiler(bounds)
  }

  /** Reads the whole cluster, then applies the first (full) sync; resolves once it is in the kernel. */
  async start(): Promise<SyncReport> {
    const listed = this.opts.source.start(() => {
      if (this.#arrivals.length < MAX_ARRIVALS) this.#arrivals.push(performance.now())
      this.scheduleSync('source changed')
    }, { beforeLastPage: () => this.#compileAhead() })
    // The warm-up does not go before the first sync: run before the first compile over the whole
    // cluster, it made that compile ~150 ms slower (bench:policy-scale, alternated), and it spared
    // the first encode nothing.
    await listed
    const first = await this.requestSync('start')
    // After the first sync, before the first change needs it: the change path's code, run once on
    // a small cluster of its own (apply/warm.ts). A change arriving meanwhile waits for this turn only.
    setImmediate(() => this.#warmUp())
    return first
  }

  /**
   * A cold start's compile of the cluster read so far, before the last page of the last list is
   * asked for; its IR is dropped (nothing is applied before the whole cluster is read). The
   * compiler keeps what it built, so the first sync compiles only what the last page brings: at
   * 30k/30k, in process, the compile after the last page took 28 ms for 300 pods against 478 ms for
   * the whole cluster; the two compiles together cost about what the one did, and the cold start
   * as a whole is no faster (bench/README phase 22): this shortens the time the agent holds the
   * whole cluster and enforces none of it.
   */
  #compileAhead(): void {
    if (this.#stopped) return
    const log = this.opts.log
    const t = performance.now()
    try {
      const { localPods } = this.#readRecords(log)
      this.#compiler.compile(this.opts.source.state(), localPods, { deferRemote: this.#deferring })
      log.info({ ms: Math.round((performance.now() - t) * 10) / 10 }, 'compiled ahead of the last list page')
    } catch (err) {
      // The first sync compiles everything instead (the compiler starts over after a throw).
      log.warn({ err }, 'compile ahead of the last list page failed')
    }
  }

  #warmUp(): void {
    if (this.#stopped) return
    const t = performance.now()
    try {
      const { encoded } = warmUp(() => this.#makeCompiler())
      this.opts.log.debug({ ms: Math.round((performance.now() - t) * 10) / 10, encoded }, 'change path warmed up')
    } catch (err) {
      this.opts.log.warn({ err }, 'warm-up failed (changes still apply)')
    }
    // Its garbage joins the first sync's in the young generation, after the idle GC that followed
    // that sync: collected now, while no change waits, or a scavenge came with the first changes
    // (12 and 22 ms at the first change in 2 of 6 runs of bench:policy-scale).
    this.#scheduleIdleGc(0)
  }

  /** Debounced: for events of the sources. */
  scheduleSync(reason: string): void {
    this.#reasons.add(reason)
    const run = () => void this.requestSync(reason).catch(() => {})
    // No debounce: after this turn's I/O (the events of one read are served together), not after
    // setTimeout's 1 ms minimum, a fifth of the 5 ms a change may take to reach the kernel.
    if (!this.opts.debounceMs) {
      this.#immediate ??= setImmediate(() => ((this.#immediate = undefined), run()))
      return
    }
    clearTimeout(this.#timer)
    this.#timer = setTimeout(run, this.opts.debounceMs)
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
          const report = await this.#sync(reason)
          for (const w of waiters) w.resolve(report)
        } catch (err) {
          // Not programmed: the next sync reports these changes, with all the time they waited.
          this.#arrivals = this.#applying.concat(this.#arrivals).slice(0, MAX_ARRIVALS)
          this.#applying = []
          this.lastError = { at: new Date(), message: (err as Error).message }
          this.opts.log.error({ err, reason }, 'sync failed')
          for (const w of waiters) w.reject(err as Error)
        }
      }
    } finally {
      this.#running = false
    }
    // Nothing waiting: a scavenge now falls between changes, not on the next one's way (idle-gc.ts).
    this.#scheduleIdleGc()
    this.#scheduleDeferredCheck()
  }

  /** The next few ms of the policies the first sync left unchecked, on a turn no sync needs. */
  #scheduleDeferredCheck(): void {
    if (!this.#deferring || this.#stopped) return
    this.#deferredCheck ??= setImmediate(() => {
      this.#deferredCheck = undefined
      // A sync waits or runs: its end schedules this again.
      if (this.#running || this.#pending.length || this.#immediate || this.#stopped) return
      const r = this.#compiler.checkDeferred(DEFERRED_CHECK_MS)
      this.#deferredInvalid ||= r.invalidChanged
      if (!r.done) return this.#scheduleDeferredCheck()
      this.#deferring = false
      if (this.#deferredInvalid) void this.requestSync('policies of every namespace checked').catch(() => {})
    })
  }

  /** A minor GC on the next turn if nothing is waiting then and the young generation is `threshold` full. */
  #scheduleIdleGc(threshold?: number): void {
    if (this.opts.idleGc === false || this.#stopped) return
    this.#idleGc ??= setImmediate(() => {
      this.#idleGc = undefined
      if (!this.#running && !this.#pending.length && !this.#immediate && !this.#stopped) collectYoungWhenFull(threshold)
    })
  }

  /**
   * The attachment records, read again only where they changed: the lister watches their
   * directory (lib/state/attachment-lister.ts) and hands back the same array while nothing
   * changed, so what a sync derives from them is derived once per change.
   */
  #readRecords(log: Logger): RecordsRead {
    const problems: { where: string; reason: string }[] = []
    const records = this.#lister.list((file, err) => {
      problems.push({ where: file, reason: err.message })
      log.warn({ file, err: err.message }, 'unreadable attachment record skipped')
    })
    const watchError = this.#lister.watchError?.message
    if (watchError !== this.#watchError) {
      if (watchError) log.warn({ err: watchError }, 'attachment records not watched (inotify): each sync stats every record')
      this.#watchError = watchError
    }
    if (this.#records?.records === records) return this.#records
    this.recordProblems = problems
    // What each sync derives from the records, derived once per read (issue 14: per sync, it grew
    // with the local pods and not with the change).
    const localPods = toLocalPods(records)
    const attachments = records.map((r) => `${r.containerId}/${r.ifName}`)
    return (this.#records = { records, localPods, attachments, localIps: localPods.flatMap((p) => p.ips) })
  }

  /**
   * Logs each invalid policy when it becomes invalid or its reason changes, and once when it no
   * longer is; not at every sync. Logged at every sync, a tenant's thousand invalid policies were
   * a thousand warnings on every change's way to the kernel, and a log flood (/status and
   * /metrics list them all, all the time).
   */
  #logInvalid(invalid: readonly { policy: string; reason: string }[], log: Logger): void {
    if (invalid === this.#invalidSeen) return // the compiler's same list: nothing changed
    this.#invalidSeen = invalid
    const now = new Map<string, string>()
    for (const i of invalid) {
      now.set(i.policy, i.reason)
      if (this.#invalidLogged.get(i.policy) !== i.reason) log.warn({ policy: i.policy, reason: i.reason }, i.policy.startsWith('ClusterNetworkPolicy/') ? 'invalid ClusterNetworkPolicy skipped' : 'invalid NetworkPolicy skipped')
    }
    for (const policy of this.#invalidLogged.keys()) if (!now.has(policy)) log.info({ policy }, 'policy no longer invalid (fixed or deleted)')
    this.#invalidLogged = now
  }

  /**
   * The chains of `ir` that fail closed, walked again only when its chains changed; each logged
   * when it closes and once when it opens again (as #logInvalid), not when only its reason's cost
   * moved: a tenant adding policy after policy past the bound would log a warning each time.
   */
  #failedClosed(ir: PolicyIR, log: Logger): FailedClosed[] {
    const last = this.#closedSeen
    if (last && last.chains === ir.chains) return last.list
    // With the compiler's record delta, only the chains a change touched can have closed or
    // opened: a policy create does not walk the ~220 chains of the node (~0.1 ms of it, cold).
    const d = last && recordDeltaFrom(last.chains, ir.chains)
    if (last && d && d.removed.every((n) => !last.names.has(n)) && d.changed.every((n) => !last.names.has(n) && !ir.chains[n]?.failedClosed)) {
      this.#closedSeen = { ...last, chains: ir.chains }
      return last.list
    }
    const list = failedClosed(ir)
    const key = (f: FailedClosed) => `${f.pod} ${f.direction}${f.audit ? ' audit' : ''}`
    const now = new Map(list.map((f) => [key(f), f]))
    const before = new Map((last?.list ?? []).map((f) => [key(f), f]))
    for (const [k, f] of now) if (!before.has(k)) log.warn({ pod: f.pod, direction: f.direction, ...(f.audit ? { audit: true } : {}), reason: f.reason }, 'pod fails closed: its policies cost too much')
    for (const [k, f] of before) if (!now.has(k)) log.info({ pod: f.pod, direction: f.direction, ...(f.audit ? { audit: true } : {}) }, 'pod no longer fails closed')
    this.#closedSeen = { chains: ir.chains, list, names: new Set(list.map((f) => f.chain)) }
    return list
  }

  async #sync(reason: string): Promise<SyncReport> {
    const log = this.opts.log.child({ sync: reason })
    const ms = (t: number) => Math.round((performance.now() - t) * 10) / 10
    const t0 = performance.now()
    const { localPods, attachments, localIps } = this.#readRecords(log)
    const state = this.opts.source.state()
    // The source stores a change before it calls back, so every arrival taken here is in `state`.
    this.#applying = this.#arrivals
    this.#arrivals = []
    // From the earliest change this sync applies (the source's callback) to the sync's start: the
    // rest of a change's way to the kernel beside the steps (logged, not a step an ADD waits on).
    let first = Infinity
    for (const a of this.#applying) first = Math.min(first, a)
    const steps: SyncReport['steps'] = { records: ms(t0), compile: 0, apply: 0 }
    let t = performance.now()
    this.#deferringSince ??= t0
    const { ir, invalid } = this.#compiler.compile(state, localPods, { deferRemote: this.#deferring && t0 - this.#deferringSince < DEFERRED_CHECK_LIMIT_MS })
    steps.compile = ms(t)
    // Of the local pods' records, those compiled again: all of them in a full compile (a node that
    // compiles every change in full shows it here), else those the change touched.
    const recordsCompiled = this.#compiler.recordsCompiled
    this.#logInvalid(invalid, log)
    const closed = this.#failedClosed(ir, log)
    t = performance.now()
    const apply = await this.applier.apply(ir)
    steps.apply = ms(t)
    // Of the apply, the kernel's round trip (a netlink diff): the commit's own cost, apart from our planning and encoding.
    if (apply.kernelMs !== undefined) steps.kernel = Math.round(apply.kernelMs * 10) / 10
    const committed = performance.now()
    // The kernel's answer on CLOCK_MONOTONIC (us), which other processes on the node read too: a
    // tool can time a change to its commit without this line's own way (bench:policy-scale).
    const committedAtUs = Number(process.hrtime.bigint() / 1000n)
    const programmingMs = this.#applying.map((a) => committed - a)
    this.#applying = []
    const durationMs = performance.now() - t0
    const nodePolicyCost = { used: this.#compiler.nodeCost, max: this.opts.maxNodePolicyCost ?? DEFAULT_MAX_NODE_POLICY_COST }
    const report: SyncReport = { reason, at: new Date(), durationMs, apply, localPods, attachments, invalid, failedClosed: closed, nodePolicyCost, steps, programmingMs }
    this.last = report
    this.lastError = undefined
    // The log line after the waiters' answers (a pod's ADD waits on this sync; its reply is written
    // in the microtasks its resolve queues): ~0.2-0.35 ms of pino a sync at 30k, on no one's way.
    setImmediate(() => log.info(
      { mode: apply.mode, via: apply.via, ruleLines: apply.lines, ...(first < t0 ? { queuedMs: Math.round((t0 - first) * 10) / 10 } : {}), localPods: localPods.length, recordsCompiled, invalid: invalid.length, durationMs: Math.round(durationMs * 10) / 10, steps, committedAtUs },
      'rules applied',
    ))
    this.opts.onSynced?.(report)
    this.#startOverlay(state.nodes.values(), log)
    if (apply.mode !== 'none' && this.opts.conntrackCleanup !== false) {
      this.#requestCleanup({ state, localIps, skipped: invalid.map((i) => i.policy), ...(closed.length ? { closed: closedSides(closed, localPods) } : {}) })
    }
    return report
  }

  /**
   * A conntrack pass for `job`, once the changes pause. The pass's dump makes the kernel walk its
   * whole conntrack hash, every bucket of every namespace (nf_conntrack_buckets, 262,144 on a host
   * with 4 GB or more), and does the first stretch of that walk inside the request's sendmsg: 10-27
   * ms of this thread even with an empty table, and ~11 ms of one CPU that the kernel does not give
   * up meanwhile. Requested after every sync, as it was, it followed every change, and the next
   * change or the commit's reader often met it (at 30k pods the most common tail of change ->
   * commit, issue 14). So it starts once no sync has ended for `conntrackQuietMs`,
   * or `conntrackMaxDelayMs` after the first sync it owes, with the newest state: a flow a policy
   * now denies ends that much later (it already outlived its rules by a pass), and a stream of
   * changes costs one pass a second, not one per change.
   */
  #requestCleanup(job: CleanupJob): void {
    const now = performance.now()
    if (!this.#cleanupJob) this.#cleanupDue = now + (this.opts.conntrackMaxDelayMs ?? 1000)
    this.#cleanupJob = job
    clearTimeout(this.#cleanupTimer)
    this.#cleanupTimer = setTimeout(() => this.#startCleanup(), Math.max(0, Math.min(this.opts.conntrackQuietMs ?? 100, this.#cleanupDue - now)))
  }

  #startCleanup(): void {
    this.#cleanupTimer = undefined
    const job = this.#cleanupJob
    if (!job || this.#stopped) return
    // A sync under way ends by asking again with a newer state; one that fails does not: look again.
    if (this.#running) {
      this.#cleanupTimer = setTimeout(() => this.#startCleanup(), this.opts.conntrackQuietMs ?? 100)
      return
    }
    this.#cleanupJob = undefined
    this.#cleaner.request(job)
  }

  /**
   * The overlay's lane: one run at a time, the next with the newest Nodes. Not awaited by the
   * sync: routes to other nodes do not protect this node's pods, and a slow or failing overlay
   * (one bad Node, a device the kernel refuses) must not hold the policy or an ADD back.
   */
  #startOverlay(nodes: Iterable<Node>, log: Logger): void {
    const overlay = this.opts.overlay
    if (!overlay) return
    this.#overlayNext = [...nodes]
    this.#overlayRun ??= (async () => {
      while (this.#overlayNext) {
        const next = this.#overlayNext
        this.#overlayNext = undefined
        try {
          await overlay.sync(next)
        } catch (err) {
          log.warn({ err }, 'overlay sync failed; policy applied anyway')
        }
      }
    })().finally(() => (this.#overlayRun = undefined))
  }

  /** Stops syncing; the running conntrack pass is cancelled, the running overlay run finishes (--once needs its conflist). */
  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    clearTimeout(this.#cleanupTimer)
    this.#cleanupJob = undefined
    if (this.#immediate) clearImmediate(this.#immediate)
    if (this.#idleGc) clearImmediate(this.#idleGc)
    if (this.#deferredCheck) clearImmediate(this.#deferredCheck)
    this.#lister.close()
    await Promise.all([this.#cleaner.stop(), this.#overlayRun])
    await this.opts.source.stop()
  }
}

/** The conntrack cleanup's view of the directions that fail closed: the local pods' by key and address. */
function closedSides(closed: readonly FailedClosed[], localPods: readonly LocalPod[]) {
  const ips = new Map(localPods.map((lp) => [`${lp.namespace}/${lp.name}`, lp.ips]))
  return failedClosedSides(closed, (pod) => ips.get(pod))
}
