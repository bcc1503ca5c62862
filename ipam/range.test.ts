import { describe, expect, it } from 'vitest'
import { formatIp } from '../lib/ip/index.js'
import { allocatableCount, canonicalizeRange, canonicalizeRangeSet, checkRangeSetsDisjoint, FieldError, isReservedAddress, type Range } from './range.js'

const f4 = (r: Range, v: bigint) => formatIp({ family: r.subnet.family, value: v })

describe('canonicalizeRange (host-local defaults)', () => {
  it('IPv4: gateway .1, start .1, end before broadcast', () => {
    const r = canonicalizeRange({ subnet: '10.1.0.0/24' }, 'x')
    expect([f4(r, r.gateway), f4(r, r.rangeStart), f4(r, r.rangeEnd)]).toEqual(['10.1.0.1', '10.1.0.1', '10.1.0.254'])
    expect(allocatableCount(r)).toBe(253n) // .2 .. .254
  })
  it('IPv6: no broadcast, the end is the last address', () => {
    const r = canonicalizeRange({ subnet: 'fd00::/120' }, 'x')
    expect([f4(r, r.gateway), f4(r, r.rangeStart), f4(r, r.rangeEnd)]).toEqual(['fd00::1', 'fd00::1', 'fd00::ff'])
    expect(allocatableCount(r)).toBe(254n)
  })
  it('clears host bits of the subnet', () => {
    const r = canonicalizeRange({ subnet: '10.1.0.77/24' }, 'x')
    expect(f4(r, r.subnet.network)).toBe('10.1.0.0')
  })
  it('keeps explicit rangeStart, rangeEnd, gateway', () => {
    const r = canonicalizeRange({ subnet: '10.1.0.0/24', rangeStart: '10.1.0.10', rangeEnd: '10.1.0.20', gateway: '10.1.0.254' }, 'x')
    expect([f4(r, r.gateway), f4(r, r.rangeStart), f4(r, r.rangeEnd)]).toEqual(['10.1.0.254', '10.1.0.10', '10.1.0.20'])
    expect(allocatableCount(r)).toBe(11n)
  })
  it('never counts network, gateway or broadcast as allocatable', () => {
    const r = canonicalizeRange({ subnet: '10.1.0.0/30', rangeStart: '10.1.0.0', rangeEnd: '10.1.0.3' }, 'x')
    expect(allocatableCount(r)).toBe(1n) // only .2
    for (const v of [0n, 1n, 3n]) expect(isReservedAddress(r, r.subnet.network + v)).toBe(true)
    expect(isReservedAddress(r, r.subnet.network + 2n)).toBe(false)
  })

  const bad: [string, object, string][] = [
    ['missing subnet', {}, 'r.subnet: is required'],
    ['prefix too long', { subnet: '10.1.0.0/33' }, 'r.subnet: 10.1.0.0/33 is not a valid CIDR'],
    ['not a CIDR', { subnet: '10.1.0.0' }, 'r.subnet: 10.1.0.0 is not a valid CIDR'],
    ['a /31 has no host address', { subnet: '10.1.0.0/31' }, 'r.subnet: 10.1.0.0/31 is too small to allocate from'],
    ['a /127 neither', { subnet: 'fd00::/127' }, 'r.subnet: fd00::/127 is too small to allocate from'],
    ['rangeStart outside the subnet', { subnet: '10.1.0.0/24', rangeStart: '10.2.0.5' }, 'r.rangeStart: 10.2.0.5 is not in subnet 10.1.0.0/24'],
    ['rangeEnd not an address', { subnet: '10.1.0.0/24', rangeEnd: '10.1.0.300' }, 'r.rangeEnd: 10.1.0.300 is not a valid IP address'],
    ['gateway of the other family', { subnet: '10.1.0.0/24', gateway: 'fd00::1' }, 'r.gateway: fd00::1 is not in subnet 10.1.0.0/24'],
    ['end before start', { subnet: '10.1.0.0/24', rangeStart: '10.1.0.9', rangeEnd: '10.1.0.3' }, 'r.rangeEnd: 10.1.0.3 is before rangeStart 10.1.0.9'],
  ]
  it.each(bad)('rejects %s, naming the field', (_name, raw, msg) => {
    expect(() => canonicalizeRange(raw, 'r')).toThrow(new FieldError(msg.split(': ')[0], msg.slice(msg.indexOf(': ') + 2)))
    expect(() => canonicalizeRange(raw, 'r')).toThrow(msg)
  })
})

describe('range sets', () => {
  it('rejects two overlapping ranges in one set', () => {
    expect(() => canonicalizeRangeSet([{ subnet: '10.1.0.0/24' }, { subnet: '10.1.0.0/25' }], 's')).toThrow('s[1]: overlaps s[0]')
  })
  it('accepts disjoint ranges of one subnet', () => {
    const set = canonicalizeRangeSet([{ subnet: '10.1.0.0/24', rangeEnd: '10.1.0.99' }, { subnet: '10.1.0.0/24', rangeStart: '10.1.0.100' }], 's')
    expect(set).toHaveLength(2)
  })
  it('rejects mixed families in one set', () => {
    expect(() => canonicalizeRangeSet([{ subnet: '10.1.0.0/24' }, { subnet: 'fd00::/64' }], 's')).toThrow('s[1].subnet: mixes IPv4 and IPv6')
  })
  it('rejects an empty set', () => {
    expect(() => canonicalizeRangeSet([], 's')).toThrow('s: a range set needs at least one range')
  })
  it('rejects range sets that overlap one another, naming both', () => {
    const a = canonicalizeRangeSet([{ subnet: '10.1.0.0/16' }], 'a')
    const b = canonicalizeRangeSet([{ subnet: '10.1.5.0/24' }], 'b')
    expect(() => checkRangeSetsDisjoint([a, b], (i) => `ipam.ranges[${i}]`)).toThrow('ipam.ranges[1]: overlaps ipam.ranges[0]')
  })
  it('accepts dual stack sets', () => {
    const a = canonicalizeRangeSet([{ subnet: '10.1.0.0/16' }], 'a')
    const b = canonicalizeRangeSet([{ subnet: 'fd00::/64' }], 'b')
    expect(() => checkRangeSetsDisjoint([a, b], String)).not.toThrow()
  })
})
