// The Kubernetes API source: one reflector (paged list, then watch from its resourceVersion, relist
// on 410 Gone; reflector.ts) per kind, all writing one copy-on-write store (store.ts). Objects are
// fetched raw (kube-http.ts: lists of built-in kinds as protobuf read into their JSON shape, the
// rest as JSON) and converted at arrival by the same code as manifests (convert.ts), so a policy
// reads the same whether it was listed, watched or relisted.
import { KubeConfig } from '@kubernetes/client-node'
import type { ClusterState } from '../model/cluster.js'
import type { Kind } from './convert.js'
import { kubeApi, type KubeApi } from './kube-http.js'
import { Reflector } from './reflector.js'
import { ClusterStore } from './store.js'
import type { ProblemReport, Source } from './types.js'

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

export class KubeSource implements Source {
  #store = new ClusterStore()
  #reflectors: Reflector[] = []

  constructor(private readonly opts: KubeSourceOptions = {}) {}

  async start(onChange: () => void): Promise<void> {
    const api: KubeApi = kubeApi(this.opts.kubeConfig ?? loadKubeConfig())
    let synced = false
    const listed = RESOURCES.map(({ kind, path, optional }) => new Promise<void>((resolve) => {
      const r = new Reflector({
        api, store: this.#store, kind, path,
        onListed: resolve,
        onChange: () => synced && onChange(),
        onError: (err, wait) => this.opts.onError?.(path, err, wait),
        minBackoffMs: this.opts.minBackoffMs ?? 1000,
        maxBackoffMs: this.opts.maxBackoffMs ?? 30_000,
        pageSize: this.opts.pageSize ?? 500,
        watchTimeoutSeconds: () => this.opts.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300),
        ...(optional ? { optional: { onAbsent: (absent: boolean) => this.opts.onAbsent?.(path, absent), absentPollMaxMs: this.opts.absentPollMaxMs ?? 60_000 } } : {}),
      })
      this.#reflectors.push(r)
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
    await Promise.all(this.#reflectors.map((r) => r.stop()))
  }
}
