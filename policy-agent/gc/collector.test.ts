// The leak collector's stop: it resolves only once a plugin its run started has exited, so a
// stopping agent does not leave one running alone (it wrote the IPAM store's lock file into a
// directory its caller had already removed). The IPAM plugin here is a script that marks its start
// and its end.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { startLeakCollector } from './collector.js'
import { waitFor } from '../../test/kit/wait.js'

describe('leak collector: stop', () => {
  let dir = ''
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'cinch-collector-')) })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('resolves after the IPAM GC it started has exited, not before', async () => {
    const bin = join(dir, 'bin')
    mkdirSync(bin)
    const started = join(dir, 'started'), finished = join(dir, 'finished')
    // GC (spec 1.1.0): no output, exit 0. Slow enough that a stop in its middle is a stop in its middle.
    writeFileSync(join(bin, 'slow-ipam'), `#!/bin/sh\ntouch '${started}'\nsleep 0.5\ntouch '${finished}'\n`)
    chmodSync(join(bin, 'slow-ipam'), 0o755)
    const cniConf = join(dir, 'net.conflist')
    writeFileSync(cniConf, JSON.stringify({ cniVersion: '1.1.0', name: 'tnet', plugins: [{ type: 'cinch-bridge', ipam: { type: 'slow-ipam' } }] }))
    const gc = startLeakCollector({ stateDir: join(dir, 'state'), cniConf, cniBinDir: bin, graceMs: 0, intervalMs: 60_000, log: pino({ level: 'silent' }), onRemoved: () => {} })
    await waitFor('the IPAM GC to start', () => existsSync(started), { timeoutMs: 10_000, intervalMs: 10 })
    expect(existsSync(finished)).toBe(false)
    await gc.stop()
    expect(existsSync(finished)).toBe(true)
  })
})
