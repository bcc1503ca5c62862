import { describe, expect, it } from 'vitest'
import { compileSelector } from './selector.js'
import type { LabelSelector } from './cluster.js'

// metav1.LabelSelector semantics, written out plainly: what the compiled predicates must agree with.
function reference(sel: LabelSelector, labels: Record<string, string>): boolean {
  const has = (k: string) => Object.prototype.hasOwnProperty.call(labels, k)
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (!has(k) || labels[k] !== v) return false
  for (const e of sel.matchExpressions ?? []) {
    const values = e.values ?? []
    const ok = e.operator === 'In' ? has(e.key) && values.includes(labels[e.key]!)
      : e.operator === 'NotIn' ? !has(e.key) || !values.includes(labels[e.key]!)
        : e.operator === 'Exists' ? has(e.key) : !has(e.key)
    if (!ok) return false
  }
  return true
}

describe('compileSelector matches', () => {
  const cases: { name: string; sel: LabelSelector; yes: Record<string, string>[]; no: Record<string, string>[] }[] = [
    { name: 'empty selects all', sel: {}, yes: [{}, { a: '1' }], no: [] },
    { name: 'one key=value', sel: { matchLabels: { team: 't1' } }, yes: [{ team: 't1' }, { team: 't1', x: 'y' }], no: [{}, { team: 't2' }, { Team: 't1' }] },
    { name: 'two key=value', sel: { matchLabels: { a: '1', b: '2' } }, yes: [{ a: '1', b: '2' }], no: [{ a: '1' }, { b: '2' }, { a: '1', b: '3' }] },
    { name: 'In of several', sel: { matchExpressions: [{ key: 'v', operator: 'In', values: ['x', 'y'] }] }, yes: [{ v: 'x' }, { v: 'y' }], no: [{}, { v: 'z' }] },
    { name: 'NotIn matches a missing key', sel: { matchExpressions: [{ key: 'v', operator: 'NotIn', values: ['x'] }] }, yes: [{}, { v: 'y' }], no: [{ v: 'x' }] },
    { name: 'Exists', sel: { matchExpressions: [{ key: 'v', operator: 'Exists' }] }, yes: [{ v: '' }], no: [{}] },
    { name: 'DoesNotExist', sel: { matchExpressions: [{ key: 'v', operator: 'DoesNotExist' }] }, yes: [{}], no: [{ v: '' }] },
    { name: 'an empty value', sel: { matchLabels: { v: '' } }, yes: [{ v: '' }], no: [{}] },
    // Inherited properties are no labels: labels[key] reads them all the same.
    { name: 'constructor is not a label', sel: { matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }, yes: [{ constructor: 'x' }], no: [{}] },
    { name: 'NotIn of an inherited key', sel: { matchExpressions: [{ key: 'toString', operator: 'NotIn', values: ['x'] }] }, yes: [{}], no: [{ toString: 'x' }] },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const s = compileSelector(c.sel)
      for (const l of c.yes) expect(s.matches(l), JSON.stringify(l)).toBe(true)
      for (const l of c.no) expect(s.matches(l), JSON.stringify(l)).toBe(false)
      for (const l of [...c.yes, ...c.no]) expect(s.matches(Object.assign(Object.create(null), l)), `null prototype ${JSON.stringify(l)}`).toBe(reference(c.sel, l))
    })
  }

  it('a key=value on the prototype is no label (read first, owned only on a match)', () => {
    const proto = Object.prototype as Record<string, unknown>
    proto.team = 't1'
    try {
      expect(compileSelector({ matchLabels: { team: 't1' } }).matches({})).toBe(false)
      expect(compileSelector({ matchExpressions: [{ key: 'team', operator: 'In', values: ['t1', 't2'] }] }).matches({})).toBe(false)
      expect(compileSelector({ matchLabels: { team: 't1', a: '1' } }).matches({ a: '1' })).toBe(false)
      expect(compileSelector({ matchExpressions: [{ key: 'team', operator: 'NotIn', values: ['t1'] }] }).matches({})).toBe(true)
    } finally {
      delete proto.team
    }
  })

  it('agrees with the plain reading on random selectors and label sets', () => {
    let seed = 7
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n)
    const keys = ['a', 'b', 'c'], values = ['1', '2', '3']
    const ops = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const
    for (let i = 0; i < 2000; i++) {
      const sel: LabelSelector = { matchLabels: {}, matchExpressions: [] }
      for (let j = rnd(3); j > 0; j--) sel.matchLabels![keys[rnd(3)]!] = values[rnd(3)]!
      for (let j = rnd(3); j > 0; j--) {
        const op = ops[rnd(4)]!
        sel.matchExpressions!.push({ key: keys[rnd(3)]!, operator: op, ...(op === 'In' || op === 'NotIn' ? { values: values.slice(0, 1 + rnd(3)) } : {}) })
      }
      const labels: Record<string, string> = {}
      for (const k of keys) if (rnd(2)) labels[k] = values[rnd(3)]!
      expect(compileSelector(sel).matches(labels), `${JSON.stringify(sel)} ${JSON.stringify(labels)}`).toBe(reference(sel, labels))
    }
  })

  it('eq names the one key=value a selector is, and nothing else', () => {
    expect(compileSelector({ matchLabels: { team: 't1' } }).eq).toEqual({ key: 'team', value: 't1' })
    expect(compileSelector({ matchExpressions: [{ key: 'team', operator: 'In', values: ['t1'] }] }).eq).toEqual({ key: 'team', value: 't1' })
    for (const sel of <LabelSelector[]>[{}, { matchLabels: { a: '1', b: '2' } }, { matchExpressions: [{ key: 'a', operator: 'In', values: ['1', '2'] }] },
      { matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['1'] }] }, { matchExpressions: [{ key: 'a', operator: 'Exists' }] },
      { matchLabels: { a: '1' }, matchExpressions: [{ key: 'b', operator: 'Exists' }] }]) {
      expect(compileSelector(sel).eq, JSON.stringify(sel)).toBeUndefined()
    }
  })
})
