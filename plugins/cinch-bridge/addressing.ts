// What IPAM's result means for the pod and the bridge (bridge.go cmdAdd): gateways calculated
// when IPAM names none, default routes when isDefaultGateway. Pure.
import type { CniIpConfig, CniResult, CniRoute } from '../../lib/cni/index.js'
import { KERNEL, firstHost, formatIp, mustParseCidr } from '../../lib/ip/index.js'

export interface Addressing {
  /** The pod's addresses, each with its gateway, all on the container interface. */
  ips: CniIpConfig[]
  routes: CniRoute[]
  /** Gateway addresses for the bridge, with the pod subnet's prefix ("10.244.1.1/24"). */
  bridgeAddrs: string[]
}

export interface AddressingOpts { isGateway: boolean; isDefaultGateway: boolean; containerIfIndex: number }

export function planAddressing(ipam: CniResult, o: AddressingOpts): Addressing {
  const ips: CniIpConfig[] = []
  const routes: CniRoute[] = [...(ipam.routes ?? [])]
  const bridgeAddrs: string[] = []
  for (const ip of ipam.ips ?? []) {
    const c = mustParseCidr(ip.address, KERNEL).cidr
    // bridge.go calcGateways: "if the IPAM didn't give a gateway, use the first address".
    const gateway = ip.gateway ?? (o.isGateway ? formatIp(firstHost(c)) : undefined)
    ips.push({ address: ip.address, ...(gateway ? { gateway } : {}), interface: o.containerIfIndex })
    if (o.isGateway && gateway) {
      const gw = `${gateway}/${c.prefix}`
      if (!bridgeAddrs.includes(gw)) bridgeAddrs.push(gw)
    }
    if (o.isDefaultGateway && gateway) {
      const dst = c.family === 4 ? '0.0.0.0/0' : '::/0'
      if (!routes.some((r) => r.dst === dst)) routes.push({ dst, gw: gateway })
    }
  }
  return { ips, routes, bridgeAddrs }
}

/** The next hop of `route`: its own gw, else the gateway of the pod address of its family. */
export function nextHop(route: CniRoute, ips: CniIpConfig[]): string | undefined {
  if (route.gw) return route.gw
  const fam = mustParseCidr(route.dst, KERNEL).ip.family
  return ips.find((ip) => mustParseCidr(ip.address, KERNEL).ip.family === fam)?.gateway
}
