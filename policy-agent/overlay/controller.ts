// The agent's one call for everything Node-driven on this node, in the order a node must become
// ready: overlay routes -> masquerade exclusions -> conflist (kubelet reports the node Ready only
// once a CNI config exists, so the conflist is written last, when pods can reach other nodes).
// Skips work when the Nodes did not change since the last successful run; one run at a time.
import type { Logger } from 'pino'
import type { Node } from '../model/cluster.js'
import { syncOverlay, type SyncOverlayResult } from './apply.js'
import { ensureNoMasq } from './nomasq.js'
import type { Backend } from './plan.js'
import { ensureConflistFile, renderConflist } from '../cniconf/index.js'

export interface OverlayControllerOptions {
  nodeName: string
  backend: Backend
  log: Logger
  vni?: number
  port?: number
  /** Default: the MTU of the link holding this node's InternalIP. */
  underlayMtu?: number
  /** --cluster-cidr; empty: every Node's podCIDRs. */
  clusterCidrs?: string[]
  /** --cni-conf-dir (default /etc/cni/net.d); conflist keys passed through. */
  cniConfDir?: string
  stateDir?: string
  agentSocket?: string
}

export class OverlayController {
  #last = ''
  #chain: Promise<unknown> = Promise.resolve()

  constructor(private readonly o: OverlayControllerOptions) {}

  /** Programs the overlay for `nodes`; undefined when nothing changed since the last run. */
  sync(nodes: Iterable<Node>): Promise<SyncOverlayResult | undefined> {
    const list = [...nodes].sort((a, b) => a.name.localeCompare(b.name))
    const run = this.#chain.then(() => this.#run(list))
    this.#chain = run.catch(() => {})
    return run
  }

  async #run(nodes: Node[]): Promise<SyncOverlayResult | undefined> {
    const key = JSON.stringify(nodes.map((n) => [n.name, n.podCIDRs, n.internalIPs]))
    if (key === this.#last) return undefined
    const o = this.o
    const r = await syncOverlay({ nodeName: o.nodeName, nodes, backend: o.backend, vni: o.vni, port: o.port, underlayMtu: o.underlayMtu, log: o.log })
    const cidrs = await ensureNoMasq(o.clusterCidrs ?? [], nodes)
    const wrote = ensureConflistFile({
      dir: o.cniConfDir,
      content: renderConflist({ podCIDRs: r.plan.localPodCIDRs, mtu: r.plan.podMtu, stateDir: o.stateDir, agentSocket: o.agentSocket }),
    })
    o.log.info({ ops: r.ops.length, podMtu: r.plan.podMtu, clusterCidrs: [...cidrs[4], ...cidrs[6]], conflistWritten: wrote, durationMs: Math.round(r.durationMs * 10) / 10 }, 'overlay synced')
    this.#last = key
    return r
  }
}
