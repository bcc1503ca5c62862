// The Kubernetes API source: one reflector (paged list, then watch from its resourceVersion, relist
// on 410 Gone; reflector.ts) per kind, all writing one copy-on-write store (store.ts). Objects are
// fetched raw (kube-http.ts: lists of built-in kinds as protobuf read into their JSON shape, the
// rest as JSON) and converted at arrival by the same code as manifests (convert.ts), so a policy
// reads the same whether it was listed, watched or relisted. With a restart snapshot (snapshot.ts),
// a graceful stop saves the store and each kind's resourceVersion, and the next start watches from
// there instead of listing.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { KubeConfig } from '@kubernetes/client-node'
import type { ClusterState } from '../model/cluster.js'
import type { Kind } from './convert.js'
import { kubeApi, type KubeApi } from './kube-http.js'
import { Reflector } from './reflector.js'
import { decodeSnapshot, snapshotPieces, takeSnapshotFile, writeSnapshotFile, type SnapshotHeader, type SnapshotIdentity, type SnapshotKind } from './snapshot.js'
import { ClusterStore } from './store.js'
import type { EarlyLook, ProblemReport, Source } from './types.js'
import { snapshotLines } from './snapshot-lines.js'

/** Where the restart snapshot goes, what binds it, and who hears about it. */
export interface RestartSnapshotOptions {
  path: string
  node: string
  agentVersion: string
  /** Older snapshots are refused (default 5 min). */
  maxAgeMs?: number
  /** A resumed watch counts as caught up after this long without an event (default 50 ms: the server writes what it missed at once). */
  quietMs?: number
  info: (fields: object, msg: string) => void
  warn: (fields: object, msg: string) => void
}

export interface KubeSourceOptions {
  /** Defaults to KUBECONFIG / ~/.kube/config, else the in-cluster service account (loadFromDefault). */
  kubeConfig?: KubeConfig
  onError?: (resource: string, err: unknown, retryInMs: number) => void
  minBackoffMs?: number
  maxBackoffMs?: number
  /** Items per list page (default 500, as client-go's pager). */
  pageSize?: number
  /** Seconds after which the server ends a watch (default: random in 5-10 min, as client-go). */
  watchTimeoutSeconds?: number
  /** An optional kind's CRD is missing (true) or back (false): logged once each way, not an error. */
  onAbsent?: (resource: string, absent: boolean) => void
  /** Longest wait between two looks for a missing CRD (default 60 s). */
  absentPollMaxMs?: number
  /** Load a snapshot at start if a usable one is there, save one at stop (snapshot.ts). */
  restartSnapshot?: RestartSnapshotOptions
}

/** What the agent reads, and where (RBAC in daemonset/ grants list and watch on exactly these). */
const RESOURCES: { kind: Kind; path: string; optional?: boolean }[] = [
  { kind: 'Namespace', path: '/api/v1/namespaces' },
  { kind: 'Pod', path: '/api/v1/pods' },
  { kind: 'NetworkPolicy', path: '/apis/networking.k8s.io/v1/networkpolicies' },
  { kind: 'Node', path: '/api/v1/nodes' },
  // A CRD (kubernetes-sigs/network-policy-api): a cluster without it is normal, see reflector.ts.
  { kind: 'ClusterNetworkPolicy', path: '/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies', optional: true },
]

export function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig()
  // loadFromDefault: KUBECONFIG, then ~/.kube/config, then the in-cluster service account.
  kc.loadFromDefault()
  return kc
}

/** A snapshot's lines are kept as read only while the file averages at most this per object. */
const MAX_KEPT_BYTES_PER_OBJECT = 2048

export class KubeSource implements Source {
  #store: ClusterStore
  #reflectors = new Map<Kind, Reflector>()
  #identity?: SnapshotIdentity

  constructor(private readonly opts: KubeSourceOptions = {}) {
    // With a restart snapshot, each object's line is made as it arrives: a stop only joins them.
    this.#store = new ClusterStore({ snapshotLines: !!opts.restartSnapshot })
  }

  async start(onChange: () => void, early?: EarlyLook): Promise<void> {
    const kc = this.opts.kubeConfig ?? loadKubeConfig()
    const api: KubeApi = kubeApi(kc)
    const resume = this.#loadSnapshot(kc)
    const snap = this.opts.restartSnapshot
    let synced = false
    const listedKinds = new Set<Kind>()
    let lookedEarly = false
    const listed = RESOURCES.map(({ kind, path, optional }) => new Promise<void>((resolve) => {
      const rv = resume.get(kind)
      const r = new Reflector({
        api, store: this.#store, kind, path,
        onListed: () => (listedKinds.add(kind), resolve()),
        // The last kind still listing is one page from its end: the rest of the cluster is read.
        ...(early ? {
          beforeLastPage: {
            wanted: () => !lookedEarly && listedKinds.size === RESOURCES.length - 1,
            look: (publish: () => boolean) => {
              lookedEarly = true
              if (publish()) early.beforeLastPage()
            },
          },
        } : {}),
        onChange: () => synced && onChange(),
        onError: (err, wait) => this.opts.onError?.(path, err, wait),
        minBackoffMs: this.opts.minBackoffMs ?? 1000,
        maxBackoffMs: this.opts.maxBackoffMs ?? 30_000,
        pageSize: this.opts.pageSize ?? 500,
        watchTimeoutSeconds: () => this.opts.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300),
        ...(rv ? { resume: { resourceVersion: rv, quietMs: snap?.quietMs ?? 50, maxMs: 2000 } } : {}),
        ...(optional ? { optional: { onAbsent: (absent: boolean) => this.opts.onAbsent?.(path, absent), absentPollMaxMs: this.opts.absentPollMaxMs ?? 60_000 } } : {}),
      })
      this.#reflectors.set(kind, r)
      r.start()
    }))
    // Never act on a half-listed cluster: wait until every kind has listed once.
    await Promise.all(listed)
    synced = true
  }

  state(): ClusterState {
    return this.#store.state()
  }

  problems(): ProblemReport[] {
    return this.#store.problems()
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#reflectors.values()].map((r) => r.stop()))
    // Every reflector has stopped: the store and the versions below no longer move.
    if (this.opts.restartSnapshot && this.#identity) this.#saveSnapshot(this.opts.restartSnapshot, this.#identity)
  }

  /** Loads a usable snapshot into the store; the kinds to resume, with their resourceVersions. */
  #loadSnapshot(kc: KubeConfig): Map<Kind, string> {
    const resume = new Map<Kind, string>()
    const o = this.opts.restartSnapshot
    if (!o) return resume
    const t0 = performance.now()
    let headers: SnapshotHeader[]
    let objects = 0
    // Each kind's objects go through the converter, as a list's items (a hostile file is no worse
    // than a hostile API server), into a replace that is swapped in only once the whole file read.
    const replaces: ReturnType<ClusterStore['replace']>[] = []
    try {
      this.#identity = snapshotIdentity(kc, o)
      const buf = takeSnapshotFile(o.path)
      if (buf === undefined) return resume
      headers = decodeSnapshot(buf, this.#identity, Date.now(), o.maxAgeMs ?? 5 * 60_000, (h, total) => {
        const replace = this.#store.replace(h.kind)
        for (const p of h.problems) replace.problem(p)
        replaces.push(replace)
        // The next stop writes each line back as read: it converted to this object (snapshot-lines.ts).
        // Not from a file fatter than its objects should be (a line is ~400 bytes at 30k/30k): a kept
        // line keeps the whole file's text alive, and what convert drops (a tampered file's
        // padding) would be carried to the next snapshot. Its lines are made anew instead.
        const keep = buf.length <= total * MAX_KEPT_BYTES_PER_OBJECT
        return (raw, line, specLine) => (objects++, replace.add(raw, keep ? line : undefined, specLine))
      })
    } catch (err) {
      o.warn({ path: o.path, reason: (err as Error).message }, 'restart snapshot ignored; listing the cluster')
      return resume
    }
    for (const replace of replaces) replace.done()
    for (const h of headers) if (RESOURCES.some((r) => r.kind === h.kind)) resume.set(h.kind, h.resourceVersion)
    o.info({ kinds: [...resume.keys()], objects, ms: Math.round(performance.now() - t0) }, 'restart snapshot loaded; resuming watches')
    return resume
  }

  #saveSnapshot(o: RestartSnapshotOptions, id: SnapshotIdentity): void {
    const t0 = performance.now()
    const kinds: SnapshotKind[] = []
    const problems = this.#store.problems()
    let made = 0
    for (const [kind, r] of this.#reflectors) {
      // '' while a kind lists, relists or is absent: the next start lists it.
      if (!r.resourceVersion) continue
      const { made: madeNow, ...lines } = snapshotLines(kind, this.#store.objects(kind) as Iterable<object>)
      made += madeNow
      kinds.push({ kind, resourceVersion: r.resourceVersion, ...lines, problems: problems.filter((p) => p.where.startsWith(`${kind} `)) })
    }
    const linesAt = performance.now()
    try {
      const bytes = writeSnapshotFile(o.path, snapshotPieces(id, Date.now(), kinds))
      const ms = Math.round(performance.now() - t0)
      // `made`: objects whose line had to be made now (none is expected: snapshot-lines.ts);
      // `linesMs`: the time to gather the lines, the rest is writing them.
      o.info({ path: o.path, kinds: kinds.map((k) => k.kind), bytes, ms, linesMs: Math.round(linesAt - t0), made }, 'restart snapshot written')
    } catch (err) {
      o.warn({ path: o.path, err: String((err as Error)?.message ?? err) }, 'restart snapshot not written; the next start lists')
    }
  }
}

/** The API server, the CA trusted for it, the node and the agent: a snapshot loads only where all match. */
function snapshotIdentity(kc: KubeConfig, o: RestartSnapshotOptions): SnapshotIdentity {
  const cluster = kc.getCurrentCluster()
  if (!cluster) throw new Error('the kubeconfig has no current cluster')
  const ca = cluster.caData ? Buffer.from(cluster.caData, 'base64') : cluster.caFile ? readFileSync(cluster.caFile) : Buffer.alloc(0)
  const hash = createHash('sha256').update(ca).update(cluster.skipTLSVerify ? 'insecure' : 'verify').digest('hex')
  return { server: cluster.server, ca: hash, node: o.node, agentVersion: o.agentVersion }
}
