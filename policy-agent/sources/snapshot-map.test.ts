// ShardedMap and its snapshots: every way of reading a snapshot gives the same entries, in the same
// order, and later writes never change a snapshot taken before them.
import { describe, expect, it } from 'vitest'
import { ShardedMap } from './snapshot-map.js'

describe('SnapshotMap', () => {
  it('entries, keys, values and forEach agree; a snapshot stays as it was taken', () => {
    const m = new ShardedMap<number>()
    const plain = new Map<string, number>()
    for (let i = 0; i < 1000; i++) { m.set(`ns${i % 37}/p${i}`, i); plain.set(`ns${i % 37}/p${i}`, i) }
    const snap = m.snapshot()
    const entries = [...snap.entries()]
    expect(new Map(entries)).toEqual(plain)
    expect([...snap.keys()]).toEqual(entries.map(([k]) => k))
    expect([...snap.values()]).toEqual(entries.map(([, v]) => v))
    const seen: [string, number][] = []
    snap.forEach((v, k, map) => { expect(map).toBe(snap); seen.push([k, v]) })
    expect(seen).toEqual(entries)
    expect(snap.size).toBe(1000)
    // Writes after it: the snapshot is unchanged, the next one sees them.
    m.delete('ns0/p0')
    m.set('ns1/p1', -1)
    m.set('new/x', 5)
    expect([...snap.entries()]).toEqual(entries)
    expect(snap.get('ns1/p1')).toBe(1)
    const next = m.snapshot()
    expect(next.size).toBe(1000)
    expect(next.get('ns1/p1')).toBe(-1)
    expect(next.has('ns0/p0')).toBe(false)
    expect(() => (next as Map<string, number>).set('a', 1)).toThrow(/read-only/)
  })
})
