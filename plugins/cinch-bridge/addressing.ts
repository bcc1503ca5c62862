// What IPAM's result means for the pod and the bridge (bridge.go cmdAdd): gateways calculated
// when IPAM names none, default routes when isDefaultGateway. Pure. The result's text is parsed
// once, here (readAddressing); everything inward works on typed addresses.
import type { CniIpConfig, CniResult, CniRoute } from '../../lib/cni/index.js'
import { KERNEL, firstHost, formatCidr, formatIp, mustParseCidr, parseIp, type Cidr, type Family, type Ip } from '../../lib/ip/index.js'

/** One pod address: "10.244.1.5/24" is address 10.244.1.5 in subnet 10.244.1.0/24. */
export interface PodIp {
  address: Ip
  subnet: Cidr
  gateway?: Ip
}

/** A route for the pod: typed destination and next hop, and the result's own fields kept as given. */
export interface PodRoute {
  dst: Cidr
  gw?: Ip
  spec: CniRoute
}

export interface Addressing {
  /** The pod's addresses, each with its gateway, all on the container interface. */
  ips: PodIp[]
  routes: PodRoute[]
  /** Gateway addresses for the bridge, with the pod subnet's prefix (10.244.1.1 in 10.244.1.0/24). */
  bridgeAddrs: PodIp[]
}

export interface AddressingOpts { isGateway: boolean; isDefaultGateway: boolean }

/** "10.244.1.5/24": the address with its subnet's prefix, as results, netlink and records spell it. */
export const podIpText = (p: PodIp): string => `${formatIp(p.address)}/${p.subnet.prefix}`

function ip(text: string): Ip {
  const parsed = parseIp(text)
  if (!parsed) throw new Error(`not a valid IP address: ${text}`)
  return parsed
}

export function readPodIp(c: CniIpConfig): PodIp {
  const { ip: address, cidr: subnet } = mustParseCidr(c.address, KERNEL)
  return { address, subnet, ...(c.gateway ? { gateway: ip(c.gateway) } : {}) }
}

export function readRoute(r: CniRoute): PodRoute {
  return { dst: mustParseCidr(r.dst, KERNEL).cidr, ...(r.gw ? { gw: ip(r.gw) } : {}), spec: r }
}

/** A result's addresses and routes, typed (lib/cni's parseResult has already checked their syntax). */
export function readAddressing(r: CniResult): { ips: PodIp[]; routes: PodRoute[] } {
  return { ips: (r.ips ?? []).map(readPodIp), routes: (r.routes ?? []).map(readRoute) }
}

export function planAddressing(ipam: { ips: PodIp[]; routes: PodRoute[] }, o: AddressingOpts): Addressing {
  const ips: PodIp[] = []
  const routes = [...ipam.routes]
  const bridgeAddrs: PodIp[] = []
  for (const p of ipam.ips) {
    // bridge.go calcGateways: "if the IPAM didn't give a gateway, use the first address".
    const gateway = p.gateway ?? (o.isGateway ? firstHost(p.subnet) : undefined)
    ips.push({ ...p, ...(gateway ? { gateway } : {}) })
    if (o.isGateway && gateway) {
      const onBridge = { address: gateway, subnet: p.subnet }
      if (!bridgeAddrs.some((b) => podIpText(b) === podIpText(onBridge))) bridgeAddrs.push(onBridge)
    }
    if (o.isDefaultGateway && gateway) {
      const dst: Cidr = { family: p.subnet.family, network: 0n, prefix: 0 }
      if (!routes.some((r) => r.dst.family === dst.family && r.dst.prefix === 0)) {
        routes.push({ dst, gw: gateway, spec: { dst: formatCidr(dst), gw: formatIp(gateway) } })
      }
    }
  }
  return { ips, routes, bridgeAddrs }
}

/** The next hop of `route`: its own gw, else the gateway of the pod address of its family. */
export function nextHop(route: PodRoute, ips: PodIp[]): Ip | undefined {
  return route.gw ?? ips.find((p) => p.address.family === route.dst.family)?.gateway
}

/** The result's `ips`, pointing at the pod's interface (its index in the result's `interfaces`). */
export function resultIps(ips: PodIp[], podIfIndex: number): CniIpConfig[] {
  return ips.map((p) => ({ address: podIpText(p), ...(p.gateway ? { gateway: formatIp(p.gateway) } : {}), interface: podIfIndex }))
}

export const resultRoutes = (routes: PodRoute[]): CniRoute[] => routes.map((r) => r.spec)

export const familiesOf = (ips: PodIp[]): Set<Family> => new Set(ips.map((p) => p.address.family))
