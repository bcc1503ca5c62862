import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { DiskStore } from './store-disk.js'

const dirs: string[] = []
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

function store(): DiskStore {
  const dir = mkdtempSync(join(tmpdir(), 'cinch-store-'))
  dirs.push(dir)
  return new DiskStore(dir, 'net')
}

describe('DiskStore.reserve', () => {
  it('writes host-local\'s two lines and reads them back', () => {
    const s = store()
    expect(s.reserve({ ip: '10.1.0.2', containerId: 'c1', ifName: 'eth0' }, '0')).toBe(true)
    expect(s.list()).toEqual([{ ip: '10.1.0.2', containerId: 'c1', ifName: 'eth0' }])
  })
  // Issue 8.9: "c1\neth0" as an ID would read back as owner c1/eth0 and the real owner's DEL would never free it.
  it.each([['c1\neth0', 'eth0'], ['c1', 'eth0\r\nx'], ['c1\0', 'eth0']])('refuses an owner with a line break (%j / %j) and writes nothing', (containerId, ifName) => {
    const s = store()
    expect(() => s.reserve({ ip: '10.1.0.2', containerId, ifName }, '0')).toThrow(/line break/)
    expect(readdirSync(s.dir)).toEqual([])
  })
})
