// Netlink calls the overlay needs and lib/net lacks. TODO(#4): move into lib/net (route.ts, neigh.ts,
// link.ts) and import from there; they use only the Rtnl socket lib/net hands out, never `netlink`:
// - routes with our own protocol number and RTNH_F_ONLINK (lib/net's routes are fixed to proto boot
//   and cannot be onlink), listed with their protocol and flags;
// - the neighbours of one link;
// - a vxlan device's tunnel parameters (IFLA_INFO_DATA parsed).
import { AF_INET, AF_INET6, NLM_F, isErrno, type Rtnl } from '../../lib/net/rtnl.js'
import { formatCidr, ipBytes, ipString, macString, parseCidr } from '../../lib/net/ip.js'
import { parseAttrs } from '../../lib/net/tlv.js'

/**
 * rtm_protocol of every route cinch installs, so the agent recognises its routes without memory
 * (`ip route show proto 193`). Values above RTPROT_STATIC (4) are opaque to the kernel
 * (include/uapi/linux/rtnetlink.h); 193 is free in iproute2's /etc/iproute2/rt_protos (99 would be
 * "openr", 186-192 the routing daemons').
 */
export const CINCH_RTPROT = 193
const RTNH_F_ONLINK = 4 // rtm_flags, include/uapi/linux/rtnetlink.h: the gateway is on the link
const RT_TABLE_MAIN = 254

export interface ProtoRoute {
  dst: string
  gw: string
  /** Output link; required with onlink. */
  index?: number
  onlink?: boolean
}

function encode(r: ProtoRoute) {
  const dst = parseCidr(r.dst)
  const attrs: Parameters<Rtnl['newRoute']>[1] = { gateway: ipBytes(r.gw) }
  if (dst.prefix > 0) attrs.dst = dst.addr
  if (r.index) attrs.oif = r.index
  return {
    data: {
      family: dst.family === 4 ? AF_INET : AF_INET6, dstLen: dst.prefix, table: RT_TABLE_MAIN,
      protocol: CINCH_RTPROT as never, scope: 'UNIVERSE' as const, type: 'UNICAST' as const,
      flags: r.onlink ? { __unknown: RTNH_F_ONLINK } : {},
    },
    attrs,
  }
}

const describe = (r: ProtoRoute) => `${r.dst} via ${r.gw}${r.index ? ` dev #${r.index}` : ''}${r.onlink ? ' onlink' : ''}`

/** `ip route replace <dst> via <gw> [dev X onlink] proto 193`: idempotent, and takes over the prefix. */
export async function replaceProtoRoute(nl: Rtnl, r: ProtoRoute): Promise<void> {
  const { data, attrs } = encode(r)
  try {
    await nl.newRoute(data, attrs, { flags: NLM_F.CREATE | NLM_F.REPLACE })
  } catch (err) {
    throw new Error(`replace route ${describe(r)}`, { cause: err })
  }
}

/** Deletes one of OUR routes (the kernel matches rtm_protocol too); false when there was none. */
export async function deleteProtoRoute(nl: Rtnl, r: ProtoRoute): Promise<boolean> {
  const { data, attrs } = encode(r)
  try {
    await nl.delRoute({ ...data, scope: 'NOWHERE', flags: {} }, attrs)
    return true
  } catch (err) {
    if (isErrno(err, 'ESRCH', 'ENODEV')) return false
    throw new Error(`delete route ${describe(r)}`, { cause: err })
  }
}

/** Routes of the main table installed with CINCH_RTPROT, both families. */
export async function listProtoRoutes(nl: Rtnl): Promise<(ProtoRoute & { family: 4 | 6 })[]> {
  const out: (ProtoRoute & { family: 4 | 6 })[] = []
  for (const family of [AF_INET, AF_INET6]) {
    for (const m of await nl.getRoutes({ family })) {
      if (Number(protocolNumber(m.data.protocol)) !== CINCH_RTPROT) continue
      if ((m.attrs.table ?? m.data.table) !== RT_TABLE_MAIN || !m.attrs.gateway) continue
      const f = family === AF_INET ? 4 : 6
      out.push({
        family: f,
        dst: formatCidr({ family: f, addr: m.attrs.dst ?? Buffer.alloc(f === 4 ? 4 : 16), prefix: m.data.dstLen ?? 0 }),
        gw: ipString(m.attrs.gateway),
        index: m.attrs.oif,
        onlink: ((m.data.flags?.__unknown ?? 0) & RTNH_F_ONLINK) !== 0,
      })
    }
  }
  return out
}

// The netlink package parses rtm_protocol into its enum's name when it knows the value.
const PROTO_NAMES: Record<string, number> = { REDIRECT: 1, KERNEL: 2, BOOT: 3, STATIC: 4 }
function protocolNumber(p: unknown): number {
  return typeof p === 'number' ? p : (PROTO_NAMES[String(p)] ?? Number(p))
}

/** Neighbour entries (IPv4 and IPv6) of link `index`. */
export async function listNeighbors(nl: Rtnl, index: number): Promise<{ ip: string; mac: string }[]> {
  const out: { ip: string; mac: string }[] = []
  for (const family of [AF_INET, AF_INET6]) {
    for (const m of await nl.getNeighbors({ family })) {
      if (m.data.ifindex !== index || !m.attrs.dst || !m.attrs.lladdr) continue
      out.push({ ip: ipString(m.attrs.dst), mac: macString(m.attrs.lladdr) })
    }
  }
  return out
}

export interface VxlanInfo { kind?: string; vni?: number; port?: number; local?: string; learning?: boolean }

// include/uapi/linux/if_link.h IFLA_VXLAN_*
const VX = { ID: 1, LOCAL: 4, LEARNING: 7, PORT: 15, LOCAL6: 17 } as const

/** Kind and vxlan parameters of link `name` (undefined when absent), as `ip -d link show` prints. */
export async function getVxlanInfo(nl: Rtnl, name: string): Promise<VxlanInfo | undefined> {
  let msgs
  try {
    msgs = await nl.getLink({}, { ifname: name })
  } catch (err) {
    if (isErrno(err, 'ENODEV')) return undefined
    throw new Error(`get link ${name}`, { cause: err })
  }
  const info = msgs[0]?.attrs.linkinfo
  if (!info) return msgs[0] ? {} : undefined
  const top = parseAttrs(info)
  const kind = top.get(1)?.toString('utf8').replace(/\0.*$/s, '')
  const data = top.get(2)
  if (kind !== 'vxlan' || !data) return { kind }
  const a = parseAttrs(data)
  const local = a.get(VX.LOCAL) ?? a.get(VX.LOCAL6)
  return {
    kind,
    vni: a.get(VX.ID)?.readUInt32LE(0),
    port: a.get(VX.PORT)?.readUInt16BE(0),
    local: local ? ipString(local) : undefined,
    learning: a.get(VX.LEARNING) ? a.get(VX.LEARNING)![0] === 1 : undefined,
  }
}
