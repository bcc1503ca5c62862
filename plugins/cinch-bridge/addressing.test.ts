import { describe, expect, it } from 'vitest'
import { nextHop, planAddressing } from './addressing.js'

const ipam = {
  cniVersion: '1.1.0',
  ips: [{ address: '10.244.1.5/24', gateway: '10.244.1.1' }, { address: 'fd00::5/64' }],
  routes: [{ dst: '10.96.0.0/12' }],
}

describe('planAddressing', () => {
  it('puts every address on the container interface and calculates missing gateways (isGateway)', () => {
    const a = planAddressing(ipam, { isGateway: true, isDefaultGateway: false, containerIfIndex: 2 })
    expect(a.ips).toEqual([
      { address: '10.244.1.5/24', gateway: '10.244.1.1', interface: 2 },
      { address: 'fd00::5/64', gateway: 'fd00::1', interface: 2 },
    ])
    expect(a.bridgeAddrs).toEqual(['10.244.1.1/24', 'fd00::1/64'])
    expect(a.routes).toEqual([{ dst: '10.96.0.0/12' }])
  })
  it('adds default routes for isDefaultGateway, once per family', () => {
    const a = planAddressing({ ...ipam, routes: [{ dst: '::/0', gw: 'fd00::1' }] }, { isGateway: true, isDefaultGateway: true, containerIfIndex: 2 })
    expect(a.routes).toEqual([{ dst: '::/0', gw: 'fd00::1' }, { dst: '0.0.0.0/0', gw: '10.244.1.1' }])
  })
  it('puts nothing on the bridge without isGateway', () => {
    const a = planAddressing(ipam, { isGateway: false, isDefaultGateway: false, containerIfIndex: 2 })
    expect(a.bridgeAddrs).toEqual([])
    expect(a.ips[1]).toEqual({ address: 'fd00::5/64', interface: 2 })
  })
})

describe('nextHop', () => {
  const ips = [{ address: '10.244.1.5/24', gateway: '10.244.1.1' }, { address: 'fd00::5/64', gateway: 'fd00::1' }]
  it('uses the route gw, else the gateway of its family', () => {
    expect(nextHop({ dst: '0.0.0.0/0', gw: '10.244.1.254' }, ips)).toBe('10.244.1.254')
    expect(nextHop({ dst: '10.96.0.0/12' }, ips)).toBe('10.244.1.1')
    expect(nextHop({ dst: '::/0' }, ips)).toBe('fd00::1')
  })
})
