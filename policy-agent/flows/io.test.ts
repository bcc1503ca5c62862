// Sinks, the ring, the filter shared by GET /flows and `cinch flows`, the endpoint itself (on a
// loopback port), and the metrics.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { flagsFilter, flows, recordText } from '../../cli/flows.js'
import { handleFlows } from '../server/flows.js'
import type { FlowRecord } from './aggregate.js'
import { filterQuery, matchesFilter, parseFlowFilter } from './filter.js'
import { createFlowMetrics } from './metrics.js'
import { FlowRing } from './ring.js'
import { fileSink } from './sink.js'

const rec = (i: number, o: Partial<FlowRecord> = {}): FlowRecord => ({
  start: '2026-01-01T00:00:00.000Z', end: '2026-01-01T00:00:15.000Z', src: { pod: 'web/front', addr: '10.244.1.2' }, dst: { pod: 'shop/db', addr: '10.244.1.3' },
  proto: 'tcp', dport: 5432, direction: 'ingress', verdict: 'denied', trace: [{ tier: 'networkpolicy', action: 'deny', policies: ['shop/db-lockdown'] }],
  count: i, firstSeen: '2026-01-01T00:00:01.000Z', lastSeen: '2026-01-01T00:00:02.000Z', ...o,
})

describe('fileSink', () => {
  it('rotates by size and keeps at most keep + 1 files, none much over the bound', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flows-'))
    try {
      const s = fileSink({ path: join(dir, 'flows.log'), maxBytes: 4096, keep: 2 })
      for (let i = 0; i < 200; i++) s.write([rec(i)], 0)
      s.write([], 7)
      s.close()
      expect(readdirSync(dir).sort()).toEqual(['flows.log', 'flows.log.1', 'flows.log.2'])
      for (const f of readdirSync(dir)) expect(readFileSync(join(dir, f)).length).toBeLessThanOrEqual(4096)
      const last = readFileSync(join(dir, 'flows.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
      expect(last.at(-2).count).toBe(199) // nothing lost within what is kept, newest last
      expect(last.at(-1).overflow).toBe(7)
    } finally { rmSync(dir, { recursive: true }) }
  })
  it('refuses bounds that are not bounds', () => {
    expect(() => fileSink({ path: '/nonexistent/x', maxBytes: 0 })).toThrow(/maxBytes/)
    expect(() => fileSink({ path: '/nonexistent/x', keep: -1 })).toThrow(/keep/)
  })
})

describe('FlowRing', () => {
  it('keeps the newest `capacity` records, oldest first, and tells followers', () => {
    const r = new FlowRing(3)
    const seen: number[] = []
    const stop = r.follow((x) => seen.push(x.count))
    r.push([1, 2, 3, 4, 5].map((i) => rec(i)))
    expect(r.snapshot().map((x) => x.count)).toEqual([3, 4, 5])
    stop()
    r.push([rec(6)])
    expect(seen).toEqual([1, 2, 3, 4, 5])
    expect(r.followers).toBe(0)
  })
})

describe('parseFlowFilter / matchesFilter', () => {
  it('reads from, to, verdict; refuses unknown, repeated and malformed parameters', () => {
    const f = parseFlowFilter(new URLSearchParams('from=web/front&verdict=denied'))
    expect(f).toEqual({ from: 'web/front', verdict: 'denied' })
    expect(matchesFilter(rec(1), f)).toBe(true)
    expect(matchesFilter(rec(1, { verdict: 'allowed' }), f)).toBe(false)
    expect(matchesFilter(rec(1), { to: 'web/front' })).toBe(false)
    expect(() => parseFlowFilter(new URLSearchParams('since=1'))).toThrow(/unknown parameter/)
    expect(() => parseFlowFilter(new URLSearchParams('from=a/b&from=c/d'))).toThrow(/more than once/)
    expect(() => parseFlowFilter(new URLSearchParams('from=Web/front'))).toThrow(/NS\/POD/)
    expect(() => parseFlowFilter(new URLSearchParams('from=web'))).toThrow(/NS\/POD/)
    expect(() => parseFlowFilter(new URLSearchParams('verdict=toString'))).toThrow(/verdict/)
    expect(filterQuery({ from: 'a/b', verdict: 'audit', follow: true })).toBe('?from=a%2Fb&verdict=audit&follow=1')
  })
  it('the CLI flags go through the same parser', () => {
    expect(flagsFilter({ to: 'shop/db', verdict: 'audit' })).toEqual({ to: 'shop/db', verdict: 'audit' })
    expect(() => flagsFilter({ verdict: 'dropped' })).toThrow(/--verdict/)
  })
  it('prints a record as one line with its trace', () => {
    expect(recordText(rec(3))).toBe('2026-01-01T00:00:02.000Z web/front -> shop/db TCP/5432 ingress DENIED x3  deny: isolated by shop/db-lockdown, no rule allows\n')
    expect(recordText(rec(1, { verdict: 'audit', trace: [{ tier: 'audit', action: 'would-deny', policies: ['shop/db-lockdown'] }] }))).toMatch(/AUDIT x1  would deny: shop\/db-lockdown\n$/)
    // a chain that failed closed (--max-pod-policy-cost): the sum of its policies denied, not one of them
    expect(recordText(rec(1, { trace: [{ tier: 'networkpolicy', action: 'deny', policies: ['shop/a', 'shop/b'], failedClosed: true }] }))).toMatch(/DENIED x1  deny: the pod fails closed, its policies cost more than the agent's bound \(--max-pod-policy-cost or --max-node-policy-cost; cinch status says which\) \(shop\/a, shop\/b\)\n$/)
    expect(recordText(rec(1, { verdict: 'allowed', trace: [{ tier: 'admin', action: 'pass', policy: 'tenants', rule: 0 }, { tier: 'networkpolicy', action: 'allow', policy: 'shop/db-from-api', rule: 1 }] })))
      .toMatch(/ALLOWED x1  admin pass by tenants rule 0 -> allow by shop\/db-from-api rule 1\n$/)
  })
})

describe('GET /flows and cinch flows', () => {
  const ring = new FlowRing(100)
  let server: Server
  let addr: string
  beforeAll(async () => {
    server = createServer((req, res) => handleFlows(req, res, { ring, maxFollowers: 1 }))
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    addr = `127.0.0.1:${(server.address() as { port: number }).port}`
    ring.push([rec(1), rec(2, { verdict: 'allowed', src: { addr: '192.0.2.1' } })])
  })
  afterAll(() => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections() }))

  const collect = () => {
    let text = ''
    return { out: new Writable({ write(c, _, cb) { text += c; cb() } }), text: () => text }
  }
  it('lists the recent records, filtered', async () => {
    const res = await fetch(`http://${addr}/flows?verdict=denied`)
    expect(res.headers.get('content-type')).toBe('application/x-ndjson')
    expect((await res.text()).trim().split('\n').map((l) => JSON.parse(l).count)).toEqual([1])
    const c = collect()
    expect(await flows(['--metrics-addr', addr, '--json'], c.out)).toBe(0)
    expect(c.text().trim().split('\n')).toHaveLength(2)
  })
  it('400 on a bad query, 405 on another method', async () => {
    expect((await fetch(`http://${addr}/flows?verdict=x`)).status).toBe(400)
    expect((await fetch(`http://${addr}/flows?follow=yes`)).status).toBe(400)
    expect((await fetch(`http://${addr}/flows`, { method: 'POST' })).status).toBe(405)
  })
  it('follows: new records stream in; a second follower is refused; closing unsubscribes', async () => {
    const ac = new AbortController()
    const res = await fetch(`http://${addr}/flows?follow=1&to=shop/db`, { signal: ac.signal })
    const reader = res.body!.getReader()
    const first = new TextDecoder().decode((await reader.read()).value)
    expect(first.trim().split('\n')).toHaveLength(2) // the recent ones that match
    expect((await fetch(`http://${addr}/flows?follow=1`)).status).toBe(503)
    ring.push([rec(9), rec(10, { dst: { addr: '192.0.2.7' } })])
    const next = JSON.parse(new TextDecoder().decode((await reader.read()).value))
    expect(next.count).toBe(9)
    ac.abort()
    for (let i = 0; i < 100 && ring.followers > 0; i++) await new Promise((r) => setTimeout(r, 10))
    expect(ring.followers).toBe(0)
  })
})

describe('createFlowMetrics', () => {
  it('counts verdicts per policy and rule, one per isolating policy at a chain end, and the kernel limit from two counters', async () => {
    const registry = new Registry()
    const m = createFlowMetrics({ registry, kernelCounters: async () => new Map([['flowlog-seen', { packets: 1000 }], ['flowlog-logged', { packets: 120 }]]) })
    const base = { at: 0, family: 4 as const, src: 'a', dst: 'b', proto: 'tcp', sport: 1, dport: 2, direction: 'ingress' as const }
    m.recordEvent({ ...base, verdict: 'allowed', trace: [{ tier: 'networkpolicy', action: 'allow', policy: 'shop/a', rule: 0 }] })
    m.recordEvent({ ...base, verdict: 'denied', trace: [{ tier: 'networkpolicy', action: 'deny', policies: ['shop/a', 'shop/b'] }] })
    m.recordOutcome('bad_prefix', 2)
    m.recordLost(5)
    let text = await registry.metrics()
    expect(text).toContain('cinch_flow_verdicts_total{direction="ingress",tier="networkpolicy",action="allow",policy="shop/a",rule="0"} 1')
    expect(text).toContain('cinch_flow_verdicts_total{direction="ingress",tier="networkpolicy",action="deny",policy="shop/b",rule=""} 1')
    expect(text).toContain('cinch_flow_events_total{outcome="bad_prefix"} 2')
    expect(text).toContain('cinch_flow_events_lost_total 5')
    expect(text).toContain('cinch_flow_events_limited_total 880')
    m.retainPolicies(new Set(['shop/a']))
    text = await registry.metrics()
    expect(text).not.toContain('policy="shop/b"')
    expect(text).toContain('policy="shop/a",rule="0"')
  })
})
