import { describe, expect, it } from 'vitest'
import { cidrContains, formatCidr, formatIp, lastInCidr, parseCidr, parseIp } from './ip.js'

describe('parseIp / formatIp round trip (Go net.IP.String() spelling)', () => {
  const cases: [string, string][] = [
    ['10.1.2.3', '10.1.2.3'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['::', '::'],
    ['::1', '::1'],
    ['fd00:10:244:1::5', 'fd00:10:244:1::5'],
    ['FD00:0:0:0:0:0:0:5', 'fd00::5'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // RFC 5952: first of equal runs
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group is not compressed
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'], // the longest run wins
    ['::ffff:10.1.2.3', '10.1.2.3'], // IPv4-mapped becomes IPv4, as Go's To4
    ['64:ff9b::10.0.0.1', '64:ff9b::a00:1'],
  ]
  it.each(cases)('%s -> %s', (input, out) => {
    const ip = parseIp(input)
    expect(ip).not.toBeNull()
    expect(formatIp(ip!)).toBe(out)
  })

  it.each(['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1::2::3', '1:2:3:4:5:6:7:8:9', 'g::1', '10.1.2.3/24', ' 10.1.2.3', '12345::'])(
    'rejects %j',
    (s) => expect(parseIp(s)).toBeNull(),
  )
})

describe('parseCidr', () => {
  it('clears host bits into network and keeps the address', () => {
    const p = parseCidr('10.1.2.3/24')!
    expect(formatCidr(p.cidr)).toBe('10.1.2.0/24')
    expect(formatIp(p.ip)).toBe('10.1.2.3')
  })
  it('handles IPv6 prefixes', () => {
    const p = parseCidr('fd00:10:244:1::77/64')!
    expect(formatCidr(p.cidr)).toBe('fd00:10:244:1::/64')
    expect(formatIp({ family: 6, value: lastInCidr(p.cidr) })).toBe('fd00:10:244:1:ffff:ffff:ffff:ffff')
  })
  it.each(['10.1.0.0/33', 'fd00::/129', '10.1.0.0', '10.1.0.0/', '10.1.0.0/2a', 'x/24', '10.1.0.0/-1'])('rejects %s', (s) =>
    expect(parseCidr(s)).toBeNull(),
  )
  it('computes the IPv4 broadcast as the last address', () => {
    expect(formatIp({ family: 4, value: lastInCidr(parseCidr('10.1.0.0/22')!.cidr) })).toBe('10.1.3.255')
  })
  it('containment respects family and prefix', () => {
    const c = parseCidr('10.1.0.0/16')!.cidr
    expect(cidrContains(c, parseIp('10.1.255.255')!)).toBe(true)
    expect(cidrContains(c, parseIp('10.2.0.0')!)).toBe(false)
    expect(cidrContains(c, parseIp('::a01:0')!)).toBe(false)
  })
})
