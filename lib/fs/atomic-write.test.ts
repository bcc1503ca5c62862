import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { removeAbandonedTempFiles, writeFileAtomic, type Durability } from './atomic-write.js'

let dir = ''
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'cinch-atomic-')) })
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('writeFileAtomic', () => {
  it.each<Durability>(['none', 'file', 'full'])('replaces the file whole and leaves no temp file (%s)', (durability) => {
    const path = join(dir, 'a.json')
    writeFileSync(path, 'old')
    expect(writeFileAtomic(path, 'new', { durability })).toBe(true)
    expect(readFileSync(path, 'utf8')).toBe('new')
    expect(readdirSync(dir)).toEqual(['a.json'])
  })

  it('writes chunks one after another as the file (a snapshot is never joined into one string)', () => {
    const path = join(dir, 'big.json')
    const chunks = function* () { for (let i = 0; i < 300; i++) yield `${'é'.repeat(i)}line ${i}\n` }
    expect(writeFileAtomic(path, chunks(), { durability: 'none' })).toBe(true)
    expect(readFileSync(path, 'utf8')).toBe([...chunks()].join(''))
    expect(readdirSync(dir)).toEqual(['big.json'])
  })

  // The pieces go through one buffer of 1 MiB: across its end, multi-byte and surrogate pairs at
  // every offset, and a piece larger than it, the file is still exactly their text.
  it('writes pieces that fill the write buffer many times, and one larger than it, byte for byte', () => {
    const path = join(dir, 'pieces.json')
    const pieces = function* () {
      for (let i = 0; i < 9000; i++) yield `${'é😀a'.repeat(i % 97)}${i}\n`
      yield 'ü'.repeat(700_000) // 1.4 MB of UTF-8 in one piece
      for (let i = 0; i < 2000; i++) yield `😀${i}\n`
    }
    expect(writeFileAtomic(path, pieces(), { durability: 'none' })).toBe(true)
    const want = Buffer.from([...pieces()].join(''))
    expect(want.length).toBeGreaterThan(3 << 20)
    expect(readFileSync(path).equals(want)).toBe(true)
  })

  it('sets the mode exactly, whatever the umask', () => {
    const old = process.umask(0o077)
    try {
      writeFileAtomic(join(dir, 'x'), '#!/bin/sh\n', { durability: 'full', mode: 0o755 })
    } finally {
      process.umask(old)
    }
    expect(statSync(join(dir, 'x')).mode & 0o777).toBe(0o755)
  })

  it('exclusive: the first writer wins, a second gets false and changes nothing', () => {
    const path = join(dir, '10.0.0.2')
    expect(writeFileAtomic(path, 'first', { durability: 'full', exclusive: true })).toBe(true)
    expect(writeFileAtomic(path, 'second', { durability: 'full', exclusive: true })).toBe(false)
    expect(readFileSync(path, 'utf8')).toBe('first')
    expect(readdirSync(dir)).toEqual(['10.0.0.2'])
  })

  it('a failed write names the path and removes its temp file', () => {
    const path = join(dir, 'sub')
    mkdirSync(path) // rename(2) of a file over a directory fails
    expect(() => writeFileAtomic(path, 'x', { durability: 'file' })).toThrow(`write ${path}`)
    expect(readdirSync(dir)).toEqual(['sub'])
  })

  it('uses the temp name given, and refuses one in another directory', () => {
    const path = join(dir, 'f')
    writeFileAtomic(path, 'x', { durability: 'none', tmp: join(dir, '.cinch-tmp.1.f') })
    expect(readdirSync(dir)).toEqual(['f'])
    expect(() => writeFileAtomic(path, 'x', { durability: 'none', tmp: join(tmpdir(), 'elsewhere') })).toThrow(/not in the same directory/)
  })
})

describe('removeAbandonedTempFiles', () => {
  // A pid that no process has any more: a child that has exited and been reaped.
  const deadPid = (): number => spawnSync('true').pid as number
  const old = (name: string) => {
    writeFileSync(join(dir, name), '{"half":')
    const t = new Date(Date.now() - 120_000)
    utimesSync(join(dir, name), t, t)
  }

  it('removes a dead writer\'s temp file older than the age, and nothing else', () => {
    const dead = deadPid()
    old(`.c1_eth0.json.${dead}.a1b2c3.tmp`) // abandoned: goes
    old(`.c2_eth0.json.${process.pid}.d4e5f6.tmp`) // its writer lives: stays
    writeFileSync(join(dir, `.c3_eth0.json.${dead}.0f0f0f.tmp`), 'x') // too young: another pid namespace's writer may be mid-write
    old('c4_eth0.json') // a record
    old(`.c5_eth0.json.${dead}.a1b2c3.tmp.bak`) // not tempPathBeside's name
    mkdirSync(join(dir, `.c6_eth0.json.${dead}.a1b2c3.tmp`)) // not a file
    expect(removeAbandonedTempFiles(dir)).toEqual([`.c1_eth0.json.${dead}.a1b2c3.tmp`])
    expect(readdirSync(dir).sort()).toEqual([
      `.c2_eth0.json.${process.pid}.d4e5f6.tmp`, `.c3_eth0.json.${dead}.0f0f0f.tmp`, `.c5_eth0.json.${dead}.a1b2c3.tmp.bak`,
      `.c6_eth0.json.${dead}.a1b2c3.tmp`, 'c4_eth0.json',
    ].sort())
  })

  it('a missing directory is no error', () => {
    expect(removeAbandonedTempFiles(join(dir, 'nope'))).toEqual([])
  })
})
