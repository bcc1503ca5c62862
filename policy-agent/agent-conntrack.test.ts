// The conntrack pass waits for a pause in the changes (issue 14): its dump stalls the process for
// ~11 ms on a host with the default 262,144 conntrack buckets, and requested after every sync it
// met the next change. Passes are counted by `onCleanup` (one call per pass; with no attachment
// records a pass ends before it opens the table, so no kernel is needed here).
import { describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { Agent, type AgentOptions } from './agent.js'
import { Applier, type ApplyResult } from './apply/applier.js'
import { emptyClusterState } from './model/cluster.js'
import type { PolicyIR } from './compile/ir.js'
import { testTempDir } from '../test/kit/temp-dir.js'
import { observeFor, waitFor } from '../test/kit/wait.js'

class DiffApplier extends Applier {
  override async apply(_ir: PolicyIR): Promise<ApplyResult> {
    return { mode: 'diff', lines: 1 }
  }
}

function setup(o: Partial<AgentOptions>) {
  let change!: () => void
  const source = { start: async (cb: () => void) => void (change = cb), state: () => emptyClusterState(), problems: () => [], stop: async () => {} }
  let synced = 0
  const passes: number[] = []
  const agent = new Agent({
    source, stateDir: testTempDir('cinch-agent-ct-'), nodeName: 'n1', log: pino({ level: 'silent' }),
    applier: new DiffApplier(), idleGc: false, onSynced: () => synced++, onCleanup: () => passes.push(performance.now()), ...o,
  })
  /** One source change, resolved once its sync has ended. */
  const oneChange = async () => {
    const n = synced
    change()
    await waitFor('the change\'s sync', () => synced > n, { timeoutMs: 5000, intervalMs: 1 })
  }
  return { agent, passes, oneChange }
}

describe('conntrack passes', () => {
  it('a burst of changes gets one pass once it pauses, not one per change', async () => {
    const { agent, passes, oneChange } = setup({ conntrackQuietMs: 300, conntrackMaxDelayMs: 60_000 })
    await agent.start()
    await waitFor('the start\'s pass', () => passes.length === 1, { timeoutMs: 5000 })
    try {
      for (let i = 0; i < 20; i++) await oneChange()
      const during = passes.length - 1
      const ended = performance.now()
      // Before: every sync requested a pass at once, ~20 of them during the burst.
      expect(during).toBeLessThanOrEqual(1)
      await waitFor('the pass after the burst', () => passes.length > 1 + during, { timeoutMs: 5000 })
      expect(passes.at(-1)! - ended).toBeGreaterThanOrEqual(250)
    } finally {
      await agent.stop()
    }
  })

  it('a stream of changes with no pause still gets a pass within conntrackMaxDelayMs', async () => {
    const { agent, passes, oneChange } = setup({ conntrackQuietMs: 10_000, conntrackMaxDelayMs: 200 })
    await agent.start()
    await waitFor('the start\'s pass', () => passes.length === 1, { timeoutMs: 5000 })
    const t0 = performance.now()
    let changes = 0
    while (passes.length < 3 && performance.now() - t0 < 10_000) {
      await oneChange()
      changes++
      await new Promise((r) => setTimeout(r, 5))
    }
    await agent.stop()
    // Two passes came during the stream, each ~200 ms after the first change it owed, so far
    // fewer passes than changes (before: one per change).
    expect(passes.length).toBe(3)
    expect(passes[2]! - passes[1]!).toBeGreaterThanOrEqual(150)
    expect(changes).toBeGreaterThan(6)
  })

  it('a pass still owed at stop never starts', async () => {
    const { agent, passes, oneChange } = setup({ conntrackQuietMs: 100, conntrackMaxDelayMs: 100 })
    await agent.start()
    await waitFor('the start\'s pass', () => passes.length === 1, { timeoutMs: 5000 })
    await oneChange()
    await agent.stop()
    await observeFor(300, 'a pass started by a timer the stop left behind (it was due 100 ms after the change)')
    expect(passes).toHaveLength(1)
  })
})
