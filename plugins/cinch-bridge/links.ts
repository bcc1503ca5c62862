// Kernel-side steps of ADD: the veth pair into the pod, the pod's addresses and routes, the
// bridge port, the gateway on the bridge. Each step that creates something per-pod returns nothing
// to undo beyond the veth itself (deleting it removes its addresses and routes).
import {
  addAddress, bytesToIp, deleteAddress, ensureAddress, ensureRoute, ensureSysctl, getLinkByName, listAddresses,
  setHairpin, setMaster, setUp, withNetnsFd, isErrno, type Link, type Rtnl,
} from '../../lib/net/index.js'
import { cidrContains, formatCidr, formatIp, type Family } from '../../lib/ip/index.js'
import { nextHop, podIpText, type Addressing, type PodIp } from './addressing.js'

export interface PodSide {
  nl: Rtnl
  fd: number
  ifName: string
}

/**
 * Brings the pod's interface up with its addresses and routes. IPv6 is usable when this returns:
 * DAD is off for the interface and each address is added with IFA_F_NODAD, so none is tentative
 * (the reference bridge waits for DAD to settle instead; skipping it is safe on a veth that only
 * the bridge sees, where cinch's IPAM guarantees uniqueness).
 */
export async function configurePod(pod: PodSide, { ips, routes }: Pick<Addressing, 'ips' | 'routes'>): Promise<Link> {
  const link = await getLinkByName(pod.nl, pod.ifName)
  if (!link) throw new Error(`${pod.ifName} missing in the pod's netns right after its creation`)
  if (ips.some((ip) => ip.address.family === 6)) {
    withNetnsFd(pod.fd, () => {
      try {
        ensureSysctl(`net/ipv6/conf/${pod.ifName}/accept_dad`, '0')
      } catch {
        // IPv6 disabled in this netns: the address add below reports it
      }
    })
  }
  await setUp(pod.nl, link.index)
  for (const ip of ips) {
    try {
      await addAddress(pod.nl, { index: link.index, cidr: podIpText(ip), noDad: true })
    } catch (err) {
      throw new Error(`add address ${podIpText(ip)} to ${pod.ifName}`, { cause: err })
    }
  }
  for (const r of routes) {
    const gw = nextHop(r, ips)
    await ensureRoute(pod.nl, { dst: formatCidr(r.dst), gw: gw && formatIp(gw), index: link.index, priority: r.spec.priority, table: r.spec.table })
  }
  return link
}

/** Attaches the host veth to the bridge (hairpin as configured) and brings it up. */
export async function attachToBridge(nl: Rtnl, veth: Link, bridge: Link, hairpin: boolean): Promise<void> {
  await setMaster(nl, veth.index, bridge.index)
  if (hairpin) await setHairpin(nl, veth.index, true)
  await setUp(nl, veth.index)
}

/**
 * Puts gateway `gw` on the bridge. Another address of the same subnet there is an error
 * unless forceAddress, which replaces it (bridge.go ensureAddr).
 */
export async function ensureGatewayAddress(nl: Rtnl, bridge: Link, gw: PodIp, forceAddress: boolean): Promise<void> {
  const want = gw.subnet
  const cidr = podIpText(gw)
  for (const a of await listAddresses(nl, { index: bridge.index, family: want.family })) {
    if (a.text === cidr) return
    if (a.cidr.prefix !== want.prefix || !cidrContains(want, bytesToIp(a.cidr.addr))) continue
    if (!forceAddress) throw new Error(`bridge ${bridge.name} already has address ${a.text}, different from ${cidr} (set forceAddress to replace it)`)
    await deleteAddress(nl, { index: bridge.index, cidr: a.text })
  }
  try {
    await ensureAddress(nl, { index: bridge.index, cidr, noDad: true })
  } catch (err) {
    // Two ADDs racing: the other one added it.
    if (!isErrno((err as Error).cause, 'EEXIST')) throw err
  }
}

/** net.ipv4.ip_forward / net.ipv6.conf.all.forwarding for the families in use (bridge.go enableIPForward). */
export function enableForwarding(families: Set<Family>): void {
  if (families.has(4)) ensureSysctl('net.ipv4.ip_forward', '1')
  if (families.has(6)) ensureSysctl('net.ipv6.conf.all.forwarding', '1')
}
