// CHECK (SPEC "CHECK"): the pod's interface, addresses, routes and MAC, the host veth and its bridge
// port, and the masquerade, compared with prevResult. Every difference is listed in the error.
import { closeSync } from 'node:fs'
import { CniError, ErrorCode, type CniResult, type VerbContext } from '../../lib/cni/index.js'
import {
  closeRtnl, getBridgePort, getLinkByIndex, getLinkByName, listAddresses, listRoutes, macString,
  openRtnl, withNetnsFd, type Rtnl,
} from '../../lib/net/index.js'
import { formatCidr, formatIp } from '../../lib/ip/index.js'
import { nextHop, podIpText, readPodIp, readRoute, type PodIp } from './addressing.js'
import { hostVethName, type BridgeConf } from './config.js'
import { ipamCheck } from './ipam.js'
import { NAT_TABLE } from '../../lib/state/tables.js'
import { listMasq, masqueradedIps } from './masq.js'
import { openPodNetns } from './pod-env.js'

export async function check(ctx: VerbContext<BridgeConf>): Promise<void> {
  const { env, config: c } = ctx
  const prev = ctx.conf.prevResult
  if (!prev) throw new CniError(ErrorCode.InvalidConfig, 'CHECK needs prevResult', 'prevResult: is required for CHECK')
  if (c.ipam?.type) await ipamCheck(c.ipam.type, ctx)

  let fd: number
  try {
    fd = openPodNetns(env.netns)
  } catch (err) {
    if (err instanceof CniError) throw err
    throw new CniError(ErrorCode.Internal, `CHECK: netns ${env.netns} cannot be opened`, String((err as Error).message))
  }
  const hnl = openRtnl()
  let pnl: Rtnl | undefined
  try {
    pnl = withNetnsFd(fd, openRtnl)
    const problems = [...(await checkPod(pnl, c, prev, env.ifName, env.netns)), ...(await checkHost(hnl, c, prev, hostVethName(env.containerId, env.ifName)))]
    if (c.ipMasq) problems.push(...(await checkMasquerade(prev, env.ifName)))
    if (problems.length) throw new CniError(ErrorCode.Internal, 'pod network differs from prevResult', problems.join('; '))
  } finally {
    if (pnl) closeRtnl(pnl)
    closeRtnl(hnl)
    closeSync(fd)
  }
}

const sameMac = (a: string | undefined, b: Buffer | undefined) => !a || (b !== undefined && a.toLowerCase() === macString(b))

/** The prevResult addresses that belong to the container interface called ifName. */
function podIps(prev: CniResult, ifName: string): PodIp[] {
  const idx = prev.interfaces?.findIndex((i) => i.name === ifName && i.sandbox) ?? -1
  return (prev.ips ?? []).filter((ip) => ip.interface === undefined || ip.interface === idx).map(readPodIp)
}

async function checkPod(nl: Rtnl, c: BridgeConf, prev: CniResult, ifName: string, netns: string): Promise<string[]> {
  const out: string[] = []
  const want = prev.interfaces?.find((i) => i.name === ifName && i.sandbox)
  if (!want) out.push(`prevResult has no interface ${ifName} with a sandbox`)
  else if (want.sandbox !== netns) out.push(`interface ${ifName} was in sandbox ${want.sandbox}, CHECK is for ${netns}`)
  const link = await getLinkByName(nl, ifName)
  if (!link) return [...out, `interface ${ifName} not found in netns ${netns}`]
  if (link.kind !== 'veth') out.push(`interface ${ifName} is a ${link.kind ?? 'unknown'} device, not a veth`)
  if (!sameMac(want?.mac, link.mac)) out.push(`interface ${ifName} has MAC ${link.mac ? macString(link.mac) : 'none'}, expected ${want?.mac}`)
  if (c.mtu && link.mtu !== c.mtu) out.push(`interface ${ifName} has MTU ${link.mtu}, expected ${c.mtu}`)
  const have = new Set((await listAddresses(nl, { index: link.index })).map((a) => a.text))
  const ips = podIps(prev, ifName)
  for (const ip of ips) {
    const text = podIpText(ip)
    if (!have.has(text)) out.push(`address ${text} missing on ${ifName}`)
  }
  const routes = await listRoutes(nl)
  for (const r of (prev.routes ?? []).map(readRoute)) {
    const dst = formatCidr(r.dst)
    const gw = nextHop(r, ips)
    const gwText = gw ? formatIp(gw) : undefined
    if (!routes.some((k) => k.dst === dst && (!gwText || k.gw === gwText))) out.push(`route ${dst}${gwText ? ` via ${gwText}` : ''} missing in netns ${netns}`)
  }
  return out
}

async function checkHost(nl: Rtnl, c: BridgeConf, prev: CniResult, hostName: string): Promise<string[]> {
  const out: string[] = []
  const bridge = await getLinkByName(nl, c.bridge)
  if (!bridge) return [`bridge ${c.bridge} not found`]
  if (bridge.kind !== 'bridge') out.push(`${c.bridge} is a ${bridge.kind ?? 'unknown'} device, not a bridge`)
  const veth = await getLinkByName(nl, hostName)
  if (!veth) return [...out, `host veth ${hostName} not found`]
  const want = prev.interfaces?.find((i) => i.name === hostName && !i.sandbox)
  if (!sameMac(want?.mac, veth.mac)) out.push(`host veth ${hostName} has MAC ${veth.mac ? macString(veth.mac) : 'none'}, expected ${want?.mac}`)
  if (veth.master !== bridge.index) {
    const m = veth.master ? (await getLinkByIndex(nl, veth.master))?.name : undefined
    out.push(`host veth ${hostName} is ${m ? `a port of ${m}` : 'not a bridge port'}, expected a port of ${c.bridge}`)
  } else if (c.hairpinMode && !(await getBridgePort(nl, veth.index))?.hairpin) {
    out.push(`hairpin mode is off on bridge port ${hostName}`)
  }
  if (!veth.up) out.push(`host veth ${hostName} is down`)
  return out
}

async function checkMasquerade(prev: CniResult, ifName: string): Promise<string[]> {
  const have = masqueradedIps(await listMasq())
  return podIps(prev, ifName)
    .map((ip) => formatIp(ip.address))
    .filter((ip) => !have.has(ip))
    .map((ip) => `no masquerade for ${ip} in table ${NAT_TABLE.family} ${NAT_TABLE.name}`)
}
