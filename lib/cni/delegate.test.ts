import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { delegateAdd } from './delegate.js'

const dir = mkdtempSync(join(tmpdir(), 'cinch-delegate-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const env = { command: 'ADD' as const, containerId: 'c1', netns: '/x', ifName: 'eth0', args: {}, path: [dir] }

function plugin(name: string, script: string): void {
  writeFileSync(join(dir, name), `#!/bin/sh\n${script}\n`)
  chmodSync(join(dir, name), 0o755)
}

describe('delegateAdd', () => {
  it('returns the delegated plugin\'s result', async () => {
    plugin('ok-ipam', `cat >/dev/null; echo '{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2/24"}]}'`)
    expect(await delegateAdd('ok-ipam', { cniVersion: '1.0.0' }, env)).toEqual({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }] })
  })
  it('passes the delegated plugin\'s error object on with its code', async () => {
    plugin('busy-ipam', `cat >/dev/null; echo '{"code":11,"msg":"store busy"}'; exit 1`)
    await expect(delegateAdd('busy-ipam', { cniVersion: '1.0.0' }, env)).rejects.toMatchObject({ code: 11, msg: 'busy-ipam: store busy' })
  })
  it('kills a plugin that prints without end instead of buffering it', async () => {
    plugin('chatty-ipam', 'cat >/dev/null; exec yes')
    await expect(delegateAdd('chatty-ipam', { cniVersion: '1.0.0' }, env)).rejects.toMatchObject({ code: 999, msg: expect.stringMatching(/signal SIGKILL \(printed more than/) })
  })
  it('kills a plugin that outlives timeoutMs and fails with code 11, even when a grandchild holds its stdout', async () => {
    // The backgrounded sleep keeps the pipe open for 10 s after its parent is killed: 'close' waits
    // for it. The bound (5 s) leaves the answer (~0.2 s) room on a loaded machine, and is still
    // half the hold (a 3 s hold against a 2.5 s bound was too close to call under CI's load).
    const grandchild = join(dir, 'hung.pid')
    plugin('hung-ipam', `cat >/dev/null; sleep 10 & echo $! > ${grandchild}; exec sleep 618`)
    const t0 = Date.now()
    try {
      await expect(delegateAdd('hung-ipam', { cniVersion: '1.0.0' }, env, { timeoutMs: 200 })).rejects.toMatchObject({ code: 11, msg: 'hung-ipam ADD did not finish within 200 ms' })
      expect(Date.now() - t0).toBeLessThan(5000) // not the 10 s the grandchild holds the pipe
    } finally {
      try { process.kill(Number(readFileSync(grandchild, 'utf8')), 'SIGKILL') } catch { /* gone already */ }
    }
  })
  it('refuses a result whose addresses do not parse (code 6)', async () => {
    plugin('odd-ipam', `cat >/dev/null; echo '{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2/24 } flush ruleset"}]}'`)
    await expect(delegateAdd('odd-ipam', { cniVersion: '1.0.0' }, env)).rejects.toMatchObject({ code: 6 })
  })
})
