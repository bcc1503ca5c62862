import { describe, expect, it } from 'vitest'
import { CniError, type NetConf } from '../lib/cni/index.js'
import { parseIpamConfig } from './config.js'
import { formatIp } from '../lib/ip/index.js'

const conf = (ipam: object, extra: object = {}): NetConf =>
  ({ cniVersion: '1.1.0', name: 'net1', type: 'cinch-bridge', ipam: { type: 'cinch-ipam', ...ipam }, ...extra }) as NetConf

function failure(c: NetConf, args: Record<string, string> = {}): CniError {
  try {
    parseIpamConfig(c, args)
  } catch (err) {
    if (err instanceof CniError) return err
    throw err
  }
  throw new Error('config was accepted')
}

describe('parseIpamConfig', () => {
  it('applies host-local defaults (dataDir) and leaves the input untouched', () => {
    const c = conf({ ranges: [[{ subnet: '10.1.0.0/24' }]] })
    const cfg = parseIpamConfig(c)
    expect(cfg.dataDir).toBe('/var/lib/cni/networks')
    expect(cfg.name).toBe('net1')
    expect(cfg.ranges).toHaveLength(1)
    expect((c.ipam as Record<string, unknown>).dataDir).toBeUndefined()
  })

  it('puts the legacy top-level subnet first, before ranges (host-local)', () => {
    const cfg = parseIpamConfig(conf({ subnet: '10.9.0.0/24', gateway: '10.9.0.254', ranges: [[{ subnet: 'fd00::/64' }]] }))
    expect(cfg.ranges.map((s) => s[0].subnet.family)).toEqual([4, 6])
    expect(formatIp({ family: 4, value: cfg.ranges[0][0].gateway })).toBe('10.9.0.254')
  })

  it('collects requested addresses from CNI_ARGS IP=, args.cni.ips and runtimeConfig.ips', () => {
    const cfg = parseIpamConfig(
      conf({ ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: 'fd00::/64' }]] }, { runtimeConfig: { ips: ['fd00::9/64'] }, args: { cni: { ips: ['10.1.0.8'] } } }),
      { IP: '10.1.0.7', IgnoreUnknown: '1' },
    )
    expect(cfg.requested.map(formatIp)).toEqual(['10.1.0.7', '10.1.0.8', 'fd00::9'])
  })

  it('keeps routes and resolvConf', () => {
    const cfg = parseIpamConfig(conf({ subnet: '10.1.0.0/24', routes: [{ dst: '0.0.0.0/0' }, { dst: '10.2.0.0/16', gw: '10.1.0.9' }], resolvConf: '/etc/r' }))
    expect(cfg.routes).toEqual([{ dst: '0.0.0.0/0' }, { dst: '10.2.0.0/16', gw: '10.1.0.9' }])
    expect(cfg.resolvConf).toBe('/etc/r')
  })

  const bad: [string, NetConf, string, Record<string, string>?][] = [
    ['an invalid CIDR', conf({ ranges: [[{ subnet: '10.1.0.0/33' }]] }), 'ipam.ranges[0][0].subnet: 10.1.0.0/33 is not a valid CIDR'],
    ['a subnet of the wrong type', conf({ ranges: [[{ subnet: 24 }]] }), 'ipam.ranges[0][0].subnet: must be string'],
    ['a range without subnet', conf({ ranges: [[{ rangeStart: '10.1.0.1' }]] }), 'ipam.ranges[0][0].subnet: is required'],
    ['rangeStart outside its subnet', conf({ ranges: [[{ subnet: '10.1.0.0/24', rangeStart: '10.1.1.1' }]] }), 'ipam.ranges[0][0].rangeStart: 10.1.1.1 is not in subnet 10.1.0.0/24'],
    ['a legacy gateway outside the subnet', conf({ subnet: '10.1.0.0/24', gateway: '10.2.0.1' }), 'ipam.gateway: 10.2.0.1 is not in subnet 10.1.0.0/24'],
    ['no ranges at all', conf({}), 'ipam.ranges: no IP ranges specified'],
    ['overlapping range sets', conf({ ranges: [[{ subnet: '10.1.0.0/16' }], [{ subnet: '10.1.2.0/24' }]] }), 'ipam.ranges[1]: overlaps ipam.ranges[0]'],
    ['legacy subnet overlapping ranges', conf({ subnet: '10.1.0.0/24', ranges: [[{ subnet: '10.1.0.0/24' }]] }), 'ipam.ranges[0]: overlaps ipam'],
    ['an empty range set', conf({ ranges: [[]] }), 'ipam.ranges[0]: must NOT have fewer than 1 items'],
    ['a route without dst', conf({ subnet: '10.1.0.0/24', routes: [{ gw: '10.1.0.1' }] }), 'ipam.routes[0].dst: is required'],
    ['a route dst that is no CIDR', conf({ subnet: '10.1.0.0/24', routes: [{ dst: 'default' }] }), 'ipam.routes[0].dst: default is not a valid CIDR'],
    ['a bad runtimeConfig.ips entry', conf({ subnet: '10.1.0.0/24' }, { runtimeConfig: { ips: ['10.1.0.300'] } }), 'runtimeConfig.ips[0]: 10.1.0.300 is not a valid IP address'],
    ['a network name that climbs out of dataDir', { ...conf({ subnet: '10.1.0.0/24' }), name: '..' }, 'name: ".." cannot name a directory'],
    ['no ipam object', { cniVersion: '1.1.0', name: 'n', type: 't' } as NetConf, 'ipam: is required'],
  ]
  it.each(bad)('code 7 for %s, naming the field', (_n, c, msg) => {
    const e = failure(c)
    expect(e.code).toBe(7)
    expect(e.msg).toContain(msg)
  })

  it('code 4 for a bad CNI_ARGS IP=', () => {
    const e = failure(conf({ subnet: '10.1.0.0/24' }), { IP: 'nope' })
    expect(e.code).toBe(4)
    expect(e.msg).toContain('IP=nope')
  })
})
