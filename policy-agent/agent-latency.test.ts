// Policy programming latency (issue 14): each source change carries its arrival time into the
// sync that applied it, is measured to the end of that sync's transaction, and lands in
// /metrics as cinch_policy_programming_latency_seconds.
import { describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { Agent, type SyncReport } from './agent.js'
import { Applier, type ApplyResult } from './apply/applier.js'
import { emptyClusterState } from './model/cluster.js'
import type { PolicyIR } from './compile/ir.js'
import { createMetrics } from './server/metrics.js'
import { testTempDir } from '../test/kit/temp-dir.js'

/** An applier whose transactions the test releases (or fails) one by one. */
class GatedApplier extends Applier {
  readonly calls: { release: (fail?: Error) => void }[] = []
  #waiting?: () => void
  override apply(_ir: PolicyIR): Promise<ApplyResult> {
    return new Promise((resolve, reject) => {
      this.calls.push({ release: (fail) => (fail ? reject(fail) : resolve({ mode: 'diff', lines: 1 })) })
      this.#waiting?.()
    })
  }
  /** Resolves once `n` transactions have started. */
  async started(n: number): Promise<void> {
    while (this.calls.length < n) await new Promise<void>((r) => (this.#waiting = r))
  }
}

function setup() {
  let change!: () => void
  const source = { start: async (cb: () => void) => void (change = cb), state: () => emptyClusterState(), problems: () => [], stop: async () => {} }
  const applier = new GatedApplier()
  const reports: SyncReport[] = []
  const agent = new Agent({
    source, stateDir: testTempDir('cinch-agent-latency-'), nodeName: 'n1', log: pino({ level: 'silent' }),
    applier, conntrackCleanup: false, onSynced: (r) => reports.push(r),
  })
  return { agent, applier, reports, change: () => change() }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('policy programming latency', () => {
  it('measures each change from its arrival to the commit of the sync that applied it', async () => {
    const { agent, applier, reports, change } = setup()
    const started = agent.start()
    await applier.started(1)
    applier.calls[0]!.release()
    await started
    // The start sync applied no change of the source.
    expect(reports[0]!.programmingMs).toEqual([])
    change()
    await applier.started(2)
    // Three more changes arrive while that transaction runs: they are not in its snapshot.
    change(), change(), change()
    await sleep(30)
    applier.calls[1]!.release()
    await applier.started(3)
    expect(reports[1]!.programmingMs).toHaveLength(1)
    expect(reports[1]!.programmingMs[0]).toBeGreaterThanOrEqual(25)
    applier.calls[2]!.release()
    while (reports.length < 3) await sleep(1)
    // The next sync applied all three (one transaction), each measured from its own arrival.
    expect(reports[2]!.programmingMs).toHaveLength(3)
    await agent.stop()
  })

  it('a failed sync hands its changes to the next one, which reports their whole wait', async () => {
    const { agent, applier, reports, change } = setup()
    const started = agent.start()
    await applier.started(1)
    applier.calls[0]!.release()
    await started
    change()
    await applier.started(2)
    applier.calls[1]!.release(new Error('nft refused'))
    await sleep(20)
    // A retry (here a socket request) applies the change; nothing is counted twice.
    const retry = agent.requestSync('retry')
    await applier.started(3)
    applier.calls[2]!.release()
    await retry
    expect(reports.map((r) => r.programmingMs.length)).toEqual([0, 1])
    expect(reports[1]!.programmingMs[0]).toBeGreaterThanOrEqual(15)
    const again = agent.requestSync('again')
    await applier.started(4)
    applier.calls[3]!.release()
    expect((await again).programmingMs).toEqual([])
    await agent.stop()
  })

  it('is exported per change as cinch_policy_programming_latency_seconds', async () => {
    const metrics = createMetrics({ readFigures: async () => ({ rules: 0, setElements: 0, counters: [] }), appliedIr: () => undefined })
    const report = { reason: 'source changed', at: new Date(), durationMs: 3, apply: { mode: 'diff', lines: 2 }, localPods: [], attachments: [], invalid: [], failedClosed: [], nodePolicyCost: { used: 0, max: 1 }, steps: { records: 0, compile: 1, apply: 2 }, programmingMs: [3, 4, 40] } satisfies SyncReport
    metrics.recordSync(report)
    const text = await metrics.registry.metrics()
    expect(text).toContain('cinch_policy_programming_latency_seconds_count 3')
    expect(text).toContain('cinch_policy_programming_latency_seconds_bucket{le="0.005"} 2')
    expect(text).toContain('cinch_policy_programming_latency_seconds_bucket{le="0.05"} 3')
  })
})
