import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { enablePluginCompileCache, isPrivateDir, removeCompileCache } from './compile-cache.js'

describe('isPrivateDir: only a directory nobody else can write holds code this process runs', () => {
  let dir = ''
  afterEach(() => rmSync(dir, { recursive: true, force: true }))
  const make = () => (dir = mkdtempSync(join(tmpdir(), 'cinch-cc-')))

  it.each([
    ['0700, ours', (d: string) => chmodSync(d, 0o700), true],
    ['0755, ours', (d: string) => chmodSync(d, 0o755), true],
    ['group-writable', (d: string) => chmodSync(d, 0o770), false],
    ['world-writable', (d: string) => chmodSync(d, 0o777), false],
    ['owned by someone else', (d: string) => { chmodSync(d, 0o700); if (process.geteuid?.() === 0) chownSync(d, 65534, 65534); else throw new Error('needs root') }, false],
  ])('%s', (_name, prepare, expected) => {
    const d = join(make(), 'c')
    mkdirSync(d)
    prepare(d)
    expect(isPrivateDir(d)).toBe(expected)
  })

  it('a symlink to a private directory, a file, a missing path: no', () => {
    const base = make()
    mkdirSync(join(base, 'real'), { mode: 0o700 })
    symlinkSync(join(base, 'real'), join(base, 'link'))
    writeFileSync(join(base, 'file'), '')
    expect(isPrivateDir(join(base, 'link'))).toBe(false)
    expect(isPrivateDir(join(base, 'file'))).toBe(false)
    expect(isPrivateDir(join(base, 'missing'))).toBe(false)
  })
})

describe('enablePluginCompileCache never throws', () => {
  it('under a file (mkdir fails) and in an unwritable place', () => {
    const base = mkdtempSync(join(tmpdir(), 'cinch-cc-'))
    try {
      writeFileSync(join(base, 'file'), '')
      expect(() => enablePluginCompileCache(join(base, 'file', 'cache'))).not.toThrow()
      // Node's own recursive mkdir never returns on /proc: this once hung the plugin.
      expect(() => enablePluginCompileCache('/proc/cinch-no-such/cache')).not.toThrow()
      expect(() => enablePluginCompileCache(join(base, 'missing', 'parent', 'cache'))).not.toThrow()
    } finally {
      rmSync(base, { recursive: true, force: true })
    }
  })
})

describe('removeCompileCache removes only what looks like a compile cache', () => {
  let base = ''
  afterEach(() => rmSync(base, { recursive: true, force: true }))
  it('removes Node\'s cache layout and its empty parent; refuses and keeps anything else (a mistyped --cache-dir)', () => {
    base = mkdtempSync(join(tmpdir(), 'cinch-cc-'))
    const cache = join(base, 'cinch', 'compile-cache')
    mkdirSync(join(cache, 'v24.22.3-x64-964aae3f-0'), { recursive: true, mode: 0o700 })
    writeFileSync(join(cache, 'v24.22.3-x64-964aae3f-0', 'af5380ec'), 'code')
    const other = join(base, 'etc')
    mkdirSync(join(other, 'v24-not-quite'), { recursive: true, mode: 0o700 })
    writeFileSync(join(other, 'passwd'), 'keep me')
    expect(() => removeCompileCache(other)).toThrow(/does not look like a compile cache/)
    expect(existsSync(join(other, 'passwd'))).toBe(true)
    expect(removeCompileCache(cache)).toEqual([cache, join(base, 'cinch')])
    expect(existsSync(cache)).toBe(false)
  })
})
