// While the source lists (seconds at 30k pods), the agent warms its sync path and reads the
// attachment records, so that neither lies between the last list page and the first commit
// (issue 14: the cold first sync). Before, both came after the lists: the warm-up after the first
// sync, the records inside it.
import { describe, expect, it } from 'vitest'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { Agent } from './agent.js'
import { Applier, type ApplyResult } from './apply/applier.js'
import { emptyClusterState } from './model/cluster.js'
import type { PolicyIR } from './compile/ir.js'
import { attachmentsDir } from '../lib/state/attachments.js'
import { waitFor } from '../test/kit/wait.js'

class FullApplier extends Applier {
  override async apply(_ir: PolicyIR): Promise<ApplyResult> {
    return { mode: 'full', lines: 1 }
  }
}

/** A source whose lists end when the test says so; the agent's log lines as they come. */
function setup(o: { listsAtOnce?: boolean } = {}) {
  let listed = () => {}
  const source = { start: () => (o.listsAtOnce ? Promise.resolve() : new Promise<void>((r) => (listed = r))), state: () => emptyClusterState(), problems: () => [], stop: async () => {} }
  const stateDir = mkdtempSync(join(tmpdir(), 'cinch-agent-start-'))
  mkdirSync(attachmentsDir(stateDir), { recursive: true })
  writeFileSync(join(attachmentsDir(stateDir), 'broken_eth0.json'), '{ not a record')
  const lines: string[] = []
  const log = pino({ level: 'debug' }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }))
  const agent = new Agent({ source, stateDir, nodeName: 'n1', log, applier: new FullApplier(), conntrackCleanup: false, idleGc: false })
  return { agent, lines, listed: () => listed() }
}

describe('agent start', () => {
  it('warms the sync path and reads the records while the lists arrive', async () => {
    const { agent, lines, listed } = setup()
    const started = agent.start()
    try {
      // The lists have not ended: no sync yet, and the records were read (their problem is known).
      await waitFor('the records read during the lists', () => agent.recordProblems.length > 0, { timeoutMs: 5000, intervalMs: 5 })
      await waitFor('the warm-up during the lists', () => lines.some((l) => l.includes('sync path warmed up')), { timeoutMs: 5000, intervalMs: 5 })
      expect(lines.some((l) => l.includes('rules applied'))).toBe(false)
      listed()
      await started
      expect(agent.recordProblems[0]!.where).toMatch(/broken_eth0\.json$/)
      // Once: not again after the first sync.
      expect(lines.filter((l) => l.includes('sync path warmed up'))).toHaveLength(1)
    } finally {
      listed()
      await agent.stop()
    }
  })

  it('a source done at once leaves the warm-up to after the first sync', async () => {
    const { agent, lines } = setup({ listsAtOnce: true })
    try {
      await agent.start()
      await waitFor('the warm-up after the first sync', () => lines.some((l) => l.includes('sync path warmed up')), { timeoutMs: 5000, intervalMs: 5 })
      const applied = lines.findIndex((l) => l.includes('rules applied'))
      expect(applied).toBeGreaterThanOrEqual(0)
      expect(lines.findIndex((l) => l.includes('sync path warmed up'))).toBeGreaterThan(applied)
    } finally {
      await agent.stop()
    }
  })
})
