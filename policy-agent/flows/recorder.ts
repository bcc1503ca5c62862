// FlowRecorder: the agent's flow-record pipeline, wired end to end (see README.md's diagram):
// nflog reader -> flowEvent (prefix + RefTable) -> TraceAssembler -> Aggregator -> every interval
// the sink, the ring and the metrics. The pure parts live in their own modules; this one holds the
// I/O: the socket (retried while another socket holds the group), the interval timer, the close.
import type { Logger } from 'pino'
import type { PolicyIR } from '../compile/ir.js'
import type { ClusterState } from '../model/cluster.js'
import { openNflogReader, type NflogPacket, type NflogReaderOptions } from '../../lib/net/nflog.js'
import { Aggregator, DEFAULT_INTERVAL_MS, DEFAULT_MAX_KEYS } from './aggregate.js'
import { TraceAssembler, flowEvent } from './events.js'
import type { FlowMetrics } from './metrics.js'
import { PodAddressIndex } from './pod-addresses.js'
import { RefTable, refSourceFromIR } from './refs.js'
import type { FlowRing } from './ring.js'
import type { FlowSink } from './sink.js'
import { SNAPLEN } from './nft.js'

const RETRY_MS = 5000

interface FlowReader { close(): void }

export interface FlowRecorderOptions {
  group: number
  intervalMs?: number
  maxKeys?: number
  sink: FlowSink
  ring: FlowRing
  metrics: FlowMetrics
  log: Logger
  /** opens the nflog socket (default: openNflogReader in the caller's namespace) */
  openReader?: (o: NflogReaderOptions) => Promise<FlowReader>
}

export interface FlowRecorderStatus {
  group: number
  /** the group is bound to our socket: records are being read */
  reading: boolean
  /** why not (EPERM: another socket holds the group), retried every 5 s */
  error?: string
  lost: number
  incomplete: number
}

export class FlowRecorder {
  readonly #o: FlowRecorderOptions
  readonly #assembler = new TraceAssembler()
  readonly #agg: Aggregator
  #refs = new RefTable({ networkPolicies: [], chains: [] })
  /** the IR #refs and #live were made of */
  #appliedIr?: PolicyIR
  #live = new Set<string>()
  /** the colliding pairs already warned about */
  readonly #warned = new Set<string>()
  #state?: ClusterState
  /** address -> pod, built at the first lookup, then kept up to date per sync (pod-addresses.ts) */
  #byAddr?: PodAddressIndex
  #reader?: FlowReader
  #error?: string
  #lost = 0
  #flushTimer?: NodeJS.Timeout
  #retryTimer?: NodeJS.Timeout
  #closed = false
  #sinkClosed = false

  constructor(o: FlowRecorderOptions) {
    this.#o = o
    this.#agg = new Aggregator({ intervalMs: o.intervalMs ?? DEFAULT_INTERVAL_MS, maxKeys: o.maxKeys ?? DEFAULT_MAX_KEYS, resolve: (a) => this.#podOf(a) }, Date.now())
  }

  /** Binds the group (retrying in the background while it cannot) and starts the interval. */
  async start(): Promise<void> {
    this.#flushTimer = setInterval(() => this.flush(), this.#agg.intervalMs)
    this.#flushTimer.unref()
    await this.#open()
  }

  async #open(): Promise<void> {
    if (this.#closed) return
    const open = this.#o.openReader ?? openNflogReader
    try {
      const reader = await open({
        group: this.#o.group, copyRange: SNAPLEN,
        onPacket: (p) => this.#onPacket(p),
        onLost: (n) => { this.#lost += n; this.#o.metrics.recordLost(n) },
        // A packet that did not parse or that our pipeline threw on: counted as lost, logged at
        // debug (a flood must not become a log flood), and the reader goes on.
        onError: (err) => { this.#lost += 1; this.#o.metrics.recordLost(1); this.#o.log.debug({ err: err.message }, 'flow log packet dropped') },
      })
      if (this.#closed) return reader.close()
      this.#reader = reader
      if (this.#error) this.#o.log.info({ group: this.#o.group }, 'flow log group bound; reading flow records')
      this.#error = undefined
    } catch (err) {
      const message = (err as Error).message
      if (message !== this.#error) this.#o.log.warn({ group: this.#o.group, err: message, retryInMs: RETRY_MS }, 'cannot read the flow log group; retrying')
      this.#error = message
      this.#retryTimer = setTimeout(() => void this.#open(), RETRY_MS)
      this.#retryTimer.unref()
    }
  }

  /**
   * After each applied sync: the ids its rules may log, and the pods that name addresses. Events
   * until the next call are attributed with these (an id of a removed policy reads `unknown`).
   */
  setApplied(ir: PolicyIR, state: ClusterState): void {
    // Brought to this IR at the cost of what changed since the last (RefTable.follow); built anew
    // from the whole IR only when that could name an id otherwise (a collision, old or new).
    const prev = this.#appliedIr
    if (!prev || !this.#refs.follow(prev, ir)) this.#refs = new RefTable(refSourceFromIR(ir), this.#refs)
    // Once per colliding pair, not per sync: a tenant who found a collision would otherwise write
    // a warning into the agent's log at every change of the cluster.
    for (const c of this.#refs.collisions) {
      if (this.#warned.has(c)) continue
      if (this.#warned.size >= 10_000) this.#warned.clear()
      this.#warned.add(c)
      this.#o.log.warn({ ref: c }, 'flow log id collision: records of this id say "ambiguous"')
    }
    // Brought up to date here, at the cost of the pods written since the last sync, so the next
    // flow event after a change does not stall the event loop rebuilding it from every pod. A
    // source without a change log (the manifest directory): rebuilt at the next event, if any.
    if (state !== this.#state) {
      this.#state = state
      if (this.#byAddr && !this.#byAddr.follow(state)) this.#byAddr = undefined
    }
    if (prev?.policyCounters !== ir.policyCounters || prev.ruleCounters !== ir.ruleCounters) {
      this.#live = new Set([...Object.keys(ir.policyCounters), ...Object.values(ir.ruleCounters ?? {}).map((r) => r.policy)])
    }
    this.#appliedIr = ir
    this.#o.metrics.retainPolicies(this.#live)
  }

  #podOf(addr: string): string | undefined {
    if (!this.#state) return undefined
    // Built at the first event, not at start: an agent whose pods log nothing never holds it.
    if (!this.#byAddr) (this.#byAddr = new PodAddressIndex()).sync(this.#state)
    const p = this.#byAddr.podOf(addr)
    return p && `${p.namespace}/${p.name}`
  }

  #onPacket(p: NflogPacket): void {
    if (this.#closed) return // a datagram already queued when the socket closed
    const now = Date.now()
    const ev = flowEvent(p, this.#refs, now)
    if ('rejected' in ev) return this.#o.metrics.recordOutcome(ev.rejected === 'prefix' ? 'bad_prefix' : 'bad_headers')
    if (ev.hit.unresolved) this.#o.metrics.recordOutcome('unresolved')
    const before = this.#assembler.incomplete
    const done = this.#assembler.push(ev, now)
    this.#o.metrics.recordOutcome('incomplete', this.#assembler.incomplete - before)
    if (!done) return
    this.#o.metrics.recordEvent(done)
    this.#agg.add(done)
  }

  /** Ends the interval: its records to the sink, the ring and their followers. */
  flush(): void {
    if (this.#sinkClosed) return
    const before = this.#assembler.incomplete
    this.#assembler.expire(Date.now())
    this.#o.metrics.recordOutcome('incomplete', this.#assembler.incomplete - before)
    const { records, overflow } = this.#agg.flush(Date.now())
    this.#o.metrics.recordOutcome('overflow', overflow)
    if (!records.length && !overflow) return
    try {
      this.#o.sink.write(records, overflow)
    } catch (err) {
      this.#o.log.warn({ err: (err as Error).message, records: records.length }, 'flow records not written to the sink')
    }
    this.#o.ring.push(records)
  }

  status(): FlowRecorderStatus {
    return {
      group: this.#o.group, reading: this.#reader !== undefined, ...(this.#error ? { error: this.#error } : {}),
      lost: this.#lost, incomplete: this.#assembler.incomplete,
    }
  }

  /** Closes the socket (the kernel unbinds the group) and writes the open interval to the sink. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#flushTimer)
    clearTimeout(this.#retryTimer)
    this.#reader?.close()
    this.#reader = undefined
    this.flush()
    this.#sinkClosed = true
    this.#o.sink.close()
  }
}
