// The sync path awaits only the rules: a slow overlay (routes, conflist) runs in its own lane and
// holds back neither a sync nor the callers waiting on one (an ADD); stop() lets it finish. Nor
// does the sync's log line: it is written after the waiters are answered.
import { describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { Agent } from './agent.js'
import { Applier } from './apply/applier.js'
import { emptyClusterState, type NetworkPolicy, type Node } from './model/cluster.js'
import { testTempDir } from '../test/kit/temp-dir.js'

function slowOverlay() {
  const calls: Node[][] = []
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  return { calls, release, overlay: { sync: async (nodes: Iterable<Node>) => { calls.push([...nodes]); await gate; return undefined } } }
}

describe('Agent', () => {
  it('logs an invalid policy once, when it becomes invalid, not at every sync; and once when it is fixed', async () => {
    const lines: { msg: string; policy?: string }[] = []
    const log = pino({ level: 'info' }, { write: (s: string) => { const o = JSON.parse(s); if (/invalid/.test(o.msg)) lines.push({ msg: o.msg, policy: o.policy }) } })
    const state = emptyClusterState()
    const bad = (name: string) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'x', name }, spec: { podSelector: {}, policyTypes: ['Sideways'] } }) as unknown as NetworkPolicy
    state.policies.set('x/a', bad('a'))
    state.policies.set('x/b', bad('b'))
    let current = state
    const source = { start: async () => {}, state: () => current, problems: () => [], stop: async () => {} }
    const agent = new Agent({ source, stateDir: testTempDir('cinch-agent-test-'), nodeName: 'n1', log, applier: new Applier({ run: async () => {} }), conntrackCleanup: false })
    await agent.start()
    for (let i = 0; i < 5; i++) {
      // A change elsewhere each time: a new state object, the same invalid policies.
      current = { ...current, namespaces: new Map(current.namespaces).set(`ns${i}`, { name: `ns${i}`, labels: {} }) }
      await agent.requestSync(`change ${i}`)
    }
    await new Promise((r) => setImmediate(r))
    expect(lines).toEqual([{ msg: 'invalid NetworkPolicy skipped', policy: 'x/a' }, { msg: 'invalid NetworkPolicy skipped', policy: 'x/b' }])
    // One fixed: said once; broken again: warned again.
    const policies = new Map(current.policies)
    policies.set('x/a', { ...bad('a'), spec: { podSelector: {} } } as NetworkPolicy)
    current = { ...current, policies }
    await agent.requestSync('fix a')
    await agent.requestSync('again')
    current = { ...current, policies: new Map(current.policies).set('x/a', bad('a')) }
    await agent.requestSync('break a')
    await new Promise((r) => setImmediate(r))
    expect(lines.slice(2)).toEqual([{ msg: 'policy no longer invalid (fixed or deleted)', policy: 'x/a' }, { msg: 'invalid NetworkPolicy skipped', policy: 'x/a' }])
    await agent.stop()
  })

  it('checks the policies of namespaces without a local pod after the first sync, and then reports their invalid ones', async () => {
    const state = emptyClusterState()
    const bad = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'remote', name: 'bad' }, spec: { podSelector: {}, policyTypes: ['Sideways'] } } as unknown as NetworkPolicy
    state.policies.set('remote/bad', bad)
    const source = { start: async () => {}, state: () => state, problems: () => [], stop: async () => {} }
    const reasons: string[] = []
    const agent = new Agent({
      source, stateDir: testTempDir('cinch-agent-test-'), nodeName: 'n1', log: pino({ level: 'silent' }),
      applier: new Applier({ run: async () => {} }), conntrackCleanup: false, onSynced: (r) => void reasons.push(r.reason),
    })
    const first = await agent.start()
    // The first sync compiled without it (no pod of this node is in its namespace) ...
    expect(first.invalid).toEqual([])
    // ... and one more sync reports it once it was checked between changes.
    for (let i = 0; i < 200 && !agent.last?.invalid.length; i++) await new Promise((r) => setTimeout(r, 5))
    expect(agent.last?.invalid).toEqual([{ policy: 'remote/bad', reason: expect.stringContaining('Sideways') }])
    expect(reasons).toEqual(['start', 'policies of every namespace checked'])
    await agent.stop()
    // --once stops after its first sync: with deferRemotePolicies false, that sync reports it.
    const once = new Agent({
      source, stateDir: testTempDir('cinch-agent-test-'), nodeName: 'n1', log: pino({ level: 'silent' }),
      applier: new Applier({ run: async () => {} }), conntrackCleanup: false, deferRemotePolicies: false,
    })
    expect((await once.start()).invalid).toEqual([{ policy: 'remote/bad', reason: expect.stringContaining('Sideways') }])
    await once.stop()
  })

  it('answers a sync\'s waiters before it writes the sync\'s log line (an ADD does not wait on pino)', async () => {
    const applied: string[] = []
    const log = pino({ level: 'info' }, { write: (s: string) => { const o = JSON.parse(s); if (o.msg === 'rules applied') applied.push(o.sync) } })
    const source = { start: async () => {}, state: () => emptyClusterState(), problems: () => [], stop: async () => {} }
    const agent = new Agent({ source, stateDir: testTempDir('cinch-agent-test-'), nodeName: 'n1', log, applier: new Applier({ run: async () => {} }), conntrackCleanup: false })
    await agent.start()
    await new Promise((r) => setImmediate(r))
    expect(applied).toEqual(['start'])
    const report = await agent.requestSync('add a')
    expect(report.reason).toBe('add a')
    expect(applied, 'answered before the line').toEqual(['start'])
    await new Promise((r) => setImmediate(r))
    expect(applied).toEqual(['start', 'add a'])
    await agent.stop()
  })

  it('answers sync waiters while the overlay is still running, and coalesces overlay runs to the newest Nodes', async () => {
    const state = emptyClusterState()
    state.nodes.set('n1', { name: 'n1', podCIDRs: ['10.244.1.0/24'], internalIPs: ['192.0.2.1'] })
    const source = { start: async () => {}, state: () => state, problems: () => [], stop: async () => {} }
    const { calls, release, overlay } = slowOverlay()
    const agent = new Agent({
      source, stateDir: testTempDir('cinch-agent-test-'), nodeName: 'n1', log: pino({ level: 'silent' }),
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
