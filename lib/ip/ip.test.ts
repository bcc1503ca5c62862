import { describe, expect, it } from 'vitest'
import {
  KERNEL, LENIENT, canonicalIp, cidrContains, cidrWithin, firstHost, formatCidr, formatIp, lastInCidr, parseCidr, parseIp,
} from './index.js'

const cidrText = (s: string, o = {}) => {
  const p = parseCidr(s, o)
  return p ? formatCidr(p.cidr) : null
}

describe('parseIp / formatIp round trip (Go net.IP.String() spelling)', () => {
  const cases: [string, string][] = [
    ['10.1.2.3', '10.1.2.3'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['::', '::'],
    ['::1', '::1'],
    ['fd00:10:244:1::5', 'fd00:10:244:1::5'],
    ['FD00:0:0:0:0:0:0:5', 'fd00::5'],
    ['fd00:0:0::1:1', 'fd00::1:1'],
    ['FD00::0001', 'fd00::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // RFC 5952: first of equal runs
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group is not compressed
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'], // the longest run wins
    ['::ffff:10.1.2.3', '10.1.2.3'], // IPv4-mapped becomes IPv4, as Go's To4
    ['::ffff:a01:203', '10.1.2.3'], // however the mapped address is spelled
    ['64:ff9b::10.0.0.1', '64:ff9b::a00:1'],
  ]
  it.each(cases)('%s -> %s', (input, out) => {
    const ip = parseIp(input)
    expect(ip).not.toBeNull()
    expect(formatIp(ip!)).toBe(out)
  })

  it.each([
    '', 'x', '1.2.3', '1.2.3.4.5', '256.1.1.1', '10.0.0.256', '01.2.3.4', '1::2::3', 'fd00::1::2', '1:2:3:4:5:6:7:8:9',
    'g::1', '10.1.2.3/24', ' 10.1.2.3', '12345::', '::ffff:010.1.2.3', 'fe80::1%eth0',
  ])('rejects %j', (s) => expect(parseIp(s)).toBeNull())
})

// The policy side reads hand-written manifests (policy-agent: pod IPs, node IPs, conntrack output);
// host-local's reading (the default) must not loosen with it.
describe('lenient (policy side) versus Go (IPAM side)', () => {
  const cases: [string, string, string | null, string | null][] = [
    ['leading zeros', '010.001.2.3', '10.1.2.3', null],
    ['leading zeros in an IPv4 tail', '::ffff:010.0.0.1', '::ffff:a00:1', null],
    ['blanks around', ' 10.1.2.3\t', '10.1.2.3', null],
    ['a /len suffix', '10.0.0.1/24', '10.0.0.1', null],
    ['IPv4-mapped stays IPv6', '::ffff:10.0.0.1', '::ffff:a00:1', '10.0.0.1'],
    ['still no octet above 255', '10.0.0.256', null, null],
    ['still no four-digit octet', '0010.0.0.1', null, null],
  ]
  it.each(cases)('%s: %j', (_name, text, lenient, strict) => {
    expect(canonicalIp(text, LENIENT)).toBe(lenient)
    expect(canonicalIp(text)).toBe(strict)
  })

  it('keepMapped alone keeps the family but not the leniency', () => {
    expect(parseIp('::ffff:10.0.0.1', { keepMapped: true })).toEqual({ family: 6, value: 0xffff0a000001n })
    expect(parseIp('010.0.0.1', { keepMapped: true })).toBeNull()
  })

  it('lenient CIDRs: blanks, leading zeros, a mapped IPv6 keeps its /len', () => {
    expect(cidrText(' 10.0.0.0/8 ', LENIENT)).toBe('10.0.0.0/8')
    expect(cidrText(' 10.0.0.0/8 ')).toBeNull()
    expect(cidrText('010.0.0.0/8', LENIENT)).toBe('10.0.0.0/8')
    expect(cidrText('::ffff:10.0.0.0/104', LENIENT)).toBe('::ffff:a00:0/104')
    expect(cidrText('::ffff:10.0.0.0/104')).toBeNull() // IPv4 under Go's reading: /104 is too long
    expect(cidrText('10.0.0.0', LENIENT)).toBeNull()
  })
})

describe('parseCidr', () => {
  it('clears host bits into network and keeps the address', () => {
    const p = parseCidr('10.1.2.3/24')!
    expect(formatCidr(p.cidr)).toBe('10.1.2.0/24')
    expect(formatIp(p.ip)).toBe('10.1.2.3')
  })
  it('masks like the netpol suite means <podIP>/4', () => {
    expect(cidrText('10.244.0.12/4')).toBe('0.0.0.0/4')
    expect(cidrText('10.244.0.12/4', LENIENT)).toBe('0.0.0.0/4')
  })
  it('handles IPv6 prefixes', () => {
    const p = parseCidr('fd00:10:244:1::77/64')!
    expect(formatCidr(p.cidr)).toBe('fd00:10:244:1::/64')
    expect(formatIp({ family: 6, value: lastInCidr(p.cidr) })).toBe('fd00:10:244:1:ffff:ffff:ffff:ffff')
  })
  it.each(['10.1.0.0/33', 'fd00::/129', '10.1.0.0', '10.1.0.0/', '10.1.0.0/2a', 'x/24', '10.1.0.0/-1', '10.0.0.0/24/8', '10.0.0.0/0024'])(
    'rejects %s',
    (s) => expect(parseCidr(s)).toBeNull(),
  )
  it('reads a bare address as a host CIDR only when asked (KERNEL, as iproute2)', () => {
    expect(cidrText('10.0.0.1', KERNEL)).toBe('10.0.0.1/32')
    expect(cidrText('fd00::5', KERNEL)).toBe('fd00::5/128')
    expect(cidrText('::ffff:10.0.0.1', KERNEL)).toBe('::ffff:a00:1/128')
    expect(cidrText('10.0.0.1/33', KERNEL)).toBeNull()
  })
  it('computes the IPv4 broadcast as the last address', () => {
    expect(formatIp({ family: 4, value: lastInCidr(parseCidr('10.1.0.0/22')!.cidr) })).toBe('10.1.3.255')
  })
  it('computes the first host after the network address', () => {
    expect(formatIp(firstHost(parseCidr('10.244.1.5/24')!.cidr))).toBe('10.244.1.1')
    expect(formatIp(firstHost(parseCidr('fd00::5/64')!.cidr))).toBe('fd00::1')
    expect(formatIp(firstHost(parseCidr('255.255.255.255/32')!.cidr))).toBe('0.0.0.0') // wraps like the byte carry did
  })
  it('containment respects family and prefix', () => {
    const c = parseCidr('10.1.0.0/16')!.cidr
    expect(cidrContains(c, parseIp('10.1.255.255')!)).toBe(true)
    expect(cidrContains(c, parseIp('10.2.0.0')!)).toBe(false)
    expect(cidrContains(c, parseIp('::a01:0')!)).toBe(false)
    const v6 = parseCidr('fd00::2:0/112')!.cidr
    expect(cidrContains(v6, parseIp('fd00::2:ffff')!)).toBe(true)
    expect(cidrContains(v6, parseIp('fd00::3:0')!)).toBe(false)
    expect(cidrContains(v6, parseIp('10.0.0.1')!)).toBe(false)
  })
  it('cidrWithin: equal counts, wider or other family does not', () => {
    const c = (s: string) => parseCidr(s)!.cidr
    expect(cidrWithin(c('10.1.2.0/24'), c('10.1.0.0/16'))).toBe(true)
    expect(cidrWithin(c('10.1.0.0/16'), c('10.1.0.0/16'))).toBe(true)
    expect(cidrWithin(c('10.0.0.0/8'), c('10.1.0.0/16'))).toBe(false)
    expect(cidrWithin(c('10.2.0.0/24'), c('10.1.0.0/16'))).toBe(false)
    expect(cidrWithin(c('::/120'), c('0.0.0.0/0'))).toBe(false)
  })
})
