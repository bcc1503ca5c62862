// The attachment records as each sync sees them: every change made before a sync starts is in it,
// however the file changed (lib/state/attachment-lister.ts). Files in a temporary directory, a
// stub applier: no kernel.
import { describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { Agent } from './agent.js'
import { Applier, type ApplyResult } from './apply/applier.js'
import { emptyClusterState } from './model/cluster.js'
import { attachmentFile, attachmentsDir, removeAttachmentSync, writeAttachmentSync, type AttachmentRecord } from '../lib/state/attachments.js'
import { waitFor } from '../test/kit/wait.js'

class StubApplier extends Applier {
  override async apply(): Promise<ApplyResult> {
    return { mode: 'diff', lines: 1 }
  }
}

const record = (containerId: string, ip: number): AttachmentRecord => ({
  containerId, ifName: 'eth0', netns: `/var/run/netns/${containerId}`, podNamespace: 'default', podName: `pod-${containerId}`,
  ips: [`10.244.1.${ip}/24`], hostVeth: 'cinch0123456789', bridge: 'cni0', network: 'cinch', createdAt: '2024-01-01T00:00:00.000Z',
})

describe('agent: attachment records', () => {
  it('a sync right after an ADD, a DEL or an edit in place of a record sees it', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'cinch-agent-records-'))
    const source = { start: async () => {}, state: () => emptyClusterState(), problems: () => [], stop: async () => {} }
    const agent = new Agent({ source, stateDir, nodeName: 'n1', log: pino({ level: 'silent' }), applier: new StubApplier(), conntrackCleanup: false, idleGc: false })
    const ips = (r: { localPods: { name: string; ips: string[] }[] }) => r.localPods.map((p) => `${p.name} ${p.ips.join(',')}`)
    try {
      writeAttachmentSync(stateDir, record('a', 5))
      expect(ips(await agent.start())).toEqual(['pod-a 10.244.1.5'])
      writeAttachmentSync(stateDir, record('b', 6)) // cinch-bridge's ADD, then its request at once
      expect(ips(await agent.requestSync('add b'))).toEqual(['pod-a 10.244.1.5', 'pod-b 10.244.1.6'])
      removeAttachmentSync(stateDir, record('b', 6))
      expect(ips(await agent.requestSync('del b'))).toEqual(['pod-a 10.244.1.5'])
      // A record rewritten in place (same file, same size: an older tool, an editor) once the
      // directory's own times are over a second old: the directory does not change, the file does.
      // The agent trusted its records while the directory's times stood still and kept 10.244.1.5.
      const dirAge = () => Date.now() - Math.max(statSync(attachmentsDir(stateDir)).mtimeMs, statSync(attachmentsDir(stateDir)).ctimeMs)
      await waitFor('the directory a second old', () => dirAge() > 1100, { timeoutMs: 5000, intervalMs: 50 })
      expect(ips(await agent.requestSync('source changed'))).toEqual(['pod-a 10.244.1.5'])
      writeFileSync(attachmentFile(stateDir, record('a', 7)), JSON.stringify(record('a', 7), null, 2) + '\n')
      expect(ips(await agent.requestSync('source changed'))).toEqual(['pod-a 10.244.1.7'])
    } finally {
      await agent.stop()
      rmSync(stateDir, { recursive: true, force: true })
    }
  })
})
