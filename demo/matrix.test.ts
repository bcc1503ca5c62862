import { describe, expect, it } from 'vitest'
import { changes, renderMatrix, type Matrix } from './matrix.js'

const before: Matrix = { labels: ['a/x', 'b/long-name'], ok: [[true, true], [true, true]] }
const after: Matrix = { labels: ['a/x', 'b/long-name'], ok: [[true, true], [false, true]] }

describe('renderMatrix', () => {
  it('one row per source, one column per destination, the diagonal dotted', () => {
    expect(renderMatrix(before)).toBe(
      'from \\ to    a/x  b/long-name\n' +
      'a/x          ·    ✓\n' +
      'b/long-name  ✓    ·\n')
  })
  it('marks changed cells as was→now', () => {
    expect(renderMatrix(after, { before }).split('\n')[2]).toBe('b/long-name  ✓→✗  ·')
  })
  it('colours without breaking the alignment', () => {
    const plain = renderMatrix(after, { before })
    // eslint-disable-next-line no-control-regex
    expect(renderMatrix(after, { before, color: true }).replace(/\x1b\[\d+m/g, '')).toBe(plain)
  })
})

describe('changes', () => {
  it('lists the cells that differ in words', () => {
    expect(changes(before, after)).toEqual(['b/long-name → a/x: allowed → blocked'])
  })
})
