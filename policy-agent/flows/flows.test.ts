// The pure half of flow records: events from kernel packets, the Pass join, aggregation bounds,
// audit decisions, the id table built from a compiled IR.
import { describe, expect, it } from 'vitest'
import { compile } from '../compile/index.js'
import { allLocal, clusterOf, policy } from '../../test/kit/policy-state.js'
import type { NflogPacket } from '../../lib/net/nflog.js'
import { Aggregator } from './aggregate.js'
import { auditDecider, boolAnnotation, flowLogsEnabled, splitAudit } from './audit.js'
import { TraceAssembler, flowEvent, type FlowEvent } from './events.js'
import { encodePrefix, refId } from './prefix.js'
import { RefTable, refSourceFromIR } from './refs.js'

// A TCP SYN 10.244.1.2:40003 -> 10.244.1.3:80 (the kernel's bytes from nflog.test.ts, addresses rewritten).
const syn = (src = [10, 244, 1, 2], dst = [10, 244, 1, 3]) => {
  const b = Buffer.from('4500003c4f1940004006eda07f0000017f0000019c430050', 'hex')
  Buffer.from(src).copy(b, 12)
  Buffer.from(dst).copy(b, 16)
  return b
}
const packet = (prefix: string, payload = syn()): NflogPacket => ({ family: 2, group: 1, hwProtocol: 0x0800, hook: 2, prefix, payload })

const state = clusterOf({
  namespaces: { shop: {}, web: {} },
  pods: {
    'web/front': { labels: { app: 'front' }, ips: ['10.244.1.2', 'fd00::2'] },
    'shop/db': { labels: { app: 'db' }, ips: ['10.244.1.3', 'fd00::3'] },
    'shop/api': { labels: { app: 'api' }, ips: ['10.244.1.4'] },
  },
  policies: [
    policy('shop', 'db-from-api', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'api' } } }] }] }),
  ],
})
const { ir } = compile(state, allLocal(state))
const refs = new RefTable(refSourceFromIR(ir))
const dbChain = Object.entries(ir.chains).find(([, c]) => c.pod === 'shop/db' && c.direction === 'ingress')![0]

describe('RefTable from a compiled IR', () => {
  it('names the policy of a rule id and the isolating policies of a chain id', () => {
    expect(refs.resolve('np', refId('np', 'shop/db-from-api'))).toEqual({ kind: 'policy', policy: 'shop/db-from-api' })
    expect(refs.resolve('chain', refId('chain', dbChain))).toMatchObject({ kind: 'chain', pod: 'shop/db', direction: 'ingress', policies: ['shop/db-from-api'] })
    expect(refs.resolve('np', refId('chain', dbChain))).toBeUndefined() // spaces do not mix
    expect(refs.resolve('np', refId('np', 'shop/gone'))).toBeUndefined()
  })
  it('a collision names neither', () => {
    const t = new RefTable({ networkPolicies: ['a/b'], chains: [] })
    expect(t.collisions).toEqual([])
    // Force one: two chains with one name but different policies.
    const u = new RefTable({ networkPolicies: [], chains: [{ name: 'c', pod: 'a/b', direction: 'ingress', policies: ['x'] }, { name: 'c', pod: 'a/b', direction: 'ingress', policies: ['y'] }] })
    expect(u.resolve('chain', refId('chain', 'c'))).toBe('ambiguous')
    expect(u.collisions).toEqual(['chain c ~ c'])
  })
  // Two NetworkPolicy keys with one 48-bit id, found offline as a tenant could (distinguished
  // points over refId, ~5*10^7 hashes): what a collision does, with real names.
  const [twinA, twinB] = ['t/pdc106d4f7772', 't/pb27cd61a6b4b']
  it('real colliding names: neither is named, the pair is reported once', () => {
    expect(refId('np', twinA)).toBe(refId('np', twinB))
    const t = new RefTable({ networkPolicies: [twinA, 'shop/db-from-api', twinB], chains: [] })
    expect(t.resolve('np', refId('np', twinA))).toBe('ambiguous')
    expect(t.resolve('np', refId('np', 'shop/db-from-api'))).toEqual({ kind: 'policy', policy: 'shop/db-from-api' })
    expect(t.collisions).toEqual([`np ${twinB} ~ ${twinA}`])
  })
  it('a twin replacing the other within one sync is ambiguous for that sync, then named', () => {
    // Packets the deleted policy's rules logged can still be queued when the new table is set:
    // named after the twin they would be misattributed, silently.
    const before = new RefTable({ networkPolicies: [twinA], chains: [] })
    expect(before.resolve('np', refId('np', twinA))).toEqual({ kind: 'policy', policy: twinA })
    const swap = new RefTable({ networkPolicies: [twinB], chains: [] }, before)
    expect(swap.resolve('np', refId('np', twinB))).toBe('ambiguous')
    expect(swap.collisions).toEqual([`np ${twinB} ~ ${twinA}`])
    const after = new RefTable({ networkPolicies: [twinB], chains: [] }, swap)
    expect(after.resolve('np', refId('np', twinB))).toEqual({ kind: 'policy', policy: twinB })
    expect(after.collisions).toEqual([])
    // Both, then one of them gone: the one left is ambiguous one sync more, then named.
    const both = new RefTable({ networkPolicies: [twinA, twinB], chains: [] }, after)
    const left = new RefTable({ networkPolicies: [twinA], chains: [] }, both)
    expect(left.resolve('np', refId('np', twinA))).toBe('ambiguous')
    expect(new RefTable({ networkPolicies: [twinA], chains: [] }, left).resolve('np', refId('np', twinA))).toEqual({ kind: 'policy', policy: twinA })
  })
  it('the same names one sync apart are no collision; spaces do not mix', () => {
    const a = new RefTable({ networkPolicies: ['x/p'], clusterPolicies: ['x/p'], chains: [] })
    const b = new RefTable({ networkPolicies: ['x/p'], clusterPolicies: ['x/p'], chains: [] }, a)
    expect(b.collisions).toEqual([])
    expect(b.resolve('np', refId('np', 'x/p'))).toEqual({ kind: 'policy', policy: 'x/p' })
  })
})

describe('flowEvent', () => {
  it('an allow by rule 0 of shop/db-from-api', () => {
    const ev = flowEvent(packet(encodePrefix({ direction: 'ingress', tier: 'networkpolicy', hit: 'rule', action: 'allow', id: refId('np', 'shop/db-from-api'), rule: 0 })), refs, 1000)
    expect(ev).toEqual({ at: 1000, family: 4, direction: 'ingress', src: '10.244.1.2', dst: '10.244.1.3', proto: 'tcp', sport: 40003, dport: 80,
      hit: { tier: 'networkpolicy', action: 'allow', policy: 'shop/db-from-api', rule: 0 } })
  })
  it('a drop by isolation names the policies isolating the pod', () => {
    const ev = flowEvent(packet(encodePrefix({ direction: 'ingress', tier: 'networkpolicy', hit: 'end', action: 'deny', id: refId('chain', dbChain) })), refs, 1000) as FlowEvent
    expect(ev.hit).toEqual({ tier: 'networkpolicy', action: 'deny', policies: ['shop/db-from-api'] })
  })
  it('uses the kernel timestamp when there is one; unknown ids and foreign prefixes are flagged, not guessed', () => {
    const p = { ...packet(encodePrefix({ direction: 'egress', tier: 'networkpolicy', hit: 'rule', action: 'allow', id: refId('np', 'x/y'), rule: 2 })), timestamp: { sec: 5, usec: 1500 } }
    expect(flowEvent(p, refs, 1000)).toMatchObject({ at: 5001, hit: { unresolved: 'unknown', rule: 2 } })
    expect(flowEvent(packet('DROP: '), refs, 0)).toEqual({ rejected: 'prefix' })
    expect(flowEvent(packet('cinch1:inxD:' + refId('chain', dbChain), Buffer.from([0x45, 0])), refs, 0)).toEqual({ rejected: 'headers' })
  })
})

const ev = (o: Partial<FlowEvent> & Pick<FlowEvent, 'hit'>): FlowEvent => ({
  at: 0, family: 4, direction: 'ingress', src: '10.244.1.2', dst: '10.244.1.3', proto: 'tcp', sport: 40000, dport: 80, ...o,
})

describe('TraceAssembler', () => {
  const pass = { tier: 'admin' as const, action: 'pass' as const, policy: 'tenants', rule: 1 }
  const allow = { tier: 'networkpolicy' as const, action: 'allow' as const, policy: 'shop/db-from-api', rule: 0 }
  it('joins a Pass hit to the final hit of the same packet', () => {
    const t = new TraceAssembler()
    expect(t.push(ev({ hit: pass }), 0)).toBeUndefined()
    expect(t.push(ev({ hit: allow }), 1)).toMatchObject({ verdict: 'allowed', trace: [pass, allow] })
    // Another packet of the same 5-tuple without a pass: its own trace.
    expect(t.push(ev({ hit: allow }), 2)!.trace).toEqual([allow])
  })
  it('a pass whose final hit never came expires as incomplete; the pending table is bounded', () => {
    const t = new TraceAssembler({ maxPending: 2, ttlMs: 100 })
    t.push(ev({ hit: pass, sport: 1 }), 0)
    t.push(ev({ hit: pass, sport: 2 }), 10)
    t.push(ev({ hit: pass, sport: 3 }), 20) // pushes out sport 1
    expect(t.incomplete).toBe(1)
    expect(t.expire(115)).toBe(1) // sport 2
    expect(t.push(ev({ hit: allow, sport: 3 }), 116)!.trace).toEqual([pass, allow])
    expect(t.push(ev({ hit: allow, sport: 1 }), 117)!.trace).toEqual([allow])
  })
  it('maps actions to verdicts: deny -> denied, would-deny -> audit', () => {
    const t = new TraceAssembler()
    expect(t.push(ev({ hit: { tier: 'networkpolicy', action: 'deny', policies: ['a/b'] } }), 0)!.verdict).toBe('denied')
    expect(t.push(ev({ hit: { tier: 'audit', action: 'would-deny', policies: ['a/c'] } }), 0)!.verdict).toBe('audit')
  })
})

describe('Aggregator', () => {
  const resolve = (addr: string) => ({ '10.244.1.2': 'web/front', 'fd00::2': 'web/front', '10.244.1.3': 'shop/db', 'fd00::3': 'shop/db' } as Record<string, string>)[addr]
  const a = (o: Partial<FlowEvent> = {}) => ({ ...ev({ hit: { tier: 'networkpolicy', action: 'deny', policies: ['shop/db-from-api'] }, ...o }), verdict: 'denied' as const, trace: [{ tier: 'networkpolicy' as const, action: 'deny' as const, policies: ['shop/db-from-api'] }] })
  it('counts one key once per interval with first/last seen, pods across families, new sources apart', () => {
    const g = new Aggregator({ resolve, intervalMs: 15_000 }, 0)
    g.add(a({ at: 100, sport: 1 }))
    g.add(a({ at: 50, sport: 2, family: 6, src: 'fd00::2', dst: 'fd00::3' }))
    g.add(a({ at: 200, src: '192.0.2.9' }))
    const { records, overflow } = g.flush(15_000)
    expect(overflow).toBe(0)
    expect(records).toHaveLength(2)
    expect(records[0]).toMatchObject({ src: { pod: 'web/front', addr: '10.244.1.2' }, dst: { pod: 'shop/db' }, count: 2, proto: 'tcp', dport: 80,
      firstSeen: new Date(50).toISOString(), lastSeen: new Date(100).toISOString(), start: new Date(0).toISOString(), end: new Date(15_000).toISOString() })
    expect(records[1]!.src).toEqual({ addr: '192.0.2.9' })
    expect(g.flush(30_000).records).toEqual([])
  })
  it('holds at most maxKeys records per interval; the rest is counted as overflow', () => {
    const g = new Aggregator({ resolve, maxKeys: 3 }, 0)
    for (let i = 0; i < 1000; i++) g.add(a({ dport: i }))
    g.add(a({ dport: 0 })) // an existing key still counts
    expect(g.size).toBe(3)
    const { records, overflow } = g.flush(1)
    expect(overflow).toBe(997)
    expect(records.map((r) => r.count)).toEqual([2, 1, 1])
  })
  it('names the pod that held the address at the time of the event', () => {
    let owner: string | undefined = 'shop/db'
    const g = new Aggregator({ resolve: () => owner }, 0)
    g.add(a())
    owner = undefined
    expect(g.flush(1).records[0]!.src.pod).toBe('shop/db')
  })
})

describe('audit mode', () => {
  const lockdown = { ...policy('shop', 'db-lockdown', { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Ingress'] }) }
  lockdown.metadata = { ...lockdown.metadata, annotations: { 'cinch.dev/audit': 'true' } }
  const s = clusterOf({ namespaces: { shop: {}, web: {} }, pods: { 'web/front': { ips: ['10.244.1.2'] }, 'shop/db': { labels: { app: 'db' }, ips: ['10.244.1.3'] } }, policies: [lockdown] })
  const flow = { from: { namespace: 'web', name: 'front' }, to: { namespace: 'shop', name: 'db' }, port: 5432, protocol: 'TCP' as const }

  it('an audit policy is not enforced but its would-be verdict is named', () => {
    const { enforced, audit } = splitAudit(s)
    expect([...audit]).toEqual(['shop/db-lockdown'])
    expect(enforced.policies.size).toBe(0)
    const d = auditDecider(s)(flow)
    expect(d.ingress).toEqual({ change: 'would-deny', policies: ['shop/db-lockdown'] })
    expect(d.egress.change).toBe('none')
    expect(d.words).toEqual(['would deny: shop/db-lockdown ingress'])
  })
  it('an audit allow on an isolated pod would allow; a malformed annotation enforces the policy and says why', () => {
    const allow = policy('shop', 'db-from-web', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ namespaceSelector: {} }] }] })
    allow.metadata = { ...allow.metadata, annotations: { 'cinch.dev/audit': 'true' } }
    const deny = policy('shop', 'deny', { podSelector: {}, policyTypes: ['Ingress'] })
    const t = clusterOf({ namespaces: { shop: {}, web: {} }, pods: { 'web/front': { ips: ['10.244.1.2'] }, 'shop/db': { labels: { app: 'db' }, ips: ['10.244.1.3'] } }, policies: [deny, allow] })
    expect(auditDecider(t)(flow).ingress).toMatchObject({ change: 'would-allow' })
    const typo = policy('shop', 'typo', { podSelector: {} })
    typo.metadata = { ...typo.metadata, annotations: { 'cinch.dev/audit': 'ture' } }
    const u = splitAudit(clusterOf({ namespaces: {}, pods: {}, policies: [typo] }))
    expect(u.audit.size).toBe(0)
    expect(u.enforced.policies.size).toBe(1)
    expect(u.problems[0]!.reason).toMatch(/"ture" is not "true" or "false"; enforced/)
  })
  it('flow-log opt-in: namespace annotation first, then the cluster-wide flag', () => {
    const ns = (v?: unknown) => ({ metadata: v === undefined ? {} : { annotations: { 'cinch.dev/flow-logs': v } } })
    expect(flowLogsEnabled(ns('true'), false)).toBe(true)
    expect(flowLogsEnabled(ns('false'), true)).toBe(false)
    expect(flowLogsEnabled(ns(), true)).toBe(true)
    expect(flowLogsEnabled(ns(), false)).toBe(false)
    expect(flowLogsEnabled(ns(1), false)).toBe(false)
    expect(boolAnnotation({ metadata: { annotations: [] } }, 'x').problem).toMatch(/not a map/)
  })
})
