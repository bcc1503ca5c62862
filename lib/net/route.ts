// Routes in the main table (or another): add, replace, list, delete. A caller may stamp its routes
// with its own rtm_protocol (`proto`) so that it finds them again without memory, and may mark the
// gateway on-link (`onlink`), as `ip route ... proto N onlink` does.
import { AF_INET, AF_INET6, NLM_F, isErrno, type Rtnl } from './rtnl.js'
import { formatCidrBytes, ipBytes, ipString, parseCidrBytes } from './ip.js'

const RT_TABLE_MAIN = 254
/** include/uapi/linux/rtnetlink.h: what `ip route add` stamps when no `proto` is given. */
export const RTPROT_BOOT = 3
/** rtm_flags, include/uapi/linux/rtnetlink.h: the gateway is on the link, whatever its subnets. */
const RTNH_F_ONLINK = 4

export interface RouteSpec {
  /** "0.0.0.0/0", "10.96.0.0/12", "::/0" */
  dst: string
  /** Next hop; a route without one is on-link (scope link). */
  gw?: string
  /** Output link; required with `onlink`. */
  index?: number
  priority?: number
  table?: number
  /**
   * rtm_protocol (default RTPROT_BOOT). Values above RTPROT_STATIC (4) are opaque to the kernel,
   * which matches them on delete: a daemon stamps its routes with its own number to recognise them.
   */
  proto?: number
  /** RTNH_F_ONLINK: use `gw` as next hop on link `index` even though no subnet of the link covers it. */
  onlink?: boolean
}

export interface Route extends RouteSpec {
  family: 4 | 6
  proto: number
  onlink: boolean
}

function encode(r: RouteSpec) {
  const dst = parseCidrBytes(r.dst)
  const family = dst.family === 4 ? AF_INET : AF_INET6
  const attrs: Parameters<Rtnl['newRoute']>[1] = {}
  if (dst.prefix > 0) attrs.dst = dst.addr
  if (r.gw) attrs.gateway = ipBytes(r.gw)
  if (r.index) attrs.oif = r.index
  if (r.priority !== undefined) attrs.priority = r.priority
  const table = r.table ?? RT_TABLE_MAIN
  if (table > 255) attrs.table = table
  return {
    data: {
      family, dstLen: dst.prefix, table: table > 255 ? 0 : table,
      // The package types the field as its enum; the kernel takes any u8.
      protocol: (r.proto ?? 'BOOT') as 'BOOT',
      scope: r.gw ? ('UNIVERSE' as const) : ('LINK' as const), type: 'UNICAST' as const,
      flags: r.onlink ? { __unknown: RTNH_F_ONLINK } : {},
    },
    attrs,
  }
}

const describe = (r: RouteSpec) =>
  `${r.dst}${r.gw ? ` via ${r.gw}` : ''}${r.index ? ` dev #${r.index}` : ''}${r.onlink ? ' onlink' : ''}${r.proto !== undefined ? ` proto ${r.proto}` : ''}`

/** Adds a route; EEXIST is the kernel's error (see ensureRoute). */
export async function addRoute(nl: Rtnl, r: RouteSpec): Promise<void> {
  const { data, attrs } = encode(r)
  try {
    await nl.newRoute(data, attrs, { flags: NLM_F.CREATE | NLM_F.EXCL })
  } catch (err) {
    throw new Error(`add route ${describe(r)}`, { cause: err })
  }
}

/** Adds a route unless an identical one exists. */
export async function ensureRoute(nl: Rtnl, r: RouteSpec): Promise<void> {
  try {
    await addRoute(nl, r)
  } catch (err) {
    if (isErrno((err as Error).cause, 'EEXIST')) return
    throw err
  }
}

/** `ip route replace`: creates the route or takes the prefix over (same table, metric and tos). */
export async function replaceRoute(nl: Rtnl, r: RouteSpec): Promise<void> {
  const { data, attrs } = encode(r)
  try {
    await nl.newRoute(data, attrs, { flags: NLM_F.CREATE | NLM_F.REPLACE })
  } catch (err) {
    throw new Error(`replace route ${describe(r)}`, { cause: err })
  }
}

// The netlink package parses rtm_protocol into its enum's name when it knows the value.
const PROTO_NAMES: Record<string, number> = { UNSPEC: 0, REDIRECT: 1, KERNEL: 2, BOOT: 3, STATIC: 4 }
function protocolNumber(p: unknown): number {
  return typeof p === 'number' ? p : (PROTO_NAMES[String(p)] ?? Number(p))
}

/** Routes of the main table (or `table`), optionally of one family and one rtm_protocol. */
export async function listRoutes(nl: Rtnl, o: { family?: 4 | 6; table?: number; proto?: number } = {}): Promise<Route[]> {
  // One dump per family, never AF_UNSPEC: the netlink package wants a whole dump in one datagram
  // (netlink.js emitMessage: "Multipart message not terminated properly"), and both families'
  // tables together (local table included) overflow one on a node with a few dozen routes.
  const msgs = []
  for (const f of o.family ? [o.family] : ([4, 6] as const)) msgs.push(...(await nl.getRoutes({ family: f === 4 ? AF_INET : AF_INET6 })))
  const want = o.table ?? RT_TABLE_MAIN
  const out: Route[] = []
  for (const m of msgs) {
    const table = m.attrs.table ?? m.data.table
    if (table !== want) continue
    const proto = protocolNumber(m.data.protocol)
    if (o.proto !== undefined && proto !== o.proto) continue
    const family = m.data.family === AF_INET ? 4 : 6
    const zero = Buffer.alloc(family === 4 ? 4 : 16)
    out.push({
      family,
      dst: formatCidrBytes({ family, addr: m.attrs.dst ?? zero, prefix: m.data.dstLen ?? 0 }),
      gw: m.attrs.gateway ? ipString(m.attrs.gateway) : undefined,
      index: m.attrs.oif,
      priority: m.attrs.priority,
      table,
      proto,
      onlink: ((m.data.flags?.__unknown ?? 0) & RTNH_F_ONLINK) !== 0,
    })
  }
  return out
}

/** Deletes a route (of protocol `proto`, default RTPROT_BOOT: the kernel matches it); false when there was none. */
export async function deleteRoute(nl: Rtnl, r: RouteSpec): Promise<boolean> {
  const { data, attrs } = encode(r)
  try {
    await nl.delRoute({ ...data, scope: 'NOWHERE', flags: {} }, attrs) // RT_SCOPE_NOWHERE: match any scope
    return true
  } catch (err) {
    if (isErrno(err, 'ESRCH', 'ENODEV')) return false
    throw new Error(`delete route ${describe(r)}`, { cause: err })
  }
}
