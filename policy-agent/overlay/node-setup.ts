// Node setup, apart from the routes to other nodes (apply.ts): what this node itself needs before
// it can start pods. Forwarding on, this node's pods masqueraded when they leave the cluster
// (nomasq.ts), and last the conflist (kubelet reports the node Ready only once a CNI config exists,
// so it is written when the rest is in place). The controller calls these around syncOverlay.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { ensureSysctl } from '../../lib/net/index.js'
import type { Node } from '../model/cluster.js'
import { ensureConflistFile, renderConflist, type ConflistOptions } from '../cniconf/index.js'
import { ensureNoMasq } from './nomasq.js'

/**
 * The conflist's cniVersion. 1.0.0, not 1.1.0: the conflist may chain the reference `portmap`,
 * and libcni before v1.2 (containerd 1.7, Debian's 1.1.2) and the reference plugins before v1.4
 * refuse 1.1.0 ("incompatible CNI versions"); our plugins speak every version, so the older one
 * loses nothing but STATUS and GC, which those runtimes never call.
 */
export const CONFLIST_CNI_VERSION = '1.0.0'

/** The sysctls a node that routes pod traffic between its bridge and the overlay needs. */
export const FORWARDING_SYSCTLS = ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding'] as const

/**
 * The conflist the agent writes for its node: cinch's choices on top of the node's facts. ipMasq
 * off (nomasq.ts masquerades from the agent's container), cniVersion CONFLIST_CNI_VERSION. The
 * README's sample is this function's output (cniconf/readme.test.ts).
 */
export function renderNodeConflist(o: Omit<ConflistOptions, 'ipMasq'>): string {
  return renderConflist({ ...o, cniVersion: o.cniVersion ?? CONFLIST_CNI_VERSION, ipMasq: false })
}

/** Pods' packets to other nodes are routed by this node: without forwarding they die here. */
export function ensureForwarding(): void {
  for (const k of FORWARDING_SYSCTLS) ensureSysctl(k, '1')
}

export interface NodeSetupOptions {
  nodes: Node[]
  /** --cluster-cidr; empty: every Node's podCIDRs. */
  clusterCidrs: string[]
  /** This node's pod CIDRs (canonical) and its pods' MTU, from the overlay plan. */
  localPodCIDRs: string[]
  podMtu: number
  cniConfDir?: string
  /** The reference `portmap` is chained when the runtime will find it here. */
  cniBinDir?: string
  stateDir?: string
  agentSocket?: string
  ipamDataDir?: string
  cniVersion?: string
}

/** Masquerade, then the conflist; idempotent. */
export async function ensureNodeSetup(o: NodeSetupOptions): Promise<{ clusterCidrs: string[]; conflistWritten: boolean }> {
  // This node's pods leaving the cluster are masqueraded here, in the agent's container (nft
  // lives there): the conflist leaves cinch-bridge's ipMasq off, so the host needs no nft.
  const cidrs = await ensureNoMasq(o.clusterCidrs, o.nodes, o.localPodCIDRs)
  const conflistWritten = ensureConflistFile({
    dir: o.cniConfDir,
    content: renderNodeConflist({
      podCIDRs: o.localPodCIDRs, mtu: o.podMtu, stateDir: o.stateDir, agentSocket: o.agentSocket, dataDir: o.ipamDataDir, cniVersion: o.cniVersion,
      // A chained plugin the runtime cannot find fails every ADD: chain portmap only when installed.
      portmap: !!o.cniBinDir && existsSync(join(o.cniBinDir, 'portmap')),
    }),
  })
  return { clusterCidrs: [...cidrs[4], ...cidrs[6]], conflistWritten }
}
