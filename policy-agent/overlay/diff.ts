// Desired (plan.ts) vs observed (read back from the kernel by apply.ts) -> the operations that make
// the kernel match. Pure. Nothing is remembered between syncs: cinch's routes carry their own
// protocol number and the device is ours by name, so a restarted agent sees exactly what to undo,
// and a node that left the cluster loses its route, neighbour and fdb entry on the next sync.
import type { OverlayPlan, PlannedFdb, PlannedNeighbor, PlannedRoute, VxlanDevice } from './plan.js'

export interface ObservedDevice {
  kind?: string
  vni?: number
  port?: number
  local?: string
  learning?: boolean
  mtu?: number
  mac?: string
  up: boolean
}

export interface ObservedOverlay {
  /** Our device by name, whatever its kind. */
  device?: ObservedDevice
  /** Addresses on the device (CIDR text), link-local ones excluded. */
  addresses: string[]
  /** Routes with cinch's protocol number; `dev` set when they leave through our device. */
  routes: PlannedRoute[]
  neighbors: PlannedNeighbor[]
  fdb: PlannedFdb[]
}

export type OverlayOp =
  | { op: 'delete-device'; name: string }
  | { op: 'create-device'; device: VxlanDevice }
  | { op: 'set-device'; name: string; mtu?: number; mac?: string; up?: true }
  | { op: 'del-route'; route: PlannedRoute }
  | { op: 'del-neigh'; neigh: PlannedNeighbor }
  | { op: 'del-fdb'; fdb: PlannedFdb }
  | { op: 'del-address'; cidr: string }
  | { op: 'add-address'; cidr: string }
  | { op: 'set-fdb'; fdb: PlannedFdb }
  | { op: 'set-neigh'; neigh: PlannedNeighbor }
  | { op: 'add-route'; route: PlannedRoute }

export const routeKey = (r: PlannedRoute): string => `${r.dst} via ${r.gw}${r.dev ? ` dev ${r.dev}` : ''}`
const neighKey = (n: PlannedNeighbor): string => `${n.ip} ${n.mac}`
const fdbKey = (f: PlannedFdb): string => `${f.mac} ${f.dst}`

/** Whether the existing device can be kept: same kind and tunnel parameters (these cannot be
 * changed on a live vxlan device: vxlan_changelink refuses VNI, local, port changes). */
function deviceMatches(want: VxlanDevice, have: ObservedDevice): boolean {
  return have.kind === 'vxlan' && have.vni === want.vni && have.port === want.port &&
    have.local === want.local && have.learning === false
}

function missing<T>(want: T[], have: T[], key: (x: T) => string): T[] {
  const h = new Set(have.map(key))
  return want.filter((x) => !h.has(key(x)))
}

/** The operations, in an order the kernel accepts: device first, deletions, then additions
 * (fdb and neighbour before the routes that need them; the device up before onlink routes). */
export function diffOverlay(plan: OverlayPlan, seen: ObservedOverlay, deviceName: string): OverlayOp[] {
  const ops: OverlayOp[] = []
  const want = plan.device
  let have = seen
  const keep = !!want && !!seen.device && deviceMatches(want, seen.device)
  if (seen.device && !keep) {
    ops.push({ op: 'delete-device', name: deviceName })
    // Deleting a link takes its addresses, neighbours, fdb entries and routes with it.
    have = { device: undefined, addresses: [], neighbors: [], fdb: [], routes: seen.routes.filter((r) => r.dev !== deviceName) }
  }
  if (want) {
    if (!keep) ops.push({ op: 'create-device', device: want })
    const d = keep ? seen.device! : undefined
    const set: Extract<OverlayOp, { op: 'set-device' }> = { op: 'set-device', name: want.name }
    if (d?.mtu !== want.mtu) set.mtu = want.mtu
    if (d?.mac !== want.mac) set.mac = want.mac
    if (!d?.up) set.up = true
    if (set.mtu !== undefined || set.mac || set.up) ops.push(set)
  }
  const wantAddrs = want?.addresses ?? []
  for (const route of missing(have.routes, plan.routes, routeKey)) ops.push({ op: 'del-route', route })
  for (const neigh of missing(have.neighbors, plan.neighbors, neighKey)) {
    if (!plan.neighbors.some((n) => n.ip === neigh.ip)) ops.push({ op: 'del-neigh', neigh }) // else replaced below
  }
  for (const fdb of missing(have.fdb, plan.fdb, fdbKey)) ops.push({ op: 'del-fdb', fdb })
  for (const cidr of have.addresses.filter((a) => !wantAddrs.includes(a))) ops.push({ op: 'del-address', cidr })
  for (const cidr of wantAddrs.filter((a) => !have.addresses.includes(a))) ops.push({ op: 'add-address', cidr })
  for (const fdb of missing(plan.fdb, have.fdb, fdbKey)) ops.push({ op: 'set-fdb', fdb })
  for (const neigh of missing(plan.neighbors, have.neighbors, neighKey)) ops.push({ op: 'set-neigh', neigh })
  for (const route of missing(plan.routes, have.routes, routeKey)) ops.push({ op: 'add-route', route })
  return ops
}
