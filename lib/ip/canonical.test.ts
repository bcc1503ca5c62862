import { describe, expect, it } from 'vitest'
import { LENIENT, canonicalIp, formatIp, parseIp } from './index.js'
import { canonicalAddress, isCanonicalV4, isCanonicalV6 } from './canonical.js'

/** A random v6 address as text: random zero runs, random compression, case and leading zeros. */
function randomV6(rnd: () => number): string {
  const groups = Array.from({ length: 8 }, () => (rnd() < 0.45 ? 0 : Math.floor(rnd() * 0x10000) >> (rnd() < 0.5 ? 12 : 0)))
  const text = groups.map((g) => {
    let h = g.toString(16)
    if (rnd() < 0.1) h = h.padStart(4, '0')
    return rnd() < 0.1 ? h.toUpperCase() : h
  })
  if (rnd() < 0.6) {
    // compress some run of zero groups (any, not only the longest)
    const zeros = text.map((t, i) => (/^0+$/.test(t) ? i : -1)).filter((i) => i >= 0)
    if (zeros.length) {
      const from = zeros[Math.floor(rnd() * zeros.length)]!
      let to = from
      while (to + 1 < 8 && /^0+$/.test(text[to + 1]!) && rnd() < 0.8) to++
      return `${text.slice(0, from).join(':')}::${text.slice(to + 1).join(':')}`
    }
  }
  return text.join(':')
}

function seeded(seed: number): () => number {
  let s = seed >>> 0
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32)
}

describe('canonical addresses', () => {
  it('v6: true exactly when formatIp(parseIp(s)) === s, over 200,000 random texts', () => {
    const rnd = seeded(14)
    let canonical = 0
    for (let k = 0; k < 200_000; k++) {
      const s = randomV6(rnd)
      const ip = parseIp(s, LENIENT)
      const expected = ip !== null && ip.family === 6 && formatIp(ip) === s
      if (isCanonicalV6(s) !== expected) throw new Error(`${s}: isCanonicalV6 ${!expected}, formatIp ${ip && formatIp(ip)}`)
      if (expected) canonical++
    }
    expect(canonical).toBeGreaterThan(10_000) // both answers were exercised
  })

  it('v6: the edge cases', () => {
    for (const s of ['::', '::1', '1::', 'fd00:96::1a', '1:0:0:2::3', '1::2:0:0:3', '2001:db8::1']) expect(isCanonicalV6(s), s).toBe(true)
    for (const s of ['::0:1', '1:0::2', '0:0::1', '1::0', 'FD00::1', 'fd00::01', '1:2:3:4:5:6:7::', '1:2:3:4:5:6::7:8', '1:0:0:2:0:0:0:3', '1::2::3', '::ffff:1.2.3.4', 'fd00::1/64', '', ':', ':::', '1:', ':1', ':1::', '1:::2', '12345::', 'g::1', '1::2:', '::1:0', '0::', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', 'fd00:0:0:0:0:0:0:1a'])
      expect(isCanonicalV6(s), s).toBe(s !== '' && formatIp(parseIp(s, LENIENT) ?? parseIp('::', LENIENT)!) === s)
  })

  it('canonicalAddress: a canonical text as it is, any other address as formatIp writes it, junk null', () => {
    expect(canonicalAddress('fd00::1')).toBe('fd00::1')
    expect(canonicalAddress('FD00:0::1')).toBe('fd00::1')
    expect(canonicalAddress('010.0.0.1')).toBe(canonicalIp('010.0.0.1', LENIENT))
    expect(canonicalAddress('2001:db8::1/64')).toBe('2001:db8::1')
    expect(canonicalAddress('::ffff:1.2.3.4')).toBe(formatIp(parseIp('::ffff:1.2.3.4', LENIENT)!))
    for (const s of ['', 'not-an-ip', '1.2.3', '1::2::3']) expect(canonicalAddress(s), s).toBeNull()
  })

  it('v4: only dotted decimal without leading zeros', () => {
    for (const s of ['10.0.0.1', '0.0.0.0', '255.255.255.255']) expect(isCanonicalV4(s)).toBe(true)
    for (const s of ['010.0.0.1', '256.0.0.1', '1.2.3', '1.2.3.4/32', ' 1.2.3.4', '1.2.3.4\n']) expect(isCanonicalV4(s)).toBe(false)
  })
})
