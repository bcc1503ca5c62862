import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { collectYoungWhenFull, youngGenerationFill } from './idle-gc.js'

// Short-lived objects, as a sync's garbage: enough to fill the young generation past `fill`.
function fillYoung(fill: number): void {
  let keep: unknown[] = []
  for (let i = 0; i < 1e7 && youngGenerationFill() < fill; i++) {
    keep.push({ i, s: `x${i}` })
    if (keep.length > 1000) keep = []
  }
}

describe('collectYoungWhenFull', () => {
  it('runs a minor GC once the young generation is past the threshold: it is nearly empty after', () => {
    fillYoung(0.6)
    expect(youngGenerationFill()).toBeGreaterThanOrEqual(0.5)
    expect(collectYoungWhenFull(0.5)).toBe(true)
    expect(youngGenerationFill()).toBeLessThan(0.3)
  })

  it('leaves a young generation under the threshold alone', () => {
    collectYoungWhenFull(0) // start empty
    const before = youngGenerationFill()
    expect(before).toBeLessThan(0.5)
    expect(collectYoungWhenFull(0.5)).toBe(false)
    expect(youngGenerationFill()).toBeGreaterThanOrEqual(before)
  })

  it('exposes no global gc to other code', () => {
    collectYoungWhenFull(0)
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined()
    // The main context's global never gains one (made at start); a context made later would, had
    // --expose-gc been left set.
    expect(runInNewContext('typeof gc')).toBe('undefined')
  })
})
