import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { sha256Hex } from './hash.js'

describe('sha256Hex', () => {
  // Host veth names must not change across an upgrade: DEL recomputes the name of a veth an older
  // build created, so the digest must be node:crypto's, byte for byte, for any text.
  it('is node:crypto\'s SHA-256 for ASCII, UTF-8 and long texts', () => {
    const texts = ['', 'abc', 'c0ffee/eth0', 'ünïcødé/☃', '\u0000\u00ff', 'x'.repeat(10_000)]
    for (let i = 0; i < 200; i++) texts.push(Array.from({ length: i }, () => String.fromCodePoint(Math.floor(Math.random() * 0xd7ff))).join(''))
    for (const t of texts) expect(sha256Hex(t)).toBe(createHash('sha256').update(t).digest('hex'))
  })
})
