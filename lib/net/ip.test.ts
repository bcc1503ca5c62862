import { describe, expect, it } from 'vitest'
import { contains, firstHost, formatCidr, ipBytes, ipString, macBytes, macString, networkOf, parseCidr } from './ip.js'

describe('ipBytes / ipString', () => {
  const cases: [string, string, string][] = [
    ['v4', '10.244.1.5', '0af40105'],
    ['v6 compressed middle', 'fd00:10:244:1::5', 'fd000010024400010000000000000005'],
    ['v6 all zero', '::', '0'.repeat(32)],
    ['v6 leading ::', '::1', '0'.repeat(31) + '1'],
    ['v6 mapped v4', '::ffff:10.0.0.1', '00000000000000000000ffff0a000001'],
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
  })
  it('rejects non-addresses', () => expect(() => ipBytes('10.0.0')).toThrow(/not an IP/))
})

describe('parseCidr', () => {
  it('parses both families', () => {
    expect(parseCidr('10.244.1.5/24')).toMatchObject({ family: 4, prefix: 24 })
    expect(parseCidr('fd00::5/64')).toMatchObject({ family: 6, prefix: 64 })
    expect(formatCidr(parseCidr('fd00::5'))).toBe('fd00::5/128')
  })
  it('rejects bad prefixes', () => {
    expect(() => parseCidr('10.0.0.0/33')).toThrow(/not a valid CIDR/)
    expect(() => parseCidr('10.0.0.0/x')).toThrow(/not a valid CIDR/)
  })
})

describe('subnet math', () => {
  it('networkOf clears host bits', () => {
    expect(formatCidr(networkOf(parseCidr('10.244.1.77/26')))).toBe('10.244.1.64/26')
    expect(formatCidr(networkOf(parseCidr('fd00:10:244:1::5/64')))).toBe('fd00:10:244:1::/64')
  })
  it('contains', () => {
    expect(contains(parseCidr('10.244.1.0/24'), ipBytes('10.244.1.9'))).toBe(true)
    expect(contains(parseCidr('10.244.1.0/24'), ipBytes('10.244.2.9'))).toBe(false)
    expect(contains(parseCidr('10.244.1.0/24'), ipBytes('fd00::1'))).toBe(false)
  })
  it('firstHost', () => {
    expect(ipString(firstHost(parseCidr('10.244.1.5/24')))).toBe('10.244.1.1')
    expect(ipString(firstHost(parseCidr('fd00::5/64')))).toBe('fd00::1')
  })
})

describe('mac', () => {
  it('round-trips', () => expect(macString(macBytes('0A:58:0a:f4:01:05'))).toBe('0a:58:0a:f4:01:05'))
  it('rejects junk', () => expect(() => macBytes('0a:58')).toThrow(/not a MAC/))
})
