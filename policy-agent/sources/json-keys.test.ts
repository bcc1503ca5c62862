// parseApiJson (json-keys.ts): what JSON.parse gives for any text without a key past what V8
// hashes whole, such keys renamed and nothing else touched, text that is not JSON still refused,
// and a tenant's many long keys of one length parsed in what their bytes cost, not in the
// k²/2 comparisons V8's string table makes of them.
import { describe, expect, test } from 'vitest'
import { parseApiJson, withLongKeysRenamed } from './json-keys.js'
import { MAX_HASHED_LENGTH } from '../model/text-keys.js'
import { rng } from '../../test/kit/random.js'

const long = (c: string, n = MAX_HASHED_LENGTH + 1) => c.repeat(n)

describe('parseApiJson', () => {
  test('random documents without long keys: what JSON.parse gives, escapes, long values and all', () => {
    const r = rng(3)
    const str = () => ['plain', 'a"quote', 'back\\slash', 'both\\"', '\\\\"', 'ü ✓', '\n\t', long('v', r(2) ? 10 : MAX_HASHED_LENGTH + 50)][r(8)]!
    const value = (d: number): unknown => {
      const k = d > 3 ? r(4) : r(6)
      if (k === 0) return str()
      if (k === 1) return r(1000) - 500
      if (k === 2) return [true, false, null][r(3)]
      if (k === 3) return 1.5
      if (k === 4) return Array.from({ length: r(4) }, () => value(d + 1))
      return Object.fromEntries(Array.from({ length: r(4) }, (_, i) => [`${str().slice(0, 40)}${i}`, value(d + 1)]))
    }
    for (let n = 0; n < 300; n++) {
      const doc = { items: [value(0), value(0)], s: str() }
      for (const text of [JSON.stringify(doc), JSON.stringify(doc, null, 2)]) {
        expect(withLongKeysRenamed(text)).toBe(text)
        expect(parseApiJson(text)).toEqual(JSON.parse(text))
      }
    }
  })

  test('a key past the bound is renamed, escaped quotes in it or not; its value and the rest are kept', () => {
    const k1 = long('a'), k2 = `k:{"name":"${long('E')}"}`, v = long('x') // a long value is not a key
    const text = JSON.stringify({ metadata: { name: 'p', labels: { app: 'web' }, managedFields: [{ fieldsV1: { [k1]: { [k2]: {} }, 'f:spec': { [`${k2}\\`]: 1 } } }] }, spec: { v } })
    expect(parseApiJson(text)).toEqual({ metadata: { name: 'p', labels: { app: 'web' }, managedFields: [{ fieldsV1: { '\u00000': { '\u00001': {} }, 'f:spec': { '\u00002': 1 } } }] }, spec: { v } })
    // Whitespace before the colon still makes a key; a key of exactly the bound is kept.
    expect(parseApiJson(`{"${long('b')}" \n : 1, "${long('c', MAX_HASHED_LENGTH)}": 2}`)).toEqual({ '\u00000': 1, [long('c', MAX_HASHED_LENGTH)]: 2 })
  })

  test('text that is not JSON is refused as JSON.parse refuses it', () => {
    for (const bad of [`{"${long('a')}": }`, `{"${long('a')}": 1`, `{"${long('a')}`, `["${long('a')}" : 1]x`, `{${long('a')}: 1}`]) {
      expect(() => parseApiJson(bad)).toThrow(SyntaxError)
    }
  })

  test('6,000 watch events, each with a distinct managedFields key of 20,000 characters of one length, parse in what their bytes cost', () => {
    // JSON.parse alone: ~3-4.5 s for 3,000 of them here, growing with the square of their number.
    const base = long('E', 20_000 - 8)
    for (let i = 0; i < 6000; i++) {
      const text = `{"type":"MODIFIED","object":{"metadata":{"name":"p${i}","managedFields":[{"fieldsV1":{"f:spec":{"f:containers":{"k:{\\"name\\":\\"c\\"}":{"f:env":{"k:{\\"name\\":\\"${base}${String(i).padStart(8, '0')}\\"}":{}}}}}}}]}}}`
      const e = parseApiJson(text) as { object: { metadata: { name: string } } }
      expect(e.object.metadata.name).toBe(`p${i}`)
    }
  }, 5_000)
})
