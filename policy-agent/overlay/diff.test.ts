import { describe, expect, it } from 'vitest'
import type { Node } from '../model/cluster.js'
import { planOverlay, type OverlayPlan } from './plan.js'
import { diffOverlay, type ObservedOverlay } from './diff.js'

const DEV = 'cinch-vxlan'
const n1: Node = { name: 'n1', podCIDRs: ['10.244.1.0/24'], internalIPs: ['192.168.1.1'] }
const n2: Node = { name: 'n2', podCIDRs: ['10.244.2.0/24'], internalIPs: ['192.168.1.2'] }
const n3: Node = { name: 'n3', podCIDRs: ['10.244.3.0/24'], internalIPs: ['192.168.1.3'] }
const vx = (nodes: Node[]): OverlayPlan => planOverlay({ nodeName: 'n1', nodes, backend: 'vxlan', underlayMtu: 1500 })
const gw = (nodes: Node[]): OverlayPlan => planOverlay({ nodeName: 'n1', nodes, backend: 'host-gw', underlayMtu: 1500 })

/** What the kernel holds once `plan` is fully applied. */
function applied(plan: OverlayPlan): ObservedOverlay {
  const d = plan.device
  return {
    device: d && { kind: 'vxlan', vni: d.vni, port: d.port, local: d.local, learning: false, mtu: d.mtu, mac: d.mac, up: true },
    addresses: d?.addresses ?? [],
    routes: plan.routes,
    neighbors: plan.neighbors,
    fdb: plan.fdb,
  }
}
const empty: ObservedOverlay = { addresses: [], routes: [], neighbors: [], fdb: [] }
const ops = (plan: OverlayPlan, seen: ObservedOverlay) => diffOverlay(plan, seen, DEV).map((o) => o.op)

describe('diffOverlay', () => {
  it('from nothing: create, configure, then fdb, neighbour, route', () => {
    expect(ops(vx([n1, n2]), empty)).toEqual(['create-device', 'set-device', 'add-address', 'set-fdb', 'set-neigh', 'add-route'])
  })

  it('converged: nothing to do', () => {
    expect(ops(vx([n1, n2, n3]), applied(vx([n1, n2, n3])))).toEqual([])
    expect(ops(gw([n1, n2, n3]), applied(gw([n1, n2, n3])))).toEqual([])
  })

  it('a node that leaves loses its route, neighbour and fdb entry', () => {
    const d = diffOverlay(vx([n1, n2]), applied(vx([n1, n2, n3])), DEV)
    expect(d).toEqual([
      { op: 'del-route', route: { dst: '10.244.3.0/24', gw: '10.244.3.0', dev: DEV } },
      { op: 'del-neigh', neigh: { ip: '10.244.3.0', mac: '0e:63:c0:a8:01:03' } },
      { op: 'del-fdb', fdb: { mac: '0e:63:c0:a8:01:03', dst: '192.168.1.3' } },
    ])
  })

  it('a node whose address changes gets a new fdb entry and neighbour MAC; the route stays', () => {
    const moved = { ...n2, internalIPs: ['192.168.1.22'] }
    const d = diffOverlay(vx([n1, moved]), applied(vx([n1, n2])), DEV)
    expect(d).toEqual([
      { op: 'del-fdb', fdb: { mac: '0e:63:c0:a8:01:02', dst: '192.168.1.2' } },
      { op: 'set-fdb', fdb: { mac: '0e:63:c0:a8:01:16', dst: '192.168.1.22' } },
      { op: 'set-neigh', neigh: { ip: '10.244.2.0', mac: '0e:63:c0:a8:01:16' } },
    ])
  })

  it('a node whose pod CIDR changes is rerouted', () => {
    const d = ops(vx([n1, { ...n2, podCIDRs: ['10.244.9.0/24'] }]), applied(vx([n1, n2])))
    expect(d).toEqual(['del-route', 'del-neigh', 'set-neigh', 'add-route'])
  })

  it('host-gw: an address change replaces the route', () => {
    const d = diffOverlay(gw([n1, { ...n2, internalIPs: ['192.168.1.22'] }]), applied(gw([n1, n2])), DEV)
    expect(d).toEqual([
      { op: 'del-route', route: { dst: '10.244.2.0/24', gw: '192.168.1.2' } },
      { op: 'add-route', route: { dst: '10.244.2.0/24', gw: '192.168.1.22' } },
    ])
  })

  it('vxlan -> host-gw: the device goes (taking its entries), routes via the node addresses come', () => {
    expect(ops(gw([n1, n2]), applied(vx([n1, n2])))).toEqual(['delete-device', 'add-route'])
  })

  it('host-gw -> vxlan: our direct routes go, the device comes', () => {
    expect(ops(vx([n1, n2]), applied(gw([n1, n2])))).toEqual(['create-device', 'set-device', 'del-route', 'add-address', 'set-fdb', 'set-neigh', 'add-route'])
  })

  it('a device with other tunnel parameters (VNI, learning on, another kind) is recreated', () => {
    const plan = vx([n1, n2])
    for (const change of [{ vni: 1 }, { learning: true }, { kind: 'bridge' }, { local: '192.168.1.9' }, { port: 8472 }]) {
      const seen = applied(plan)
      seen.device = { ...seen.device!, ...change }
      expect(ops(plan, seen)).toEqual(['delete-device', 'create-device', 'set-device', 'add-address', 'set-fdb', 'set-neigh', 'add-route'])
    }
  })

  it('a wrong MTU, MAC or down state is fixed in place', () => {
    const plan = vx([n1, n2])
    const seen = applied(plan)
    seen.device = { ...seen.device!, mtu: 1500, mac: '02:00:00:00:00:01', up: false }
    expect(diffOverlay(plan, seen, DEV)).toEqual([{ op: 'set-device', name: DEV, mtu: 1450, mac: '0e:63:c0:a8:01:01', up: true }])
  })

  it('stray entries on our device and stray addresses are removed', () => {
    const plan = vx([n1, n2])
    const seen = applied(plan)
    seen.neighbors = [...seen.neighbors, { ip: '10.244.7.0', mac: '0e:63:00:00:00:07' }]
    seen.addresses = [...seen.addresses, '10.244.7.0/32']
    expect(ops(plan, seen)).toEqual(['del-neigh', 'del-address'])
  })
})
