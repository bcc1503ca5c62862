// `cinch agent`: wires a source, the agent loop, the socket, HTTP and the leak GC together, and
// stops them all promptly on SIGTERM (the DaemonSet's rolling update, a node drain).
import { pino, type Logger } from 'pino'
import { hostname } from 'node:os'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Server as HttpServer } from 'node:http'
import { Agent, type SyncReport } from './agent.js'
import { Applier } from './apply/applier.js'
import { adoptionAtStart, commitRecordPath, recordAtStop, removeCommitRecord } from './apply/adopt.js'
import { agentBuild } from './sources/snapshot.js'
import { noteOwnCommits } from '../lib/nft/generation.js'
import { startLeakCollector } from './gc/collector.js'
import { DEFAULT_GC_GRACE_MS, DEFAULT_GC_INTERVAL_MS } from '../lib/state/defaults.js'
import { BRIDGE_NF_SYSCTLS, ensureBridgeNetfilter } from './apply/br-netfilter.js'
import { NftTable } from '../lib/nft/index.js'
import { POLICY_TABLE } from '../lib/state/tables.js'
import { ManifestSource } from './sources/manifests.js'
import { EarlySource } from './sources/early.js'
import type { Source } from './sources/types.js'
import { startSocketServer } from './server/socket.js'
import { readiness, startHttpServer, type AgentStatus } from './server/http.js'
import { createMetrics } from './server/metrics.js'
import { cnpReport } from './cnp/tiered.js'
import { OverlayController } from './overlay/controller.js'
import type { OverlayRunOptions } from './overlay/flags.js'
import { FlowRecorder } from './flows/recorder.js'
import { FlowRing } from './flows/ring.js'
import { fileSink, logSink } from './flows/sink.js'
import { annotationProblems } from './flows/audit.js'
import type { FlowLogOptions } from './flows/options.js'

export interface AgentRunOptions {
  manifests?: string
  once?: boolean
  node?: string
  stateDir: string
  socket: string
  failOpen?: boolean
  /** --max-policy-cost: set elements + rules one policy may add (default compile/cost.ts). */
  maxPolicyCost?: number
  /** --max-pod-policy-cost: what the policies selecting one pod may add up to in one direction. */
  maxPodPolicyCost?: number
  /** --max-node-policy-cost: what the policies selecting the node's local pods may add up to. */
  maxNodePolicyCost?: number
  metricsAddr: string
  cniConf: string
  cniBinDir: string
  cleanup?: boolean
  /** pino level: trace, debug, info (default), warn, error. */
  logLevel?: string
  /** IPAM GC: grace between the two looks at a leak, and the period between runs. */
  gcGraceMs?: number
  gcIntervalMs?: number
  /** Routes to the other nodes' pods and this node's conflist, from the Node objects; unset: none (--no-overlay). */
  overlay?: OverlayRunOptions
  /** Flow records (flows/README.md): the log rules' group and limit, the interval, the sink. */
  flowLogs: FlowLogOptions
  /**
   * Kube source only: save the informers' objects and resourceVersions at a graceful stop, and
   * watch from them at the next start instead of listing (sources/snapshot.ts); off: always list.
   */
  restartSnapshot?: boolean
  /** Binds the restart snapshot: another version of the agent lists. */
  agentVersion?: string
}

/** The restart snapshot's file, beside the attachment records (a hostPath that survives the pod). */
export const restartSnapshotPath = (stateDir: string) => join(stateDir, 'restart-snapshot.json')

async function makeSource(opts: AgentRunOptions, log: Logger, node: string): Promise<Source> {
  const onProblem = (p: { where: string; reason: string }) => log.error(p, 'manifest skipped')
  if (opts.manifests) return new ManifestSource({ dir: opts.manifests, once: opts.once, onProblem })
  // Loaded only in cluster mode: the client is most of the bundle's start-up cost.
  const { KubeSource } = await import('./sources/kube.js')
  // Off: a snapshot an earlier agent left is of no use to anyone, and would only age on disk.
  // Whatever is there (a planted directory) must not stop the agent: it is never read when off.
  if (!opts.restartSnapshot) {
    try {
      rmSync(restartSnapshotPath(opts.stateDir), { force: true })
    } catch (err) {
      log.warn({ path: restartSnapshotPath(opts.stateDir), err: String((err as Error)?.message ?? err) }, 'restart snapshot not removed')
    }
  }
  return new KubeSource({
    onError: (resource, err, retryInMs) => log.warn({ resource, err: String((err as Error)?.message ?? err), retryInMs }, 'watch failed, retrying'),
    // A cluster without the ClusterNetworkPolicy CRD is normal: one line each way, no error loop.
    onAbsent: (resource, absent) => log.info({ resource }, absent ? 'resource not served (CRD not installed); watching for it to appear' : 'resource served again; reading it'),
    ...(opts.restartSnapshot ? {
      restartSnapshot: {
        path: restartSnapshotPath(opts.stateDir), node, agentVersion: agentBuild(opts.agentVersion ?? 'unknown'),
        info: (fields: object, msg: string) => log.info(fields, msg), warn: (fields: object, msg: string) => log.warn(fields, msg),
      },
    } : {}),
  })
}

/** Runs the agent; resolves with the exit code (--once, --cleanup), or 0 once stopped by a signal. */
export async function runAgent(opts: AgentRunOptions): Promise<number> {
  const log = pino({ level: opts.logLevel ?? 'info', base: { component: 'cinch-agent' } })
  const node = opts.node ?? process.env.NODE_NAME ?? hostname()
  // A restart's first apply adopts what the last agent committed when it can prove the kernel
  // holds it (apply/adopt.ts); not for --once or --cleanup, which leave any record alone or remove it.
  const build = agentBuild(opts.agentVersion ?? 'unknown')
  const render = { failOpen: opts.failOpen }
  const prove = opts.cleanup || opts.once ? undefined : adoptionAtStart({ stateDir: opts.stateDir, agentVersion: build, render })
  // Its own commits of other tables (the overlay's masquerade table) must not look like someone else's.
  if (prove) noteOwnCommits()
  const applier = new Applier({ failOpen: opts.failOpen, log: log.child({ part: 'applier' }), ...(prove ? { prove } : {}) })
  if (opts.cleanup) {
    await applier.teardown()
    removeCommitRecord(commitRecordPath(opts.stateDir))
    log.info('removed cinch tables')
    return 0
  }
  // Before any rule: rules the kernel never consults for bridged traffic would be a silent lie.
  try {
    ensureBridgeNetfilter()
  } catch (err) {
    log.fatal({ err }, 'cannot enable br_netfilter; refusing to run')
    throw err
  }
  log.info({ sysctls: Object.fromEntries(BRIDGE_NF_SYSCTLS.map((k) => [k, 1])) }, 'br_netfilter enabled: bridged pod traffic passes the inet hooks')
  // The lists start now: the API server's first pages come while the rest is set up (metrics,
  // HTTP, flow records: tens of ms at a restart that must end within 2 s), not after it.
  const source = new EarlySource(await makeSource(opts, log, node))
  const metrics = createMetrics({ appliedIr: () => applier.applied })
  // The conflist it writes points cinch-bridge at this agent's state directory and socket.
  const overlay = opts.overlay && new OverlayController({ ...opts.overlay, nodeName: node, log: log.child({ part: 'overlay' }), stateDir: opts.stateDir, agentSocket: opts.socket })
  // Records are read whatever --flow-logs says: a namespace can opt in by annotation at any time.
  const ring = new FlowRing()
  const fl = opts.flowLogs
  const recorder = opts.once ? undefined : new FlowRecorder({
    group: fl.group, intervalMs: fl.intervalMs, maxKeys: fl.maxKeys, ring, metrics: metrics.flows, log: log.child({ part: 'flows' }),
    sink: fl.file ? fileSink({ path: fl.file }) : logSink(log),
  })
  const onSynced = (r: SyncReport) => {
    metrics.recordSync(r)
    if (recorder && applier.applied) recorder.setApplied(applier.applied, source.state())
  }
  // --once stops after its first sync: that sync checks every policy, so it reports every invalid one.
  const agent = new Agent({ source, stateDir: opts.stateDir, nodeName: node, log, failOpen: opts.failOpen, maxPolicyCost: opts.maxPolicyCost, maxPodPolicyCost: opts.maxPodPolicyCost, maxNodePolicyCost: opts.maxNodePolicyCost, deferRemotePolicies: !opts.once, flowLogs: fl, applier, overlay, onSynced, onCleanup: (r) => metrics.recordCleanup(r) })

  if (opts.once) {
    const report = await agent.start()
    await agent.stop()
    // Exit 0 only once the rules are in the kernel: read the table back.
    if (report.apply.mode !== 'none' && !(await new NftTable(POLICY_TABLE).listJson())) throw new Error('table inet cinch missing after apply')
    log.info({ localPods: report.localPods.length, invalid: report.invalid.length, failedClosed: report.failedClosed.length }, 'rules in the kernel; exiting (--once)')
    return 0
  }

  const ready = () => readiness(agent.last !== undefined, overlay?.readiness())
  const status = (): AgentStatus => ({
    ...ready(),
    node,
    lastSync: agent.last && { at: agent.last.at.toISOString(), durationMs: agent.last.durationMs, mode: agent.last.apply.mode, reason: agent.last.reason },
    lastError: agent.lastError && { at: agent.lastError.at.toISOString(), message: agent.lastError.message },
    localPods: (agent.last?.localPods ?? []).map(({ namespace, name, ips }) => ({ namespace, name, ips })),
    invalidPolicies: agent.last?.invalid ?? [],
    failedClosed: agent.last?.failedClosed ?? [],
    ...(agent.last ? { nodePolicyCost: agent.last.nodePolicyCost } : {}),
    sourceProblems: [...source.problems(), ...agent.recordProblems],
    clusterNetworkPolicies: (({ warnings, overlaps }) => ({ warnings, overlaps }))(cnpReport(source.state())),
    ...(recorder ? { flowLogs: { ...recorder.status(), clusterWide: fl.clusterWide, problems: annotationProblems(source.state()) } } : {}),
  })
  // From here on SIGTERM/SIGINT stop the agent, whatever has started so far (closers).
  const stop = onStopSignal(log, agent)
  // What the kernel holds from our last commit, for the next start to adopt (apply/adopt.ts).
  stop.add(async () => {
    const r = recordAtStop({ stateDir: opts.stateDir, agentVersion: build, render, committed: applier.committed })
    log.info(r, r.written ? 'commit record written' : 'no commit record: the next start replaces the tables')
  })
  // Serve health before the first sync so /readyz can say "not yet" during a long first list.
  const http = await startHttpServer({ addr: opts.metricsAddr, metrics, status, ready, flows: { ring } })
  stop.add(() => closeHttp(http))
  // Before the first sync: events of the rules a previous agent left are read (unresolved until
  // the first sync builds the id table) rather than dropped by the kernel for want of a reader.
  if (recorder) {
    stop.add(async () => recorder.close())
    await recorder.start()
  }
  // The socket opens only after the first sync: until then cinch-bridge finds nobody listening
  // and does not wait, and its pods are dropped by the fail-closed rule once the table exists.
  await Promise.race([agent.start(), stop.stopped])
  if (stop.isStopping()) return stop.stopped
  const socket = await startSocketServer({ path: opts.socket, log, sync: (reason) => agent.requestSync(reason) })
  stop.add(() => socket.close())
  if (stop.isStopping()) return stop.stopped
  log.info({ node, socket: opts.socket, metrics: opts.metricsAddr }, 'agent ready')

  const gc = startLeakCollector({
    stateDir: opts.stateDir, cniConf: opts.cniConf, cniBinDir: opts.cniBinDir,
    graceMs: opts.gcGraceMs ?? DEFAULT_GC_GRACE_MS, intervalMs: opts.gcIntervalMs ?? DEFAULT_GC_INTERVAL_MS,
    log, onRemoved: () => void agent.requestSync('stale attachments removed').catch(() => {}),
  })
  stop.add(() => gc.stop())
  return stop.stopped
}

/** http.Server.close() waits for keep-alive clients; a stopping agent closes them. */
function closeHttp(http: HttpServer): Promise<void> {
  const closed = new Promise<void>((resolve) => http.close(() => resolve()))
  http.closeAllConnections()
  return closed
}

/** How long closing may take before the agent exits anyway (the DaemonSet's grace is 30 s). */
const STOP_DEADLINE_MS = 2000

/**
 * On the first SIGTERM or SIGINT: run the closers (newest first), stop the agent, resolve
 * `stopped` with 0. A second signal gets Node's default: immediate exit. The rules stay in the
 * kernel: a restarting agent must not open the node. A closer added while stopping runs at once.
 */
function onStopSignal(log: Logger, agent: Agent) {
  const closers: (() => Promise<void>)[] = []
  let stopping = false
  let resolveStopped!: (code: number) => void
  const stopped = new Promise<number>((r) => (resolveStopped = r))
  const shutdown = async (sig: string) => {
    stopping = true
    log.info({ sig }, 'stopping; rules stay in force')
    const t0 = performance.now()
    const all = Promise.allSettled([...closers.reverse().map((c) => c()), agent.stop()])
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), STOP_DEADLINE_MS)))
    const outcome = await Promise.race([all, late])
    clearTimeout(timer)
    if (outcome === 'late') log.warn({ deadlineMs: STOP_DEADLINE_MS }, 'closing took too long; exiting anyway')
    else for (const r of outcome) if (r.status === 'rejected') log.warn({ err: r.reason }, 'closing failed')
    log.info({ ms: Math.round(performance.now() - t0) }, 'stopped')
    resolveStopped(0)
  }
  process.once('SIGTERM', () => void shutdown('SIGTERM'))
  process.once('SIGINT', () => void shutdown('SIGINT'))
  const add = (closer: () => Promise<void>) => {
    if (!stopping) return void closers.push(closer)
    void closer().catch((err) => log.warn({ err }, 'closing failed'))
  }
  return { add, stopped, isStopping: () => stopping }
}
