import { describe, expect, it } from 'vitest'
import { bytesToIp, formatCidrBytes, ipBytes, ipString, ipToBytes, macBytes, macString, parseCidrBytes } from './ip.js'

describe('ipBytes / ipString', () => {
  const cases: [string, string, string][] = [
    ['v4', '10.244.1.5', '0af40105'],
    ['v6 compressed middle', 'fd00:10:244:1::5', 'fd000010024400010000000000000005'],
    ['v6 all zero', '::', '0'.repeat(32)],
    ['v6 leading ::', '::1', '0'.repeat(31) + '1'],
    ['v6 mapped v4 stays 16 bytes', '::ffff:10.0.0.1', '00000000000000000000ffff0a000001'],
    ['v6 with a zone', 'fe80::1%eth0', 'fe800000000000000000000000000001'],
  ]
  for (const [name, text, hex] of cases) {
    it(name, () => {
      expect(ipBytes(text).toString('hex')).toBe(hex)
      expect(ipBytes(ipString(ipBytes(text))).toString('hex')).toBe(hex)
    })
  }
  it('prints canonical IPv6', () => {
    expect(ipString(ipBytes('fd00:0:0:0:0:0:0:1'))).toBe('fd00::1')
    expect(ipString(ipBytes('1:0:0:2:0:0:0:3'))).toBe('1:0:0:2::3')
    expect(ipString(ipBytes('1:0:2:3:4:5:6:7'))).toBe('1:0:2:3:4:5:6:7')
    expect(ipString(ipBytes('::ffff:10.0.0.1'))).toBe('::ffff:a00:1') // netlink's view: not unmapped
  })
  it.each(['10.0.0', '010.0.0.1', ' 10.0.0.1', '10.0.0.1%eth0', 'fe80::1%', '10.0.0.1/24'])('rejects %j', (s) =>
    expect(() => ipBytes(s)).toThrow(/not an IP/))
  it('converts between lib/ip addresses and bytes', () => {
    expect(ipToBytes({ family: 4, value: 0x0a000001n }).toString('hex')).toBe('0a000001')
    expect(bytesToIp(Buffer.from('00000000000000000000000000000001', 'hex'))).toEqual({ family: 6, value: 1n })
    expect(bytesToIp(new Uint8Array(Buffer.from('ff0a000001', 'hex')).subarray(1))).toEqual({ family: 4, value: 0x0a000001n })
  })
})

describe('parseCidrBytes', () => {
  it('parses both families and keeps the host bits', () => {
    expect(parseCidrBytes('10.244.1.5/24')).toMatchObject({ family: 4, prefix: 24 })
    expect(formatCidrBytes(parseCidrBytes('10.244.1.5/24'))).toBe('10.244.1.5/24')
    expect(parseCidrBytes('fd00::5/64')).toMatchObject({ family: 6, prefix: 64 })
    expect(formatCidrBytes(parseCidrBytes('fd00::5'))).toBe('fd00::5/128')
  })
  it('rejects bad prefixes', () => {
    expect(() => parseCidrBytes('10.0.0.0/33')).toThrow(/not a valid CIDR/)
    expect(() => parseCidrBytes('10.0.0.0/x')).toThrow(/not a valid CIDR/)
  })
})

describe('mac', () => {
  it('round-trips', () => expect(macString(macBytes('0A:58:0a:f4:01:05'))).toBe('0a:58:0a:f4:01:05'))
  it('rejects junk', () => expect(() => macBytes('0a:58')).toThrow(/not a MAC/))
})
