// The attachment-record contract (lib/state/README.md) as both sides see it:
// what cinch-bridge writes, the agent lists. Files in a temporary directory only.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  type AttachmentRecord, attachmentFile, attachmentsDir, listAttachments, listAttachmentsSync, readAttachmentSync,
  removeAttachmentSync, writeAttachmentSync,
} from './attachments.js'

const record = (containerId: string, ifName = 'eth0'): AttachmentRecord => ({
  containerId, ifName, netns: `/var/run/netns/${containerId}`, podNamespace: 'default', podName: `pod-${containerId}`,
  ips: ['10.244.1.5/24', 'fd00::5/64'], hostVeth: 'cinch0123456789', bridge: 'cni0', network: 'cinch', createdAt: '2024-01-01T00:00:00.000Z',
})

let stateDir: string
beforeEach(() => { stateDir = mkdtempSync(join(tmpdir(), 'cinch-state-')) })
afterEach(() => rmSync(stateDir, { recursive: true, force: true }))

describe('attachment records', () => {
  it('lives at <stateDir>/attachments/<containerId>_<ifName>.json, nothing else left behind', () => {
    writeAttachmentSync(stateDir, record('c1', 'net1'))
    expect(attachmentFile(stateDir, { containerId: 'c1', ifName: 'net1' })).toBe(join(stateDir, 'attachments', 'c1_net1.json'))
    expect(readdirSync(attachmentsDir(stateDir))).toEqual(['c1_net1.json'])
    expect(readAttachmentSync(stateDir, { containerId: 'c1', ifName: 'net1' })).toEqual(record('c1', 'net1'))
  })

  it('a rewrite replaces the record', () => {
    writeAttachmentSync(stateDir, record('c1'))
    writeAttachmentSync(stateDir, { ...record('c1'), ips: ['10.244.1.9/24'] })
    expect(readAttachmentSync(stateDir, record('c1'))?.ips).toEqual(['10.244.1.9/24'])
  })

  it('missing records and directories are no error', async () => {
    expect(readAttachmentSync(stateDir, record('nope'))).toBeUndefined()
    expect(() => removeAttachmentSync(stateDir, record('nope'))).not.toThrow()
    expect(listAttachmentsSync(stateDir)).toEqual([])
    expect(await listAttachments(stateDir)).toEqual([])
  })

  it('both listings agree, by file name, and skip what is not a usable record', async () => {
    writeAttachmentSync(stateDir, record('b'))
    writeAttachmentSync(stateDir, record('a'))
    const dir = attachmentsDir(stateDir)
    writeFileSync(join(dir, 'half.json'), '{"containerId":')
    writeFileSync(join(dir, 'noips.json'), '{"containerId":"x","ifName":"eth0"}')
    writeFileSync(join(dir, 'a_eth0.json.tmp-123'), 'in flight')
    mkdirSync(join(dir, 'dir.json'))
    const problems: string[] = []
    const onProblem = (file: string) => problems.push(file.slice(dir.length + 1))
    const sync = listAttachmentsSync(stateDir, onProblem)
    expect(sync.map((r) => r.containerId)).toEqual(['a', 'b'])
    expect(await listAttachments(stateDir, onProblem)).toEqual(sync)
    expect(problems).toEqual(['dir.json', 'half.json', 'noips.json', 'dir.json', 'half.json', 'noips.json'])
  })

  it('removal removes exactly that record', async () => {
    writeAttachmentSync(stateDir, record('a'))
    writeAttachmentSync(stateDir, record('a', 'net1'))
    removeAttachmentSync(stateDir, { containerId: 'a', ifName: 'eth0' })
    expect((await listAttachments(stateDir)).map((r) => r.ifName)).toEqual(['net1'])
  })
})
