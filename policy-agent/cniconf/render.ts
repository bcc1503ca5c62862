// This node's CNI network config list, rendered from its pod CIDR(s) and the overlay MTU. Pure.
// The keys are the reference bridge / host-local plugins' (DESIGN.md), so the same file works with
// `type` switched to `bridge` / `host-local`.
import { isIPv4 } from 'node:net'

export interface ConflistOptions {
  /** spec.podCIDRs of this node: one per family; dual stack gives two cinch-ipam range sets. */
  podCIDRs: string[]
  /** Pod interface MTU: the overlay's (vxlan) or the underlay's (host-gw). */
  mtu: number
  name?: string
  cniVersion?: string
  bridge?: string
  /**
   * cinch-bridge's own masquerade (default false). The agent masquerades its node's pods itself
   * (overlay/nomasq.ts), from its container: with ipMasq the plugin would run `nft` on the host.
   */
  ipMasq?: boolean
  /** Chain the reference `portmap` (hostPort) after cinch-bridge; only when it is installed. */
  portmap?: boolean
  /** cinch-bridge's stateDir / agentSocket and cinch-ipam's dataDir, when not the defaults. */
  stateDir?: string
  agentSocket?: string
  dataDir?: string
}

export const CONFLIST_DEFAULTS = { name: 'cinch', cniVersion: '1.1.0', bridge: 'cinch0', fileName: '10-cinch.conflist' } as const

/** The conflist text (stable key order, trailing newline) so that equal inputs give equal bytes. */
export function renderConflist(o: ConflistOptions): string {
  if (!o.podCIDRs.length) throw new Error('renderConflist: the node has no pod CIDR')
  const v4 = o.podCIDRs.filter((c) => isIPv4(c.split('/')[0]))
  const v6 = o.podCIDRs.filter((c) => !isIPv4(c.split('/')[0]))
  // One range set per family (host-local: each set yields one address), IPv4 first.
  const ranges = [...v4, ...v6].map((subnet) => [{ subnet }])
  const routes = [...(v4.length ? [{ dst: '0.0.0.0/0' }] : []), ...(v6.length ? [{ dst: '::/0' }] : [])]
  const bridge = {
    type: 'cinch-bridge',
    bridge: o.bridge ?? CONFLIST_DEFAULTS.bridge,
    isGateway: true,
    ipMasq: o.ipMasq ?? false,
    hairpinMode: true,
    mtu: o.mtu,
    ...(o.stateDir ? { stateDir: o.stateDir } : {}),
    ...(o.agentSocket ? { agentSocket: o.agentSocket } : {}),
    // The agent wrote this conflist, so pods must wait for it: never run one without its policy.
    policyRequired: true,
    ipam: { type: 'cinch-ipam', ranges, routes, ...(o.dataDir ? { dataDir: o.dataDir } : {}) },
  }
  const conflist = {
    cniVersion: o.cniVersion ?? CONFLIST_DEFAULTS.cniVersion,
    name: o.name ?? CONFLIST_DEFAULTS.name,
    plugins: [bridge, ...(o.portmap ? [{ type: 'portmap', capabilities: { portMappings: true } }] : [])],
  }
  return JSON.stringify(conflist, null, 2) + '\n'
}
