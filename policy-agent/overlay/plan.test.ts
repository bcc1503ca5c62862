import { describe, expect, it } from 'vitest'
import type { Node } from '../model/cluster.js'
import { planOverlay, vtepIp, vtepMac } from './plan.js'

const n1: Node = { name: 'n1', podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'], internalIPs: ['192.168.1.1', 'fd00:1::1'] }
const n2: Node = { name: 'n2', podCIDRs: ['10.244.2.0/24', 'fd00:10:244:2::/64'], internalIPs: ['192.168.1.2', 'fd00:1::2'] }
const n3: Node = { name: 'n3', podCIDRs: ['10.244.3.0/24'], internalIPs: ['192.168.1.3'] }

describe('VTEP derivation', () => {
  it.each([
    ['IPv4 underlay: the address bytes', '192.168.1.2', '0e:63:c0:a8:01:02'],
    ['another IPv4 address', '10.0.0.255', '0e:63:0a:00:00:ff'],
  ])('%s', (_, ip, mac) => expect(vtepMac(ip)).toBe(mac))

  it('IPv6 underlay: a stable hash, locally administered unicast, distinct per address', () => {
    const a = vtepMac('fd00:1::1')
    expect(a).toMatch(/^0e:63(:[0-9a-f]{2}){4}$/)
    expect(vtepMac('fd00:1::1')).toBe(a)
    expect(vtepMac('fd00:1::2')).not.toBe(a)
  })

  it.each([
    ['10.244.2.0/24', '10.244.2.0'],
    ['10.244.2.77/24', '10.244.2.0'],
    ['fd00:10:244:2::/64', 'fd00:10:244:2::'],
  ])('VTEP IP of %s is the network address %s', (cidr, ip) => expect(vtepIp(cidr)).toBe(ip))
})

describe('planOverlay', () => {
  it('vxlan, dual stack: device, one route + neighbour per remote CIDR, one fdb entry per node', () => {
    const p = planOverlay({ nodeName: 'n1', nodes: [n3, n2, n1], backend: 'vxlan', underlayMtu: 1500 })
    expect(p.device).toEqual({
      name: 'cinch-vxlan', vni: 4096, port: 4789, local: '192.168.1.1', mac: '0e:63:c0:a8:01:01', mtu: 1450,
      addresses: ['10.244.1.0/32', 'fd00:10:244:1::/128'],
    })
    expect(p.podMtu).toBe(1450)
    expect(p.routes).toEqual([
      { dst: '10.244.2.0/24', gw: '10.244.2.0', dev: 'cinch-vxlan' },
      { dst: 'fd00:10:244:2::/64', gw: 'fd00:10:244:2::', dev: 'cinch-vxlan' },
      { dst: '10.244.3.0/24', gw: '10.244.3.0', dev: 'cinch-vxlan' },
    ])
    expect(p.neighbors).toEqual([
      { ip: '10.244.2.0', mac: '0e:63:c0:a8:01:02' },
      { ip: 'fd00:10:244:2::', mac: '0e:63:c0:a8:01:02' },
      { ip: '10.244.3.0', mac: '0e:63:c0:a8:01:03' },
    ])
    expect(p.fdb).toEqual([
      { mac: '0e:63:c0:a8:01:02', dst: '192.168.1.2' },
      { mac: '0e:63:c0:a8:01:03', dst: '192.168.1.3' },
    ])
    expect(p.problems).toEqual([])
  })

  it('vxlan over an IPv6 underlay costs 70 bytes (RFC 7348: 40-byte outer header)', () => {
    const v6 = (n: Node): Node => ({ ...n, internalIPs: n.internalIPs.filter((i) => i.includes(':')) })
    const p = planOverlay({ nodeName: 'n1', nodes: [v6(n1), v6(n2)], backend: 'vxlan', underlayMtu: 9000, vni: 7, port: 8472 })
    expect(p.device).toMatchObject({ local: 'fd00:1::1', mtu: 8930, vni: 7, port: 8472 })
    expect(p.fdb).toEqual([{ mac: vtepMac('fd00:1::2'), dst: 'fd00:1::2' }])
  })

  it('host-gw: routes via the node address of the same family, no device, underlay MTU', () => {
    const p = planOverlay({ nodeName: 'n1', nodes: [n1, n2, n3], backend: 'host-gw', underlayMtu: 1500 })
    expect(p.device).toBeUndefined()
    expect(p.podMtu).toBe(1500)
    expect(p.routes).toEqual([
      { dst: '10.244.2.0/24', gw: '192.168.1.2' },
      { dst: 'fd00:10:244:2::/64', gw: 'fd00:1::2' },
      { dst: '10.244.3.0/24', gw: '192.168.1.3' },
    ])
    expect(p.neighbors).toEqual([])
    expect(p.fdb).toEqual([])
  })

  it('host-gw: an IPv6 pod CIDR on a node without an IPv6 address is reported, not routed', () => {
    const p = planOverlay({ nodeName: 'n3', nodes: [n3, { ...n2, internalIPs: ['192.168.1.2'] }], backend: 'host-gw', underlayMtu: 1500 })
    expect(p.routes).toEqual([{ dst: '10.244.2.0/24', gw: '192.168.1.2' }])
    expect(p.problems).toEqual(['node n2: no InternalIP of the family of fd00:10:244:2::/64'])
  })

  it('skips nodes without pod CIDRs silently, reports bad CIDRs and CIDRs claimed twice', () => {
    const p = planOverlay({
      nodeName: 'n1', backend: 'vxlan', underlayMtu: 1500,
      nodes: [n1, { name: 'new', podCIDRs: [], internalIPs: ['192.168.1.9'] }, { name: 'bad', podCIDRs: ['10.1.0.0/33'], internalIPs: ['192.168.1.8'] },
        { name: 'dup', podCIDRs: ['10.244.1.0/24'], internalIPs: ['192.168.1.7'] }],
    })
    expect(p.routes).toEqual([])
    expect(p.problems).toEqual(['node bad: podCIDR 10.1.0.0/33 is not a CIDR', 'node dup: podCIDR 10.244.1.0/24 is already routed'])
  })

  it('normalises CIDRs with host bits', () => {
    const p = planOverlay({ nodeName: 'n1', nodes: [n1, { ...n3, podCIDRs: ['10.244.3.9/24'] }], backend: 'vxlan', underlayMtu: 1500 })
    expect(p.routes[0]).toEqual({ dst: '10.244.3.0/24', gw: '10.244.3.0', dev: 'cinch-vxlan' })
  })

  it.each([
    ['not among the Nodes', 'n9', [n1], /n9 is not among the Nodes/],
    ['without pod CIDRs', 'n1', [{ ...n1, podCIDRs: [] }], /no valid spec.podCIDRs/],
    ['without an address', 'n1', [{ ...n1, internalIPs: [] }], /no InternalIP/],
  ])('throws when this node is %s', (_, nodeName, nodes, msg) => {
    expect(() => planOverlay({ nodeName, nodes, backend: 'vxlan', underlayMtu: 1500 })).toThrow(msg)
  })
})
