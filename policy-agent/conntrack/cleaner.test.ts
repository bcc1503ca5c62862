import { describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { Writable } from 'node:stream'
import { ConntrackCleaner, type CleanupReport, type ConntrackTable } from './cleaner.js'
import { emptyClusterState, type ClusterState } from '../model/cluster.js'
import { IPPROTO, IPS, type CtEntry } from '../../lib/net/conntrack.js'

// x/a (10.0.0.2) under ingress deny-all; 10.0.0.3 a local pod without policy.
function denyState(deny = true): ClusterState {
  const s = emptyClusterState()
  s.namespaces.set('x', { name: 'x', labels: { 'kubernetes.io/metadata.name': 'x' } })
  s.pods.set('x/a', { namespace: 'x', name: 'a', labels: { pod: 'a' }, ips: ['10.0.0.2'], nodeName: 'n1', ports: [] })
  s.pods.set('x/b', { namespace: 'x', name: 'b', labels: {}, ips: ['10.0.0.3'], nodeName: 'n1', ports: [] })
  if (deny) s.policies.set('x/deny', { metadata: { namespace: 'x', name: 'deny' }, spec: { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Ingress'] } })
  return s
}
const localIps = ['10.0.0.2', '10.0.0.3']
// The same deny-all over v6 addresses: x/a is fd00::2.
function denyV6(): ClusterState {
  const s = denyState()
  s.pods.set('x/a', { ...s.pods.get('x/a')!, ips: ['fd00::2'] })
  s.pods.set('x/b', { ...s.pods.get('x/b')!, ips: ['fd00::3'] })
  return s
}
const udp = (src: string, dst: string, sport: number, id: number): CtEntry => ({
  family: 4, id, status: IPS.SEEN_REPLY,
  orig: { src, dst, proto: IPPROTO.UDP, sport, dport: 81 },
  reply: { src: dst, dst: src, proto: IPPROTO.UDP, sport: 81, dport: sport },
})

/** A conntrack table in memory that checks the contract: one pass at a time, bounded batches, closed after use. */
class FakeTable {
  entries = new Map<number, CtEntry>()
  scans = 0
  open = 0
  batches: number[] = []
  gate?: Promise<void>
  constructor(n: { denied: number; allowed: number }, readonly maxBatch = 256) {
    for (let i = 0; i < n.denied; i++) this.entries.set(i, udp('10.0.0.3', '10.0.0.2', 1024 + i, i))
    for (let i = 0; i < n.allowed; i++) this.entries.set(100_000 + i, udp('10.0.0.2', '10.0.0.3', 1024 + i, 100_000 + i))
  }
  table = (): ConntrackTable => {
    expect(this.open, 'two passes at once').toBe(0)
    this.open++
    let closed = false
    return {
      scan: async (onEntry, signal) => {
        this.scans++
        if (this.gate) await Promise.race([this.gate, new Promise((r) => signal.addEventListener('abort', r))])
        for (const e of [...this.entries.values()]) {
          if (signal.aborted || onEntry(e) === false) return false
        }
        return true
      },
      remove: async (batch) => {
        expect(batch.length).toBeLessThanOrEqual(this.maxBatch)
        this.batches.push(batch.length)
        let deleted = 0
        for (const e of batch) if (this.entries.delete(e.id!)) deleted++
        return { deleted, gone: batch.length - deleted, failed: 0 }
      },
      close: () => { if (!closed) this.open--; closed = true },
    }
  }
}

function logSink() {
  const lines: string[] = []
  const log = pino({ level: 'debug' }, new Writable({ write(chunk, _enc, cb) { lines.push(...String(chunk).split('\n').filter(Boolean)); cb() } }))
  return { log, lines }
}

function cleaner(fake: FakeTable, opts: Partial<ConstructorParameters<typeof ConntrackCleaner>[0]> = {}) {
  const passes: CleanupReport[] = []
  const waiters: (() => void)[] = []
  const { log, lines } = logSink()
  const c = new ConntrackCleaner({ log, open: fake.table, nodeIps: () => new Set(['10.0.0.1']), onPass: (r) => { passes.push(r); waiters.splice(0).forEach((w) => w()) }, ...opts })
  const passesReach = async (n: number) => { while (passes.length < n) await new Promise<void>((r) => waiters.push(r)) }
  return { c, passes, passesReach, lines }
}

describe('ConntrackCleaner', () => {
  it('deletes the live denied entries only, in bounded batches, and logs counts, not flows', async () => {
    const fake = new FakeTable({ denied: 15_000, allowed: 500 })
    const { c, passes, passesReach, lines } = cleaner(fake)
    c.request({ state: denyState(), localIps })
    await passesReach(1)
    expect(passes[0]).toMatchObject({ examined: 15_500, denied: 15_000, deleted: 15_000, errors: 0 })
    expect(passes[0]!.cutBy).toBeUndefined()
    expect(fake.entries.size).toBe(500)
    expect(Math.max(...fake.batches)).toBe(256)
    expect(lines.find((l) => l.includes('ended connections the new rules deny'))).toContain('"deleted":15000')
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThan(1024)
    expect(fake.open).toBe(0)
  })

  it('coalesces: requests made during a pass collapse into one more pass with the newest state', async () => {
    const fake = new FakeTable({ denied: 10, allowed: 0 })
    let release!: () => void
    fake.gate = new Promise((r) => (release = r))
    const { c, passes, passesReach } = cleaner(fake)
    c.request({ state: denyState(false), localIps }) // runs, blocked in its scan
    c.request({ state: denyState(true), localIps }) // superseded ...
    c.request({ state: denyState(false), localIps }) // ... by this one
    release()
    await passesReach(2)
    await new Promise((r) => setTimeout(r, 20))
    expect(passes.length).toBe(2)
    expect(passes.map((p) => p.deleted)).toEqual([0, 0])
    expect(fake.entries.size).toBe(10)
  })

  it('a pass cut by its delete cap or time budget is followed by another until the table is clean', async () => {
    const fake = new FakeTable({ denied: 1000, allowed: 10 })
    const { c, passes, passesReach } = cleaner(fake, { maxDeletes: 300 })
    c.request({ state: denyState(), localIps })
    await passesReach(4)
    expect(passes.map((p) => [p.deleted, p.cutBy])).toEqual([[300, 'deletes'], [300, 'deletes'], [300, 'deletes'], [100, undefined]])
    expect(fake.entries.size).toBe(10)

    const slow = new FakeTable({ denied: 50, allowed: 0 })
    const t = cleaner(slow, { budgetMs: 0, batch: 10 })
    t.c.request({ state: denyState(), localIps })
    await t.passesReach(50)
    expect(t.passes.every((p) => p.cutBy === 'time' || p.cutBy === undefined)).toBe(true)
    await new Promise((r) => setTimeout(r, 20))
    expect(slow.entries.size).toBe(0)
  })

  it('does not repeat a pass cut by the examined cap (it would read the same entries again)', async () => {
    const fake = new FakeTable({ denied: 100, allowed: 0 })
    const { c, passes, passesReach } = cleaner(fake, { maxExamined: 10 })
    c.request({ state: denyState(), localIps })
    await passesReach(1)
    await new Promise((r) => setTimeout(r, 20))
    expect(passes.map((p) => [p.examined, p.deleted, p.cutBy])).toEqual([[10, 10, 'examined']])
  })

  it('stop() cancels the running pass and drops the pending one', async () => {
    const fake = new FakeTable({ denied: 10, allowed: 0 })
    fake.gate = new Promise(() => {}) // a scan that never ends by itself
    const { c, passes } = cleaner(fake)
    c.request({ state: denyState(), localIps })
    c.request({ state: denyState(), localIps })
    await c.stop()
    expect(passes.map((p) => p.cutBy)).toEqual(['stopped'])
    expect(fake.entries.size).toBe(10)
    expect(fake.open).toBe(0)
    c.request({ state: denyState(), localIps })
    await new Promise((r) => setTimeout(r, 20))
    expect(fake.scans).toBe(1)
  })

  it('a table that goes quiet mid-scan is cut by the clock, not waited for', async () => {
    const fake = new FakeTable({ denied: 10, allowed: 0 })
    fake.gate = new Promise(() => {})
    const { c, passes, passesReach } = cleaner(fake, { budgetMs: 10 })
    c.request({ state: denyState(), localIps })
    await passesReach(1)
    expect(passes.map((p) => [p.cutBy, p.errors])).toEqual([['time', 0]])
    expect(fake.open).toBe(0)
  })

  it('addresses kept between passes: a changed policy still cuts a flow it now denies, a new local pod\'s flows are judged', async () => {
    const fake = new FakeTable({ denied: 5, allowed: 0 })
    const { c, passes, passesReach } = cleaner(fake)
    // Pass 1: the flows' pods are not local; pass 2: they are, deny-all not yet there; pass 3:
    // the same pods (the addresses of the last pass reused), and the policy now denies.
    c.request({ state: denyState(), localIps: ['10.0.0.9'] })
    await passesReach(1)
    c.request({ state: denyState(false), localIps: ['10.0.0.2', '10.0.0.3'] })
    await passesReach(2)
    c.request({ state: denyState(), localIps: ['10.0.0.2', '10.0.0.3'] })
    await passesReach(3)
    expect(passes.map((p) => p.deleted)).toEqual([0, 0, 5])
    // A pod whose address is spelled otherwise than conntrack spells it (v6 with zeros).
    const v6 = new FakeTable({ denied: 0, allowed: 0 })
    v6.entries.set(1, { ...udp('fd00::3', 'fd00::2', 1024, 1), family: 6 })
    const t = cleaner(v6)
    t.c.request({ state: denyV6(), localIps: ['fd00:0::9'] })
    await t.passesReach(1)
    t.c.request({ state: denyV6(), localIps: ['fd00:0::9', 'fd00:0:0::2'] })
    await t.passesReach(2)
    expect(t.passes.map((p) => p.deleted)).toEqual([0, 1])
  })

  it('reads the node\'s addresses only for a pass that meets a local pod\'s flow, and spares the node\'s flows', async () => {
    const fake = new FakeTable({ denied: 3, allowed: 0 })
    fake.entries.set(9, udp('10.0.0.1', '10.0.0.2', 999, 9)) // the node (bridge address) to x/a
    let reads = 0
    const { c, passes, passesReach } = cleaner(fake, { nodeIps: () => (reads++, new Set(['10.0.0.1'])) })
    c.request({ state: denyState(), localIps: ['10.0.0.9'] })
    await passesReach(1)
    expect(reads).toBe(0)
    c.request({ state: denyState(), localIps })
    await passesReach(2)
    expect([reads, passes[1]!.deleted, fake.entries.has(9)]).toEqual([1, 3, true])
  })

  it('a failing table is a counted error, and the next request still runs', async () => {
    const fake = new FakeTable({ denied: 5, allowed: 0 })
    let fail = true
    const open = () => { const t = fake.table(); if (fail) { fail = false; return { ...t, scan: async () => { throw new Error('EPERM') } } } return t }
    const { c, passes, passesReach, lines } = cleaner(fake, { open })
    c.request({ state: denyState(), localIps })
    await passesReach(1)
    c.request({ state: denyState(), localIps })
    await passesReach(2)
    expect(passes.map((p) => [p.errors, p.deleted])).toEqual([[1, 0], [0, 5]])
    expect(lines.some((l) => l.includes('conntrack cleanup failed') && l.includes('EPERM'))).toBe(true)
  })
})
