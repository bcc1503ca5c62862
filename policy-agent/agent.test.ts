// The sync path awaits only the rules: a slow overlay (routes, conflist) runs in its own lane and
// holds back neither a sync nor the callers waiting on one (an ADD); stop() lets it finish.
import { describe, expect, it } from 'vitest'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { Agent } from './agent.js'
import { Applier } from './apply/applier.js'
import { emptyClusterState, type Node } from './model/cluster.js'

function slowOverlay() {
  const calls: Node[][] = []
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  return { calls, release, overlay: { sync: async (nodes: Iterable<Node>) => { calls.push([...nodes]); await gate; return undefined } } }
}

describe('Agent', () => {
  it('answers sync waiters while the overlay is still running, and coalesces overlay runs to the newest Nodes', async () => {
    const state = emptyClusterState()
    state.nodes.set('n1', { name: 'n1', podCIDRs: ['10.244.1.0/24'], internalIPs: ['192.0.2.1'] })
    const source = { start: async () => {}, state: () => state, problems: () => [], stop: async () => {} }
    const { calls, release, overlay } = slowOverlay()
    const agent = new Agent({
      source, stateDir: mkdtempSync(join(tmpdir(), 'cinch-agent-test-')), nodeName: 'n1', log: pino({ level: 'silent' }),
      applier: new Applier({ run: async () => {} }), overlay, conntrackCleanup: false,
    })
    const first = await agent.start()
    expect(first.steps).toEqual({ records: expect.any(Number), compile: expect.any(Number), apply: expect.any(Number) })
    // The overlay run of the first sync has not finished; later syncs still complete.
    await agent.requestSync('add a')
    state.nodes.set('n2', { name: 'n2', podCIDRs: ['10.244.2.0/24'], internalIPs: ['192.0.2.2'] })
    await agent.requestSync('add b')
    expect(calls.length).toBe(1)
    const stopped = agent.stop()
    release()
    await stopped
    // One more run, with the newest Nodes only (the two syncs' requests coalesced).
    expect(calls.map((c) => c.map((n) => n.name))).toEqual([['n1'], ['n1', 'n2']])
  })
})
