// syncOverlay: plan (pure) -> observe the kernel -> diff (pure) -> apply the operations through
// lib/net. Idempotent: a second call with the same Nodes reads the kernel and does nothing. The
// caller serialises calls (the agent runs one sync at a time).
import type { Logger } from 'pino'
import {
  closeRtnl, createVxlan, deleteAddress, deleteFdb, deleteLinkByName, deleteNeighbor, deleteRoute, ensureAddress, ensureFdb,
  ensureNeighbor, getLinkByIndex, getLinkByName, getVxlanInfo, ipBytes, listAddresses, listFdb, listNeighbors, listRoutes,
  macBytes, macString, openRtnl, replaceRoute, setDown, setMac, setMtu, setUp, addrIp, type Rtnl,
} from '../../lib/net/index.js'
import { OVERLAY_DEFAULTS, planOverlay, underlayAddress, type OverlayPlan, type PlanOptions } from './plan.js'
import { diffOverlay, type ObservedOverlay, type OverlayOp } from './diff.js'

/**
 * rtm_protocol of every route cinch installs, so the agent recognises its routes without memory
 * (`ip route show proto 193`). Values above RTPROT_STATIC (4) are opaque to the kernel
 * (include/uapi/linux/rtnetlink.h); 193 is free in iproute2's /etc/iproute2/rt_protos (99 would be
 * "openr", 186-192 the routing daemons').
 */
export const CINCH_RTPROT = 193

export interface SyncOverlayOptions extends Omit<PlanOptions, 'underlayMtu'> {
  /** Default: the MTU of the link holding this node's InternalIP. */
  underlayMtu?: number
  /** A socket of the namespace to program; default: one opened (and closed) in the caller's. */
  nl?: Rtnl
  log?: Logger
}

export interface SyncOverlayResult {
  plan: OverlayPlan
  ops: OverlayOp[]
  underlayMtu: number
  observeMs: number
  applyMs: number
  durationMs: number
}

/** The link holding `ip` (this node's InternalIP): the vxlan underlay and its MTU. */
export async function findUnderlay(nl: Rtnl, ip: string): Promise<{ index: number; mtu: number; name: string }> {
  const addr = (await listAddresses(nl)).find((a) => addrIp(a) === ip)
  const link = addr && (await getLinkByIndex(nl, addr.index))
  if (!link?.mtu) throw new Error(`no link holds this node's InternalIP ${ip}`)
  return { index: link.index, mtu: link.mtu, name: link.name }
}

/** Reads what the kernel holds of the overlay: our device, its entries, our routes. */
export async function observeOverlay(nl: Rtnl, deviceName: string): Promise<ObservedOverlay & { index?: number }> {
  const [info, link] = await Promise.all([getVxlanInfo(nl, deviceName), getLinkByName(nl, deviceName)])
  const index = link?.index
  const routes = (await listRoutes(nl, { proto: CINCH_RTPROT })).flatMap((r) => (r.gw ? [{ dst: r.dst, gw: r.gw, ...(index && r.index === index ? { dev: deviceName } : {}) }] : []))
  if (!link || index === undefined) return { addresses: [], routes, neighbors: [], fdb: [] }
  const [addrs, neighbors, fdb] = await Promise.all([listAddresses(nl, { index }), listNeighbors(nl, index), listFdb(nl, index)])
  return {
    index,
    device: { ...info, mtu: link.mtu, mac: link.mac ? macString(link.mac) : undefined, up: link.up },
    addresses: addrs.map((a) => a.text).filter((t) => !t.startsWith('fe80:')),
    routes,
    // Only unicast entries are ours: the kernel adds NOARP entries for multicast destinations.
    neighbors: neighbors.filter((n) => !n.ip.startsWith('ff') && !n.ip.startsWith('224.')),
    fdb: fdb.filter((f): f is { mac: string; dst: string } => !!f.dst && (parseInt(f.mac.slice(0, 2), 16) & 1) === 0),
  }
}

/** Programs this node's overlay from the Node objects; returns the plan, the operations and timing. */
export async function syncOverlay(o: SyncOverlayOptions): Promise<SyncOverlayResult> {
  const t0 = performance.now()
  const nl = o.nl ?? openRtnl()
  try {
    const deviceName = o.deviceName ?? OVERLAY_DEFAULTS.deviceName
    const nodes = [...o.nodes]
    const self = nodes.find((n) => n.name === o.nodeName)
    const localIp = self && underlayAddress(self)
    // vxlan binds to the underlay link; without an explicit MTU we read it there too.
    const underlay = localIp && (o.backend === 'vxlan' || o.underlayMtu === undefined) ? await findUnderlay(nl, localIp) : undefined
    const underlayMtu = o.underlayMtu ?? underlay?.mtu ?? NaN // NaN only when planOverlay throws anyway
    const plan = planOverlay({ ...o, nodes, deviceName, underlayMtu })
    const seen = await observeOverlay(nl, deviceName)
    const t1 = performance.now()
    const ops = diffOverlay(plan, seen, deviceName)
    // One unreachable node must not keep the others unprogrammed: attempt every op, then report.
    let index = seen.index
    const errors: Error[] = []
    for (const op of ops) {
      try {
        index = await applyOp(nl, op, { index, underlayIndex: underlay?.index })
      } catch (err) {
        errors.push(err as Error)
      }
    }
    const t2 = performance.now()
    if (errors.length) {
      throw new AggregateError(errors, `overlay: ${errors.length} of ${ops.length} operations failed: ${errors.map((e) => `${e.message} (${(e.cause as Error)?.message ?? ''})`).join('; ')}`)
    }
    for (const p of plan.problems) o.log?.warn({ problem: p }, 'overlay: node skipped')
    if (ops.length) o.log?.info({ backend: plan.backend, ops: ops.map(describeOp), durationMs: Math.round((t2 - t0) * 10) / 10 }, 'overlay programmed')
    return { plan, ops, underlayMtu, observeMs: t1 - t0, applyMs: t2 - t1, durationMs: t2 - t0 }
  } finally {
    if (!o.nl) closeRtnl(nl)
  }
}

/** Applies one operation; returns the device index (changed by create/delete). */
async function applyOp(nl: Rtnl, op: OverlayOp, ctx: { index?: number; underlayIndex?: number }): Promise<number | undefined> {
  const dev = (): number => {
    if (ctx.index === undefined) throw new Error(`overlay device missing for ${describeOp(op)}`)
    return ctx.index
  }
  switch (op.op) {
    case 'delete-device':
      await deleteLinkByName(nl, op.name)
      return undefined
    case 'create-device': {
      const d = op.device
      const link = await createVxlan(nl, { name: d.name, vni: d.vni, port: d.port, local: ipBytes(d.local), learning: false, link: ctx.underlayIndex, mtu: d.mtu })
      return link.index
    }
    case 'set-device': {
      const link = await getLinkByName(nl, op.name)
      if (!link) throw new Error(`overlay device ${op.name} vanished`)
      if (op.mtu !== undefined) await setMtu(nl, link.index, op.mtu)
      if (op.mac) {
        if (link.up) await setDown(nl, link.index) // not every kernel allows a live MAC change
        await setMac(nl, link.index, macBytes(op.mac))
        if (link.up) await setUp(nl, link.index)
      }
      if (op.up) await setUp(nl, link.index)
      return link.index
    }
    case 'del-route':
      await deleteRoute(nl, { dst: op.route.dst, gw: op.route.gw, index: op.route.dev ? ctx.index : undefined, proto: CINCH_RTPROT })
      break
    case 'add-route':
      await replaceRoute(nl, { dst: op.route.dst, gw: op.route.gw, proto: CINCH_RTPROT, ...(op.route.dev ? { index: dev(), onlink: true } : {}) })
      break
    case 'del-neigh':
      await deleteNeighbor(nl, { index: dev(), ip: op.neigh.ip })
      break
    case 'set-neigh':
      await ensureNeighbor(nl, { index: dev(), ip: op.neigh.ip, mac: op.neigh.mac })
      break
    case 'del-fdb':
      await deleteFdb(nl, { index: dev(), mac: op.fdb.mac, dst: op.fdb.dst })
      break
    case 'set-fdb':
      await ensureFdb(nl, { index: dev(), mac: op.fdb.mac, dst: op.fdb.dst })
      break
    case 'del-address':
      await deleteAddress(nl, { index: dev(), cidr: op.cidr })
      break
    case 'add-address':
      await ensureAddress(nl, { index: dev(), cidr: op.cidr, noDad: true })
      break
  }
  return ctx.index
}

export function describeOp(op: OverlayOp): string {
  switch (op.op) {
    case 'delete-device': return `delete ${op.name}`
    case 'create-device': return `create ${op.device.name} vni ${op.device.vni} local ${op.device.local}`
    case 'set-device': return `set ${op.name}${op.mtu ? ` mtu ${op.mtu}` : ''}${op.mac ? ` mac ${op.mac}` : ''}${op.up ? ' up' : ''}`
    case 'del-route': case 'add-route': return `${op.op} ${op.route.dst} via ${op.route.gw}${op.route.dev ? ` dev ${op.route.dev} onlink` : ''}`
    case 'del-neigh': case 'set-neigh': return `${op.op} ${op.neigh.ip} lladdr ${op.neigh.mac}`
    case 'del-fdb': case 'set-fdb': return `${op.op} ${op.fdb.mac} dst ${op.fdb.dst}`
    case 'del-address': case 'add-address': return `${op.op} ${op.cidr}`
  }
}
