import { describe, expect, it } from 'vitest'
import { PREFIX_MAX_BYTES, VALID, decodePrefix, encodePrefix, refId, type LogPoint } from './prefix.js'

const id = refId('np', 'shop/db-lockdown')

describe('refId', () => {
  it('is 12 hex digits, stable, and different per kind', () => {
    expect(id).toMatch(/^[0-9a-f]{12}$/)
    expect(refId('np', 'shop/db-lockdown')).toBe(id)
    expect(refId('cnp', 'shop/db-lockdown')).not.toBe(id)
    // A name of any length or content still gives 12 hex digits (nothing of it reaches nft text).
    expect(refId('np', `${'a'.repeat(63)}/${'b'.repeat(253)} " { } ;`)).toMatch(/^[0-9a-f]{12}$/)
  })
})

describe('encodePrefix / decodePrefix', () => {
  const every: LogPoint[] = []
  for (const [tier, hits] of Object.entries(VALID)) {
    for (const [hit, actions] of Object.entries(hits)) {
      for (const action of actions!) {
        for (const direction of ['ingress', 'egress'] as const) {
          every.push({ direction, tier, hit, action, id, ...(hit === 'rule' ? { rule: 65535 } : {}) } as LogPoint)
        }
      }
    }
  }
  it('round-trips every valid combination, within nft\'s 127 bytes', () => {
    expect(every.length).toBe(2 * (1 + 1 + 3 + 3 + 1 + 1))
    for (const p of every) {
      const s = encodePrefix(p)
      expect(Buffer.byteLength(s)).toBeLessThanOrEqual(30)
      expect(Buffer.byteLength(s)).toBeLessThanOrEqual(PREFIX_MAX_BYTES)
      expect(decodePrefix(s)).toEqual(p)
    }
  })
  it('spells the documented examples', () => {
    expect(encodePrefix({ direction: 'ingress', tier: 'networkpolicy', hit: 'rule', action: 'allow', id: '0123456789ab', rule: 3 })).toBe('cinch1:inrA:0123456789ab:3')
    expect(encodePrefix({ direction: 'egress', tier: 'networkpolicy', hit: 'end', action: 'deny', id: 'fedcba987654' })).toBe('cinch1:enxD:fedcba987654')
    expect(encodePrefix({ direction: 'ingress', tier: 'audit', hit: 'end', action: 'would-deny', id: 'fedcba987654' })).toBe('cinch1:iuxW:fedcba987654')
  })
  it('refuses to encode what it could not decode', () => {
    const base = { direction: 'ingress', id } as const
    expect(() => encodePrefix({ ...base, tier: 'networkpolicy', hit: 'rule', action: 'deny', rule: 0 })).toThrow(/combination/)
    expect(() => encodePrefix({ ...base, tier: 'admin', hit: 'end', action: 'allow' })).toThrow(/combination/)
    expect(() => encodePrefix({ ...base, tier: 'networkpolicy', hit: 'rule', action: 'allow' })).toThrow(/required/)
    expect(() => encodePrefix({ ...base, tier: 'networkpolicy', hit: 'end', action: 'deny', rule: 1 })).toThrow(/only for rule/)
    expect(() => encodePrefix({ ...base, tier: 'networkpolicy', hit: 'rule', action: 'allow', rule: 65536 })).toThrow(/0\.\.65535/)
    expect(() => encodePrefix({ ...base, tier: 'networkpolicy', hit: 'rule', action: 'allow', rule: 1.5 })).toThrow()
    expect(() => encodePrefix({ direction: 'ingress', id: 'ABCDEF012345', tier: 'audit', hit: 'end', action: 'would-deny' })).toThrow(/hex/)
  })
  it.each([
    ['another tool\'s prefix', 'DROP IN: '],
    ['a future version', 'cinch2:inrA:0123456789ab:3'],
    ['an unknown letter', 'cinch1:izrA:0123456789ab:3'],
    ['a rule hit without index', 'cinch1:inrA:0123456789ab'],
    ['an end hit with an index', 'cinch1:inxD:0123456789ab:3'],
    ['a leading zero', 'cinch1:inrA:0123456789ab:03'],
    ['an index over 65535', 'cinch1:inrA:0123456789ab:65536'],
    ['a short id', 'cinch1:inrA:0123456789a:3'],
    ['upper-case hex', 'cinch1:inrA:0123456789AB:3'],
    ['trailing bytes', 'cinch1:inrA:0123456789ab:3 '],
    ['a newline', 'cinch1:inrA:0123456789ab:3\n'],
    ['an invalid combination (NetworkPolicy rule deny)', 'cinch1:inrD:0123456789ab:3'],
    ['an invalid combination (audit rule)', 'cinch1:iurW:0123456789ab:3'],
    ['empty', ''],
  ])('decodes %s as nothing', (_, s) => {
    expect(decodePrefix(s)).toBeUndefined()
  })
})
