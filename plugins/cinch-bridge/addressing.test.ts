import { describe, expect, it } from 'vitest'
import { nextHop, planAddressing, readAddressing, readRoute, resultIps, resultRoutes, podIpText } from './addressing.js'
import { formatIp } from '../../lib/ip/index.js'

const ipam = readAddressing({
  cniVersion: '1.1.0',
  ips: [{ address: '10.244.1.5/24', gateway: '10.244.1.1' }, { address: 'fd00::5/64' }],
  routes: [{ dst: '10.96.0.0/12' }],
})

describe('planAddressing', () => {
  it('puts every address on the container interface and calculates missing gateways (isGateway)', () => {
    const a = planAddressing(ipam, { isGateway: true, isDefaultGateway: false })
    expect(resultIps(a.ips, 2)).toEqual([
      { address: '10.244.1.5/24', gateway: '10.244.1.1', interface: 2 },
      { address: 'fd00::5/64', gateway: 'fd00::1', interface: 2 },
    ])
    expect(a.bridgeAddrs.map(podIpText)).toEqual(['10.244.1.1/24', 'fd00::1/64'])
    expect(resultRoutes(a.routes)).toEqual([{ dst: '10.96.0.0/12' }])
  })
  it('adds default routes for isDefaultGateway, once per family', () => {
    const a = planAddressing({ ...ipam, routes: [readRoute({ dst: '::/0', gw: 'fd00::1' })] }, { isGateway: true, isDefaultGateway: true })
    expect(resultRoutes(a.routes)).toEqual([{ dst: '::/0', gw: 'fd00::1' }, { dst: '0.0.0.0/0', gw: '10.244.1.1' }])
  })
  it('puts nothing on the bridge without isGateway', () => {
    const a = planAddressing(ipam, { isGateway: false, isDefaultGateway: false })
    expect(a.bridgeAddrs).toEqual([])
    expect(resultIps(a.ips, 2)[1]).toEqual({ address: 'fd00::5/64', interface: 2 })
  })
  it('refuses text that is no address (a result is parsed once, here)', () => {
    expect(() => readAddressing({ cniVersion: '1.1.0', ips: [{ address: '10.244.1.5/24', gateway: 'nope' }] })).toThrow(/not a valid IP address: nope/)
  })
})

describe('nextHop', () => {
  const { ips } = readAddressing({ cniVersion: '1.1.0', ips: [{ address: '10.244.1.5/24', gateway: '10.244.1.1' }, { address: 'fd00::5/64', gateway: 'fd00::1' }] })
  const hop = (dst: string, gw?: string) => {
    const h = nextHop(readRoute({ dst, gw }), ips)
    return h && formatIp(h)
  }
  it('uses the route gw, else the gateway of its family', () => {
    expect(hop('0.0.0.0/0', '10.244.1.254')).toBe('10.244.1.254')
    expect(hop('10.96.0.0/12')).toBe('10.244.1.1')
    expect(hop('::/0')).toBe('fd00::1')
  })
})
