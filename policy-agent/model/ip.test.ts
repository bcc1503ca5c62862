import { describe, expect, test } from 'vitest'
import { canonicalAddr, cidrContains, formatCidr, parseAddr, parseCidr } from './ip.js'

describe('addresses', () => {
  test.each([
    ['10.0.0.1', '10.0.0.1'], ['fd00:0:0::1:1', 'fd00::1:1'], ['FD00::0001', 'fd00::1'], ['::', '::'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], ['::ffff:10.0.0.1', '::ffff:a00:1'], ['10.0.0.1/24', '10.0.0.1'],
  ])('%s is %s', (a, want) => expect(canonicalAddr(a)).toBe(want))
  test.each(['10.0.0.256', '1.2.3', 'fd00::1::2', 'x', '1:2:3:4:5:6:7:8:9'])('%s is not an address', (a) => expect(canonicalAddr(a)).toBeNull())
  test('CIDRs mask host bits and contain what they should', () => {
    expect(formatCidr(parseCidr('10.244.0.12/4')!)).toBe('0.0.0.0/4')
    expect(parseCidr('10.0.0.0/33')).toBeNull()
    const c = parseCidr('fd00::2:0/112')!
    expect(cidrContains(c, parseAddr('fd00::2:ffff')!)).toBe(true)
    expect(cidrContains(c, parseAddr('fd00::3:0')!)).toBe(false)
    expect(cidrContains(c, parseAddr('10.0.0.1')!)).toBe(false)
  })
})
