// The agent's one call for everything Node-driven on this node, in the order a node must become
// ready: forwarding -> overlay routes (apply.ts) -> masquerade -> conflist (node-setup.ts; kubelet
// reports the node Ready only once a CNI config exists, so the conflist is written last, when pods
// can reach other nodes). It also keeps the node's readiness (readiness()). Skips work when the Nodes did not change since the last successful run; one run at a time.
//
// Without a Node object for this node (manifest mode with no Nodes, or a node not registered yet)
// there is nothing to program and no pod CIDR to put in a conflist: the controller does nothing,
// and leaves whatever it programmed before (a missing Node is more often a lagging source than a
// deleted node, and deleting routes under running pods would be the worse mistake).
import type { Logger } from 'pino'
import type { Node } from '../model/cluster.js'
import { syncOverlay, type SyncOverlayResult } from './apply.js'
import { ensureForwarding, ensureNodeSetup } from './node-setup.js'
import type { Backend } from './plan.js'

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
  /** --cni-bin-dir: the reference `portmap` is chained when the runtime will find it there. */
  cniBinDir?: string
  stateDir?: string
  agentSocket?: string
  /** cinch-ipam's dataDir (--ipam-data-dir): several nodes on one machine must not share leases. */
  ipamDataDir?: string
  /** cniVersion of the conflist; default CONFLIST_CNI_VERSION. */
  cniVersion?: string
  /** Not ready without a Node object for this node (cluster mode); otherwise the overlay has nothing to say. */
  requireNode?: boolean
}

export { CONFLIST_CNI_VERSION, FORWARDING_SYSCTLS, renderNodeConflist } from './node-setup.js'

/** Why this node cannot start pods yet; `cinch status` and /readyz say it. */
export const NO_POD_CIDR_HINT = 'the cluster must allocate pod CIDRs: kube-controller-manager --allocate-node-cidrs (with --cluster-cidr), kubeadm init --pod-network-cidr'

export interface NodeReadiness {
  /** The conflist is written for this node's pod CIDR(s), routes and masquerade in place. */
  ready: boolean
  reason?: string
}

export class OverlayController {
  #last = ''
  #warnedNoNode = false
  #chain: Promise<unknown> = Promise.resolve()
  #readiness: NodeReadiness = { ready: false, reason: 'no Node objects read yet' }

  constructor(private readonly o: OverlayControllerOptions) {}

  /** Whether this node can start pods: what /readyz needs besides the first policy sync. */
  readiness(): NodeReadiness {
    return this.#readiness
  }

  /** Programs the overlay for `nodes`; undefined when nothing changed or this node has no Node object. */
  sync(nodes: Iterable<Node>): Promise<SyncOverlayResult | undefined> {
    const list = [...nodes].sort((a, b) => a.name.localeCompare(b.name))
    const run = this.#chain.then(() => this.#run(list)).catch((err: Error) => {
      this.#readiness = { ready: false, reason: `node network setup failed: ${err.message}` }
      this.#last = ''
      throw err
    })
    this.#chain = run.catch(() => {})
    return run
  }

  async #run(nodes: Node[]): Promise<SyncOverlayResult | undefined> {
    const o = this.o
    if (!nodes.some((n) => n.name === o.nodeName)) {
      if (!this.#warnedNoNode) o.log.info({ node: o.nodeName, nodes: nodes.length }, 'overlay: no Node object for this node; nothing to program, no conflist written')
      this.#warnedNoNode = true
      // Keep a conflist written earlier working (see the header). Never programmed: in cluster mode
      // this node cannot start pods (a wrong --node?); from manifests, the conflist is the user's.
      if (!this.#readiness.ready) {
        this.#readiness = o.requireNode ? { ready: false, reason: `no Node object named ${o.nodeName} (is --node right?)` } : { ready: true }
      }
      return undefined
    }
    this.#warnedNoNode = false
    const self = nodes.find((n) => n.name === o.nodeName)!
    if (!self.podCIDRs.length) {
      // Nothing to route or write: a conflist without a range cannot start a pod (kubelet keeps
      // the node NotReady until one exists, which is right).
      this.#readiness = { ready: false, reason: `node ${o.nodeName} has no podCIDR: ${NO_POD_CIDR_HINT}` }
      this.#last = ''
      return undefined
    }
    const key = JSON.stringify(nodes.map((n) => [n.name, n.podCIDRs, n.internalIPs]))
    if (key === this.#last) return undefined
    // Node setup (node-setup.ts) around the routes to the other nodes (apply.ts).
    ensureForwarding()
    const r = await syncOverlay({ nodeName: o.nodeName, nodes, backend: o.backend, vni: o.vni, port: o.port, underlayMtu: o.underlayMtu, log: o.log })
    const setup = await ensureNodeSetup({
      nodes, clusterCidrs: o.clusterCidrs ?? [], localPodCIDRs: r.plan.localPodCIDRs, podMtu: r.plan.podMtu,
      cniConfDir: o.cniConfDir, cniBinDir: o.cniBinDir, stateDir: o.stateDir, agentSocket: o.agentSocket, ipamDataDir: o.ipamDataDir, cniVersion: o.cniVersion,
    })
    this.#readiness = { ready: true }
    o.log.info({ ops: r.ops.length, podMtu: r.plan.podMtu, clusterCidrs: setup.clusterCidrs, conflistWritten: setup.conflistWritten, durationMs: Math.round(r.durationMs * 10) / 10 }, 'overlay synced')
    this.#last = key
    return r
  }
}
