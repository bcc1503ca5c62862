import { describe, expect, it } from 'vitest'
import { pickAddress } from './allocator.js'
import { formatIp, parseIp } from '../lib/ip/index.js'
import { canonicalizeRangeSet, type RawRange } from './range.js'

const set = (...r: RawRange[]) => canonicalizeRangeSet(r, 's')
const v = (s: string) => parseIp(s)!.value
const used = (...ips: string[]) => new Set(ips.map(v))
function pick(s: ReturnType<typeof set>, u: Set<bigint>, last: string | null): string | null {
  const p = pickAddress(s, u, last === null ? null : v(last))
  return p ? formatIp({ family: s[0].subnet.family, value: p.value }) : null
}

describe('pickAddress', () => {
  const cases: { name: string; set: RawRange[]; used: string[]; last: string | null; want: string | null }[] = [
    { name: 'fresh /24 skips the gateway', set: [{ subnet: '10.1.0.0/24' }], used: [], last: null, want: '10.1.0.2' },
    { name: 'round robin after the last reserved', set: [{ subnet: '10.1.0.0/24' }], used: ['10.1.0.2'], last: '10.1.0.7', want: '10.1.0.8' },
    { name: 'a released address is not reused at once', set: [{ subnet: '10.1.0.0/24' }], used: [], last: '10.1.0.5', want: '10.1.0.6' },
    { name: 'skips used addresses', set: [{ subnet: '10.1.0.0/24' }], used: ['10.1.0.6', '10.1.0.7'], last: '10.1.0.5', want: '10.1.0.8' },
    { name: 'wraps at rangeEnd, skipping broadcast', set: [{ subnet: '10.1.0.0/24' }], used: [], last: '10.1.0.254', want: '10.1.0.2' },
    { name: 'last reserved outside the set restarts at rangeStart', set: [{ subnet: '10.1.0.0/24' }], used: [], last: '10.9.0.9', want: '10.1.0.2' },
    { name: 'last reserved of the other family is ignored', set: [{ subnet: 'fd00::/120' }], used: [], last: null, want: 'fd00::2' },
    { name: 'explicit rangeStart/rangeEnd', set: [{ subnet: '10.1.0.0/24', rangeStart: '10.1.0.100', rangeEnd: '10.1.0.101' }], used: ['10.1.0.100'], last: null, want: '10.1.0.101' },
    { name: 'gateway inside the range is skipped', set: [{ subnet: '10.1.0.0/24', rangeStart: '10.1.0.9', gateway: '10.1.0.10' }], used: ['10.1.0.9'], last: null, want: '10.1.0.11' },
    { name: 'rangeStart at the network address never hands it out', set: [{ subnet: '10.1.0.0/24', rangeStart: '10.1.0.0' }], used: [], last: null, want: '10.1.0.2' },
    { name: 'moves on to the next range of the set', set: [{ subnet: '10.1.0.0/24', rangeEnd: '10.1.0.3' }, { subnet: '10.2.0.0/24' }], used: ['10.1.0.2', '10.1.0.3'], last: '10.1.0.2', want: '10.2.0.2' },
    { name: 'wraps from the last range to the first', set: [{ subnet: '10.1.0.0/24', rangeEnd: '10.1.0.3' }, { subnet: '10.2.0.0/30' }], used: [], last: '10.2.0.2', want: '10.1.0.2' },
    { name: 'IPv6 /64 round robin', set: [{ subnet: 'fd00:10:244:1::/64' }], used: [], last: 'fd00:10:244:1::ffff', want: 'fd00:10:244:1::1:0' },
    { name: 'IPv6 wraps at the all-ones address', set: [{ subnet: 'fd00::/120' }], used: [], last: 'fd00::ff', want: 'fd00::2' },
    { name: 'exhausted /30', set: [{ subnet: '10.1.0.0/30' }], used: ['10.1.0.2'], last: null, want: null },
    { name: 'exhausted, used outside the range do not count', set: [{ subnet: '10.1.0.0/29' }], used: ['10.1.0.2', '10.1.0.3', '10.1.0.4', '10.1.0.5', '10.9.9.9'], last: null, want: '10.1.0.6' },
    { name: 'exhausted across two ranges', set: [{ subnet: '10.1.0.0/30' }, { subnet: '10.2.0.0/30' }], used: ['10.1.0.2', '10.2.0.2'], last: '10.1.0.2', want: null },
  ]
  it.each(cases)('$name', (c) => expect(pick(set(...c.set), used(...c.used), c.last)).toBe(c.want))

  it('hands out every allocatable address of a /28 exactly once, then none', () => {
    const s = set({ subnet: '10.1.0.0/28' })
    const u = new Set<bigint>()
    let last: bigint | null = null
    for (;;) {
      const p = pickAddress(s, u, last)
      if (!p) break
      expect(u.has(p.value)).toBe(false)
      u.add(p.value)
      last = p.value
    }
    expect([...u].map((x) => formatIp({ family: 4, value: x })).sort()).toEqual(
      Array.from({ length: 13 }, (_, i) => `10.1.0.${i + 2}`).sort(), // .2 .. .14: no .0, .1 (gateway), .15
    )
  })

  it('finds the one free address of a nearly full /64 without walking it', () => {
    const s = set({ subnet: 'fd00::/64' })
    const u = used('fd00::2', 'fd00::3', 'fd00::4')
    expect(pick(s, u, null)).toBe('fd00::5')
  })
})
