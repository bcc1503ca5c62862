// The agent's start: the first sync reads the attachment records (synchronously, ~1 ms for 110:
// lib/state/attachments.ts; read asynchronously they took 13-110 ms, and were read while the lists
// arrived to keep them off the first sync). The change path's warm-up stays after the first sync:
// run before the first compile over the whole cluster, it made that compile slower.
import { describe, expect, it } from 'vitest'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { PerformanceObserver, constants } from 'node:perf_hooks'
import { pino } from 'pino'
import { Agent } from './agent.js'
import { Applier, type ApplyResult } from './apply/applier.js'
import { emptyClusterState } from './model/cluster.js'
import type { PolicyIR } from './compile/ir.js'
import { attachmentsDir } from '../lib/state/attachments.js'
import { testTempDir } from '../test/kit/temp-dir.js'
import { waitFor } from '../test/kit/wait.js'

class FullApplier extends Applier {
  override async apply(_ir: PolicyIR): Promise<ApplyResult> {
    return { mode: 'full', lines: 1 }
  }
}

/** A source whose lists end when the test says so; the agent's log lines as they come. */
function setup(o: { listsAtOnce?: boolean; idleGc?: boolean } = {}) {
  let listed = () => {}
  const source = { start: () => (o.listsAtOnce ? Promise.resolve() : new Promise<void>((r) => (listed = r))), state: () => emptyClusterState(), problems: () => [], stop: async () => {} }
  const stateDir = testTempDir('cinch-agent-start-')
  mkdirSync(attachmentsDir(stateDir), { recursive: true })
  writeFileSync(join(attachmentsDir(stateDir), 'broken_eth0.json'), '{ not a record')
  const lines: string[] = []
  const log = pino({ level: 'debug' }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }))
  const agent = new Agent({ source, stateDir, nodeName: 'n1', log, applier: new FullApplier(), conntrackCleanup: false, idleGc: o.idleGc ?? false })
  return { agent, lines, listed: () => listed() }
}

describe('agent start', () => {
  it('no sync and no warm-up while the lists arrive; the warm-up follows the first sync', async () => {
    const { agent, lines, listed } = setup()
    const started = agent.start()
    try {
      await new Promise((r) => setImmediate(r))
      expect(lines.some((l) => l.includes('rules applied'))).toBe(false)
      expect(lines.some((l) => l.includes('change path warmed up'))).toBe(false)
      listed()
      await started
      expect(agent.recordProblems[0]!.where).toMatch(/broken_eth0\.json$/)
      await waitFor('the warm-up after the first sync', () => lines.some((l) => l.includes('change path warmed up')), { timeoutMs: 5000, intervalMs: 5 })
      expect(lines.findIndex((l) => l.includes('change path warmed up'))).toBeGreaterThan(lines.findIndex((l) => l.includes('rules applied')))
    } finally {
      listed()
      await agent.stop()
    }
  })

  it('a source done at once: the first sync reads the records', async () => {
    const { agent, lines } = setup({ listsAtOnce: true })
    try {
      await agent.start()
      expect(agent.recordProblems[0]!.where).toMatch(/broken_eth0\.json$/)
      await waitFor('the warm-up after the first sync', () => lines.some((l) => l.includes('change path warmed up')), { timeoutMs: 5000, intervalMs: 5 })
      expect(lines.filter((l) => l.includes('change path warmed up'))).toHaveLength(1)
    } finally {
      await agent.stop()
    }
  })
  it('collects the young generation after the warm-up, before the first change', async () => {
    // Forced minor GCs as they happen (idle-gc.ts runs them; V8's own are not forced).
    const forced: number[] = []
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const d = (e as unknown as { detail?: { kind?: number; flags?: number } }).detail
        if (d?.kind === constants.NODE_PERFORMANCE_GC_MINOR && (d.flags ?? 0) & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) forced.push(e.startTime)
      }
    })
    obs.observe({ entryTypes: ['gc'] })
    const { agent, lines } = setup({ listsAtOnce: true, idleGc: true })
    try {
      let warmedAt = 0
      const origPush = lines.push.bind(lines)
      lines.push = (...l: string[]) => { if (!warmedAt && l.some((x) => x.includes('change path warmed up'))) warmedAt = performance.now(); return origPush(...l) }
      await agent.start()
      await waitFor('the warm-up', () => warmedAt, { timeoutMs: 5000, intervalMs: 5 })
      // Before: the young generation kept the warm-up's garbage until the first change's sync.
      await waitFor('a minor GC after the warm-up', () => forced.some((t) => t >= warmedAt), { timeoutMs: 5000, intervalMs: 5 })
    } finally {
      obs.disconnect()
      await agent.stop()
    }
  })
})
