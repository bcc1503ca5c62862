import { describe, expect, it } from 'vitest'
import { convertResult, parseResult } from './result.js'
import type { CniResult } from './types.js'

const result: CniResult = {
  cniVersion: '1.1.0',
  interfaces: [
    { name: 'cinch0', mac: '0a:58:0a:f4:01:01' },
    { name: 'eth0', mac: '0a:58:0a:f4:01:05', sandbox: '/var/run/netns/p1', mtu: 1450, socketPath: '/x' },
  ],
  ips: [
    { address: '10.244.1.5/24', gateway: '10.244.1.1', interface: 1 },
    { address: 'fd00:10:244:1::5/64', gateway: 'fd00:10:244:1::1', interface: 1 },
  ],
  routes: [{ dst: '0.0.0.0/0', gw: '10.244.1.1', mtu: 1400 }],
  dns: { nameservers: ['10.96.0.10'] },
}

describe('convertResult', () => {
  it.each(['0.3.0', '0.3.1', '0.4.0'])('adds ips[].version and drops 1.1 fields for %s', (v) => {
    const out = convertResult(result, v) as any
    expect(out.cniVersion).toBe(v)
    expect(out.ips.map((ip: any) => ip.version)).toEqual(['4', '6'])
    expect(out.routes[0]).toEqual({ dst: '0.0.0.0/0', gw: '10.244.1.1' })
    expect(out.interfaces[1].socketPath).toBeUndefined()
    expect(out.interfaces[1].sandbox).toBe('/var/run/netns/p1')
  })

  it('1.0.0 has no ips[].version and no 1.1-only route or interface fields', () => {
    const out = convertResult(result, '1.0.0') as any
    expect(out.ips[0]).toEqual({ address: '10.244.1.5/24', gateway: '10.244.1.1', interface: 1 })
    expect(out.routes[0].mtu).toBeUndefined()
    expect(out.interfaces[1].socketPath).toBeUndefined()
  })

  it('1.1.0 keeps route mtu and interface socketPath', () => {
    const out = convertResult(result, '1.1.0') as any
    expect(out.routes[0].mtu).toBe(1400)
    expect(out.interfaces[1].socketPath).toBe('/x')
    expect(out.dns).toEqual({ nameservers: ['10.96.0.10'] })
  })
})

describe('parseResult', () => {
  it('reads a 0.4.0 prevResult into the 1.1.0 shape, dropping ips[].version', () => {
    const parsed = parseResult(
      { cniVersion: '0.4.0', ips: [{ version: '4', address: '10.1.0.2/24', interface: 0 }], interfaces: [{ name: 'eth0' }] },
      '0.4.0',
    )
    expect(parsed.ips).toEqual([{ address: '10.1.0.2/24', interface: 0 }])
  })

  it('round-trips every supported version', () => {
    for (const v of ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
      const back = parseResult(convertResult(result, v), v)
      expect(back.ips).toEqual(result.ips)
      expect(back.interfaces?.map((i) => i.name)).toEqual(['cinch0', 'eth0'])
    }
  })

  it('rejects a malformed prevResult with code 6 naming the field', () => {
    expect(() => parseResult({ cniVersion: '1.0.0', ips: [{ gateway: '1.2.3.4' }] }, '1.0.0')).toThrowError(
      expect.objectContaining({ code: 6, details: 'ips[0].address: undefined is not a CIDR' }),
    )
  })

  // A prevResult comes from the runtime, an IPAM result from another process: both reach the kernel
  // and nft text, so every address is checked once, here.
  it.each([
    ['an address that is no CIDR', { ips: [{ address: '10.0.0.2/24 } flush ruleset' }] }, /ips\[0\]\.address/],
    ['a gateway that is no address', { ips: [{ address: '10.0.0.2/24', gateway: 'gw' }] }, /ips\[0\]\.gateway/],
    ['an interface index that is no index', { ips: [{ address: '10.0.0.2/24', interface: -1 }] }, /ips\[0\]\.interface/],
    ['an interface index past interfaces', { interfaces: [{ name: 'eth0' }], ips: [{ address: '10.0.0.2/24', interface: 1 }] }, /names no entry/],
    ['a route to no CIDR', { routes: [{ dst: 'default' }] }, /routes\[0\]\.dst/],
    ['a route via no address', { routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1;' }] }, /routes\[0\]\.gw/],
    ['a route table that is no integer', { routes: [{ dst: '0.0.0.0/0', table: 1.5 }] }, /routes\[0\]\.table/],
    ['a MAC that is no MAC', { interfaces: [{ name: 'eth0', mac: 'zz' }] }, /interfaces\[0\]\.mac/],
  ])('rejects %s with code 6', (_name, raw, details) => {
    expect(() => parseResult({ cniVersion: '1.0.0', ...raw }, '1.0.0')).toThrowError(expect.objectContaining({ code: 6, details: expect.stringMatching(details) }))
  })

  it('rejects an unsupported prevResult version with code 1', () => {
    expect(() => parseResult({ cniVersion: '0.2.0' }, '1.0.0')).toThrowError(expect.objectContaining({ code: 1 }))
  })
})
