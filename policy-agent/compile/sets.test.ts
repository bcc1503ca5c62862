// spliceSorted (sets.ts), the step that turns a set's last sorted elements into the next ones after
// a change, against the plain way (filter, concat, sort) over random lists and changes.
import { describe, expect, test } from 'vitest'
import { spliceSorted } from './sets.js'
import { rng } from '../../test/kit/random.js'

const plain = (base: string[], removed: string[], added: string[]) => {
  const gone = new Set(removed)
  return [...base.filter((e) => !gone.has(e)), ...added.filter((e) => !base.includes(e))].sort()
}

describe('spliceSorted', () => {
  test('3,000 random sets and changes: the same list as filter + sort', () => {
    const r = rng(7)
    // Addresses and tuples as sets hold them; a shared prefix makes the comparisons real.
    const el = () => [`10.64.${r(4)}.${r(256)}`, `fd00:10::${r(4096).toString(16)}`, `10.64.0.${r(256)} . tcp . ${r(4) * 1000}`][r(3)]!
    for (let n = 0; n < 3000; n++) {
      const base = [...new Set([...Array(r(40))].map(el))].sort()
      const removed = base.filter(() => r(6) === 0)
      const added = [...new Set([...Array(r(4))].map(el))].filter((e) => !base.includes(e)).sort()
      expect(spliceSorted(base, removed, added), `base ${base.length}, -${removed.length}, +${added.length}`).toEqual(plain(base, removed, added))
    }
  })

  test('changes at both ends, everything removed, nothing to do', () => {
    expect(spliceSorted(['b', 'c'], [], ['a', 'd'])).toEqual(['a', 'b', 'c', 'd'])
    expect(spliceSorted(['a', 'b', 'c'], ['a', 'c'], [])).toEqual(['b'])
    expect(spliceSorted(['a', 'b'], ['a', 'b'], ['c'])).toEqual(['c'])
    expect(spliceSorted([], [], [])).toEqual([])
    const base = ['a', 'b']
    expect(spliceSorted(base, [], [])).not.toBe(base) // a new list: the IR's arrays are never shared
  })

  test('bookkeeping out of step (removed not there, added already there): still the right list', () => {
    expect(spliceSorted(['a', 'c'], ['b'], [])).toEqual(['a', 'c'])
    expect(spliceSorted(['a', 'c'], [], ['c', 'd'])).toEqual(['a', 'c', 'd'])
  })
})
