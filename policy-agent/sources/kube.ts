// The Kubernetes API source: one informer (list, then watch from its resourceVersion) per kind.
// client-node's ListWatch relists by itself on 410 Gone (the watch's resourceVersion expired) and
// reconnects after a watch timeout; on any other error it stops, so we restart it with backoff.
// Must come first: patches Node 20 before the client (and its undici) load.
import * as k8s from '@kubernetes/client-node'
import { emptyClusterState, type ClusterState } from '../model/cluster.js'
import { convertObject, type KubeObject } from './convert.js'
import type { ProblemReport, Source } from './types.js'

export interface KubeSourceOptions {
  /** Defaults to in-cluster config, else KUBECONFIG / ~/.kube/config (loadFromDefault). */
  kubeConfig?: k8s.KubeConfig
  onError?: (resource: string, err: unknown, retryInMs: number) => void
  minBackoffMs?: number
  maxBackoffMs?: number
}

interface Watched {
  path: string
  kind: 'Pod' | 'Namespace' | 'NetworkPolicy' | 'Node'
  list: () => Promise<k8s.KubernetesListObject<k8s.KubernetesObject>>
}

export function loadKubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig()
  // loadFromDefault: KUBECONFIG, then ~/.kube/config, then the in-cluster service account.
  kc.loadFromDefault()
  return kc
}

export class KubeSource implements Source {
  #state: ClusterState = emptyClusterState()
  #informers: k8s.Informer<k8s.KubernetesObject>[] = []
  #timers = new Set<NodeJS.Timeout>()
  #stopped = false
  #problems: ProblemReport[] = []

  constructor(private readonly opts: KubeSourceOptions = {}) {}

  #resources(kc: k8s.KubeConfig): Watched[] {
    const core = kc.makeApiClient(k8s.CoreV1Api)
    const net = kc.makeApiClient(k8s.NetworkingV1Api)
    return [
      { path: '/api/v1/namespaces', kind: 'Namespace', list: () => core.listNamespace() as any },
      { path: '/api/v1/pods', kind: 'Pod', list: () => core.listPodForAllNamespaces() as any },
      { path: '/apis/networking.k8s.io/v1/networkpolicies', kind: 'NetworkPolicy', list: () => net.listNetworkPolicyForAllNamespaces() as any },
      { path: '/api/v1/nodes', kind: 'Node', list: () => core.listNode() as any },
    ]
  }

  #store(kind: Watched['kind'], obj: KubeObject, present: boolean): void {
    let c
    try {
      c = convertObject({ ...obj, kind })
    } catch (err) {
      this.#problems.push({ where: `${kind} ${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`, reason: (err as Error).message })
      return
    }
    if (!c) return
    const map: Map<string, unknown> =
      kind === 'Pod' ? this.#state.pods : kind === 'Namespace' ? this.#state.namespaces : kind === 'NetworkPolicy' ? this.#state.policies : this.#state.nodes
    if (present) map.set(c.key, c.value)
    else map.delete(c.key)
  }

  async start(onChange: () => void): Promise<void> {
    const kc = this.opts.kubeConfig ?? loadKubeConfig()
    let synced = false
    const changed = () => synced && onChange()
    const firstLists = this.#resources(kc).map((r) => {
      let listedOnce = false
      let backoff = this.opts.minBackoffMs ?? 1000
      let resolveListed!: () => void
      const listed = new Promise<void>((res) => (resolveListed = res))
      const informer = k8s.makeInformer(kc, r.path, async () => {
        const list = await r.list()
        backoff = this.opts.minBackoffMs ?? 1000
        // The informer adds the items right after this returns; report the list on the next turn.
        if (!listedOnce) setImmediate(() => ((listedOnce = true), resolveListed()))
        return list
      })
      informer.on('add', (o) => (this.#store(r.kind, o as KubeObject, true), changed()))
      informer.on('update', (o) => (this.#store(r.kind, o as KubeObject, true), changed()))
      informer.on('delete', (o) => (this.#store(r.kind, o as KubeObject, false), changed()))
      informer.on('error', (err) => {
        if (this.#stopped) return
        const wait = backoff
        backoff = Math.min(backoff * 2, this.opts.maxBackoffMs ?? 30000)
        this.opts.onError?.(r.path, err, wait)
        const t = setTimeout(() => {
          this.#timers.delete(t)
          if (!this.#stopped) informer.start().catch(() => {})
        }, wait)
        this.#timers.add(t)
      })
      this.#informers.push(informer)
      informer.start().catch(() => {}) // failures arrive through 'error' and are retried there
      return listed
    })
    // Never act on a half-listed cache: wait until every kind has listed once.
    await Promise.all(firstLists)
    synced = true
  }

  state(): ClusterState {
    return this.#state
  }

  problems(): ProblemReport[] {
    return this.#problems
  }

  async stop(): Promise<void> {
    this.#stopped = true
    for (const t of this.#timers) clearTimeout(t)
    await Promise.all(this.#informers.map((i) => i.stop()))
  }
}
