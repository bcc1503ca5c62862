// The overlay's desired state, computed from the Node objects alone (pure: no I/O, no clock).
//
// VTEPs are DERIVED, never published, so a node needs nothing but the Node objects kubelet and the
// node IPAM controller already maintain (spec.podCIDRs, status.addresses[InternalIP]):
// - VTEP IP of a node, per family: the NETWORK address of its pod CIDR (10.244.2.0, fd00:2::), as
//   flannel does; cinch-ipam starts handing out at network+1 and the bridge gateway is .1, so it
//   never collides. It sits on our vxlan device as a /32 (/128): the node's own traffic to remote
//   pods then leaves with an address the remote node routes back through the overlay.
// - VTEP MAC of a node: 0e:63 + the 4 bytes of its IPv4 underlay address (IPv6: the first 4 bytes
//   of sha256 of the 16 address bytes). 0x0e is a locally administered unicast first octet
//   (IEEE 802: bit 1 set, bit 0 clear); 0x63 is "c". One MAC per node, shared by both families.
// Flannel instead publishes the VTEP MAC as a Node annotation; deriving it needs no write access to
// Nodes and no ordering between agents: a node is reachable as soon as its Node object says where.
import { createHash } from 'node:crypto'
import { isIPv4 } from 'node:net'
import type { Node } from '../model/cluster.js'
import { KERNEL, formatCidr, formatIp, mustParseCidr, parseCidr } from '../../lib/ip/index.js'
import { ipBytes } from '../../lib/net/ip.js'

export type Backend = 'vxlan' | 'host-gw'

/** Defaults. VNI 4096 and port 4789 (IANA, RFC 7348 §5) are Calico's; flannel uses VNI 1 on the
 * Linux pre-IANA port 8472. 4789 is what NIC offloads and firewall rules expect by name. */
export const OVERLAY_DEFAULTS = { deviceName: 'cinch-vxlan', vni: 4096, port: 4789 } as const

/** Encapsulation overhead, RFC 7348 §5: outer IP (20 / 40) + UDP 8 + VXLAN 8 + inner Ethernet 14. */
export const VXLAN_OVERHEAD = { 4: 50, 6: 70 } as const

export interface PlanOptions {
  nodeName: string
  nodes: Iterable<Node>
  backend: Backend
  /** MTU of the underlay link (the one holding this node's InternalIP). */
  underlayMtu: number
  vni?: number
  port?: number
  deviceName?: string
}

export interface VxlanDevice {
  name: string
  vni: number
  port: number
  /** This node's underlay address, the outer source. */
  local: string
  mac: string
  mtu: number
  /** This node's VTEP IPs as CIDRs ("10.244.1.0/32", "fd00:1::/128"). */
  addresses: string[]
}

export interface PlannedRoute {
  /** A remote node's pod CIDR. */
  dst: string
  gw: string
  /** vxlan: our device (with onlink, since the VTEP IP is on no subnet of it); host-gw: unset. */
  dev?: string
}

export interface PlannedNeighbor { ip: string; mac: string }
export interface PlannedFdb { mac: string; dst: string }

export interface OverlayPlan {
  backend: Backend
  /** vxlan only. */
  device?: VxlanDevice
  routes: PlannedRoute[]
  /** On the vxlan device: remote VTEP IP -> remote VTEP MAC. */
  neighbors: PlannedNeighbor[]
  /** On the vxlan device: remote VTEP MAC -> remote underlay address. */
  fdb: PlannedFdb[]
  /** The MTU pods must use: overlay MTU (vxlan) or underlay MTU (host-gw). */
  podMtu: number
  localPodCIDRs: string[]
  /** Nodes or CIDRs left out, with why; the agent logs them. */
  problems: string[]
}

const familyOf = (ip: string): 4 | 6 => (isIPv4(ip) ? 4 : 6)

/** The node's underlay address: its first IPv4 InternalIP, else its first InternalIP. */
export function underlayAddress(node: Node, family?: 4 | 6): string | undefined {
  if (family) return node.internalIPs.find((ip) => familyOf(ip) === family)
  return node.internalIPs.find((ip) => familyOf(ip) === 4) ?? node.internalIPs[0]
}

/** The VTEP MAC derived from an underlay address (see the header). */
export function vtepMac(underlayIp: string): string {
  const b = ipBytes(underlayIp)
  const tail = b.length === 4 ? b : createHash('sha256').update(b).digest().subarray(0, 4)
  return ['0e', '63', ...Array.from(tail, (x) => x.toString(16).padStart(2, '0'))].join(':')
}

/** The VTEP IP of a pod CIDR: its network address. */
export function vtepIp(podCidr: string): string {
  const { cidr } = mustParseCidr(podCidr, KERNEL)
  return formatIp({ family: cidr.family, value: cidr.network })
}

/** A pod CIDR in canonical form (host bits cleared), or undefined when it does not parse. */
function canonicalCidr(cidr: string): string | undefined {
  const p = parseCidr(cidr, KERNEL)
  return p ? formatCidr(p.cidr) : undefined
}

/** Desired overlay state of node `nodeName`; throws when that node has no pod CIDR or address yet. */
export function planOverlay(o: PlanOptions): OverlayPlan {
  const nodes = [...o.nodes].sort((a, b) => a.name.localeCompare(b.name))
  const self = nodes.find((n) => n.name === o.nodeName)
  if (!self) throw new Error(`node ${o.nodeName} is not among the Nodes`)
  const localPodCIDRs = self.podCIDRs.map(canonicalCidr).filter((c): c is string => !!c)
  if (!localPodCIDRs.length) throw new Error(`node ${o.nodeName} has no valid spec.podCIDRs yet`)
  const localIp = underlayAddress(self)
  if (!localIp) throw new Error(`node ${o.nodeName} has no InternalIP in status.addresses`)
  const underFamily = familyOf(localIp)
  const plan: OverlayPlan = {
    backend: o.backend, routes: [], neighbors: [], fdb: [], localPodCIDRs, problems: [],
    podMtu: o.backend === 'vxlan' ? o.underlayMtu - VXLAN_OVERHEAD[underFamily] : o.underlayMtu,
  }
  const name = o.deviceName ?? OVERLAY_DEFAULTS.deviceName
  if (o.backend === 'vxlan') {
    plan.device = {
      name, vni: o.vni ?? OVERLAY_DEFAULTS.vni, port: o.port ?? OVERLAY_DEFAULTS.port,
      local: localIp, mac: vtepMac(localIp), mtu: plan.podMtu,
      addresses: localPodCIDRs.map((c) => `${vtepIp(c)}/${familyOf(vtepIp(c)) === 4 ? 32 : 128}`),
    }
  }
  const seen = new Set(localPodCIDRs)
  for (const node of nodes) {
    if (node.name === o.nodeName) continue
    const cidrs = node.podCIDRs.map((c) => [c, canonicalCidr(c)] as const)
    for (const [raw, c] of cidrs) if (!c) plan.problems.push(`node ${node.name}: podCIDR ${raw} is not a CIDR`)
    const valid = cidrs.map(([, c]) => c).filter((c): c is string => !!c)
    if (!valid.length) continue // not yet assigned by the node IPAM controller: nothing to route
    if (o.backend === 'vxlan') {
      const remote = underlayAddress(node, underFamily)
      if (!remote) {
        plan.problems.push(`node ${node.name}: no IPv${underFamily} InternalIP to tunnel to`)
        continue
      }
      const mac = vtepMac(remote)
      plan.fdb.push({ mac, dst: remote })
      for (const dst of valid) {
        if (seen.has(dst)) { plan.problems.push(`node ${node.name}: podCIDR ${dst} is already routed`); continue }
        seen.add(dst)
        const gw = vtepIp(dst)
        plan.neighbors.push({ ip: gw, mac })
        plan.routes.push({ dst, gw, dev: name })
      }
    } else {
      for (const dst of valid) {
        // host-gw: the next hop must be of the CIDR's family (an IPv4 gateway for an IPv6 route
        // would need RTA_VIA, which we do not use).
        const gw = underlayAddress(node, familyOf(vtepIp(dst)))
        if (!gw) { plan.problems.push(`node ${node.name}: no InternalIP of the family of ${dst}`); continue }
        if (seen.has(dst)) { plan.problems.push(`node ${node.name}: podCIDR ${dst} is already routed`); continue }
        seen.add(dst)
        plan.routes.push({ dst, gw })
      }
    }
  }
  return plan
}
