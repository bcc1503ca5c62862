// derive (ir-records.ts): a record of the compiler's IR made from the last one's key and value
// lists and the keys a change touched, against the record written from scratch in sorted key order
// (as a fresh compile writes it): the same entries in the same order, the delta renderDiff reads,
// base itself when nothing differs, and the record still right when the lists lie.
import { describe, expect, test } from 'vitest'
import { derive, orderedOf, type Ordered } from './ir-records.js'
import { recordDeltaFrom } from './ir.js'
import { rng } from '../../test/kit/random.js'

const sortedRecord = (m: Map<string, number>) => Object.fromEntries([...m.keys()].sort().map((k) => [k, m.get(k)!]))

describe('derive', () => {
  for (const seed of [1, 2, 3]) {
    test(`seed ${seed}: 400 changes of up to 6 keys, from a record of up to 300`, () => {
      const r = rng(seed)
      // Names as the IR's: prefixes, dashes, slashes (every character order matters to the sort).
      const name = () => `${['pod-ingress', 'pod-egress', 'np', 'ns-1/'][r(4)]}-${r(40)}${['', '-a', '/b', 'Z'][r(4)]}`
      const truth = new Map<string, number>()
      for (let i = 0; i < 200; i++) truth.set(name(), r(5))
      let ordered: Ordered<number> = orderedOf(sortedRecord(truth))
      let same = 0
      for (let step = 0; step < 400; step++) {
        const touched = new Set<string>()
        for (let k = r(7); k > 0; k--) {
          const n = r(3) ? name() : [...truth.keys()][r(truth.size)] ?? name()
          touched.add(n)
          if (r(3) === 0) truth.delete(n)
          else if (r(2)) truth.set(n, r(5))
        }
        const base = ordered
        ordered = derive(base, touched, (k) => truth.get(k))
        const want = sortedRecord(truth)
        expect(JSON.stringify(ordered.rec), `step ${step}`).toBe(JSON.stringify(want))
        expect(ordered.keys).toEqual(Object.keys(want))
        expect(ordered.vals).toEqual(Object.values(want))
        if (JSON.stringify(base.rec) === JSON.stringify(want)) { expect(ordered).toBe(base); same++; continue }
        const d = recordDeltaFrom(base.rec, ordered.rec)!
        const was = base.rec as Record<string, number>
        expect(d.changed).toEqual(Object.keys(want).filter((k) => was[k] !== want[k] || !Object.hasOwn(was, k)))
        expect(d.removed).toEqual(Object.keys(was).filter((k) => !Object.hasOwn(want, k)))
      }
      expect(same).toBeGreaterThan(0)
    })
  }

  test('lists that disagree with their record: the record is still right', () => {
    const rec = { a: 1, c: 3, e: 5 }
    const lying: Ordered<number> = { rec, keys: ['a', 'e'], vals: [1, 5] }
    const next = derive(lying, ['c', 'd'], (k) => (k === 'd' ? 4 : undefined))
    expect(JSON.stringify(next.rec)).toBe(JSON.stringify({ a: 1, d: 4, e: 5 }))
  })
})
