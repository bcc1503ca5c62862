import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { OverlayController } from './controller.js'

describe('OverlayController without a Node object for this node', () => {
  let dir = ''
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it.each([
    ['no Nodes at all (manifest mode, single node)', []],
    ['only other nodes', [{ name: 'other', podCIDRs: ['10.244.2.0/24'], internalIPs: ['192.168.1.2'] }]],
  ])('%s: programs nothing and writes no conflist', async (_name, nodes) => {
    dir = mkdtempSync(join(tmpdir(), 'cinch-ctl-'))
    const c = new OverlayController({ nodeName: 'me', backend: 'vxlan', log: pino({ level: 'silent' }), cniConfDir: dir })
    await expect(c.sync(nodes)).resolves.toBeUndefined()
    expect(existsSync(join(dir, '10-cinch.conflist'))).toBe(false)
  })
})
