// The leak GC's handling of torn records (what a power cut leaves of a record written without
// fsync): files in a temporary state directory, no CNI config (so no plugin runs).
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { attachmentsDir, writeAttachmentSync, type AttachmentRecord } from '../../lib/state/attachments.js'
import { collectLeaks } from './leaks.js'

const record = (containerId: string, netns: string): AttachmentRecord => ({
  containerId, ifName: 'eth0', netns, podNamespace: 'default', podName: `pod-${containerId}`,
  ips: ['10.244.1.5/24'], hostVeth: 'cinch0123456789', bridge: 'cinch0', network: 'tnet', createdAt: '2026-01-01T00:00:00.000Z',
})

describe('leak GC: torn records', () => {
  let stateDir = ''
  beforeEach(() => { stateDir = mkdtempSync(join(tmpdir(), 'cinch-leaks-')) })
  afterEach(() => rmSync(stateDir, { recursive: true, force: true }))

  const gc = (graceMs: number) => collectLeaks({ stateDir, cniConf: join(stateDir, 'no.conflist'), cniBinDir: join(stateDir, 'bin'), graceMs })

  it('removes a record left empty or zero-filled once seen torn twice, and keeps live, invalid and newly torn ones', async () => {
    writeAttachmentSync(stateDir, record('live', stateDir)) // its "netns" exists
    const dir = attachmentsDir(stateDir)
    writeFileSync(join(dir, 'empty_eth0.json'), '')
    writeFileSync(join(dir, 'zeros_eth0.json'), Buffer.alloc(300))
    // JSON, but not a record this agent takes (a field it refuses): reported, never removed by GC.
    writeFileSync(join(dir, 'odd_eth0.json'), JSON.stringify({ ...record('odd', stateDir), hostVeth: 'eth0 { }' }))
    // collectLeaks takes its first look before it returns: what is written now, during the grace
    // period, is seen only by the second.
    const run = gc(300)
    // Torn only after the first look: seen once, so it stays for the next run.
    writeFileSync(join(dir, 'late_eth0.json'), '')
    const out = await run
    expect(out.removedTorn.map((f) => f.slice(dir.length + 1)).sort()).toEqual(['empty_eth0.json', 'zeros_eth0.json'])
    expect(out.removedRecords).toEqual([])
    expect(readdirSync(dir).sort()).toEqual(['late_eth0.json', 'live_eth0.json', 'odd_eth0.json'])
  })

  it('keeps a torn record rewritten whole during the grace period', async () => {
    const dir = attachmentsDir(stateDir)
    writeAttachmentSync(stateDir, record('again', stateDir))
    writeFileSync(join(dir, 'again_eth0.json'), '')
    const run = gc(300)
    writeAttachmentSync(stateDir, record('again', stateDir)) // a new ADD of the same attachment
    const out = await run
    expect(out.removedTorn).toEqual([])
    expect(existsSync(join(dir, 'again_eth0.json'))).toBe(true)
  })
})
