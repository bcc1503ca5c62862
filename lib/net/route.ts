// Routes in the main table: add, list, delete.
import { AF_INET, AF_INET6, NLM_F, isErrno, type Rtnl } from './rtnl.js'
import { formatCidr, ipBytes, ipString, parseCidr } from './ip.js'

const RT_TABLE_MAIN = 254

export interface RouteSpec {
  /** "0.0.0.0/0", "10.96.0.0/12", "::/0" */
  dst: string
  /** Next hop; a route without one is on-link (scope link). */
  gw?: string
  /** Output link. */
  index?: number
  priority?: number
  table?: number
}

export interface Route extends RouteSpec {
  family: 4 | 6
}

function encode(r: RouteSpec) {
  const dst = parseCidr(r.dst)
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
      protocol: 'BOOT' as const, scope: r.gw ? ('UNIVERSE' as const) : ('LINK' as const), type: 'UNICAST' as const,
    },
    attrs,
  }
}

const describe = (r: RouteSpec) => `${r.dst}${r.gw ? ` via ${r.gw}` : ''}${r.index ? ` dev #${r.index}` : ''}`

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

/** Routes of the main table (or `table`), optionally of one family. */
export async function listRoutes(nl: Rtnl, o: { family?: 4 | 6; table?: number } = {}): Promise<Route[]> {
  const msgs = await nl.getRoutes(o.family ? { family: o.family === 4 ? AF_INET : AF_INET6 } : {})
  const want = o.table ?? RT_TABLE_MAIN
  const out: Route[] = []
  for (const m of msgs) {
    const table = m.attrs.table ?? m.data.table
    if (table !== want) continue
    const family = m.data.family === AF_INET ? 4 : 6
    const zero = Buffer.alloc(family === 4 ? 4 : 16)
    out.push({
      family,
      dst: formatCidr({ family, addr: m.attrs.dst ?? zero, prefix: m.data.dstLen ?? 0 }),
      gw: m.attrs.gateway ? ipString(m.attrs.gateway) : undefined,
      index: m.attrs.oif,
      priority: m.attrs.priority,
      table,
    })
  }
  return out
}

/** Deletes a route; false when there was none. */
export async function deleteRoute(nl: Rtnl, r: RouteSpec): Promise<boolean> {
  const { data, attrs } = encode(r)
  try {
    await nl.delRoute({ ...data, scope: 'NOWHERE' }, attrs) // RT_SCOPE_NOWHERE: match any scope
    return true
  } catch (err) {
    if (isErrno(err, 'ESRCH', 'ENODEV')) return false
    throw new Error(`delete route ${describe(r)}`, { cause: err })
  }
}
