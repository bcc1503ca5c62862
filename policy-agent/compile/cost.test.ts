// Oversized policies (issue 8.3): what one policy may cost is bounded, and what it costs no longer
// multiplies ports by peers by pods -- port lists and ipBlocks are shared sets, held to decide().
import { describe, expect, test } from 'vitest'
import { Compiler, compile } from './index.js'
import { disagreements, evalForward, packets } from '../../test/kit/ir-eval.js'
import { DEFAULT_MAX_NODE_POLICY_COST, DEFAULT_MAX_POD_POLICY_COST, DEFAULT_MAX_POLICY_COST, cnpCost, directionCost, nodeClosures, policyCost } from './cost.js'
import { compileSelector } from '../model/selector.js'
import { normalizePolicy, type NormPolicy } from './normalize.js'
import { allLocal, clusterOf, policy } from '../../test/kit/policy-state.js'
import type { NetworkPolicy } from '../model/cluster.js'
import { renderFull } from '../render/index.js'
import { failedClosed } from './ir.js'
import { FlowCompiler } from '../flows/compiler.js'
import { FLOW_LOG_DEFAULTS } from '../flows/options.js'

const state = (policies: NetworkPolicy[]) => clusterOf({
  namespaces: { x: {} },
  pods: {
    'x/t': { labels: { app: 't' }, ips: ['10.0.0.1', 'fd00::1'] },
    'x/u': { labels: { app: 't' }, ips: ['10.0.0.2', 'fd00::2'] },
    ...Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`x/p${i}`, { labels: { app: `p${i}` }, ips: [`10.0.1.${i + 1}`, `fd00::1:${i + 1}`] }])),
  },
  policies,
})
const ports = (n: number) => Array.from({ length: n }, (_, i) => ({ port: 1000 + 2 * i }))
const manyPorts = (n: number, peers = 5) => policy('x', 'big', {
  podSelector: { matchLabels: { app: 't' } },
  ingress: [{ from: Array.from({ length: peers }, (_, i) => ({ podSelector: { matchLabels: { app: `p${i}` } } })), ports: [...ports(n), { protocol: 'UDP', port: 53, endPort: 60 }] }],
})
const blocks = (n: number) => policy('x', 'blocks', {
  podSelector: { matchLabels: { app: 't' } },
  ingress: [{ from: Array.from({ length: n }, (_, i) => ({ ipBlock: { cidr: `10.${100 + (i >> 8)}.${i & 255}.0/24`, except: [`10.${100 + (i >> 8)}.${i & 255}.128/26`] } })) }],
})
const norm = (p: NetworkPolicy) => normalizePolicy(p) as NormPolicy

describe('cost bound', () => {
  test('the estimate counts port ranges, blocks and excepts once, and rules per peer and protocol', () => {
    expect(policyCost(norm(manyPorts(100)))).toBe(101 + (5 * 2 + 0) * 2) // 101 ranges; 10 rules x 2 protocols
    expect(policyCost(norm(blocks(3000)))).toBe(6000 + 1)
    expect(policyCost(norm(policy('x', 'deny', { podSelector: {} })))).toBe(0)
  })
  test('a policy over the bound is reported with the bound and skipped whole; the others apply', () => {
    const s = state([manyPorts(30_000), policy('x', 'deny-p0', { podSelector: { matchLabels: { app: 'p0' } } })])
    const { ir, invalid } = new Compiler().compile(s, allLocal(s))
    expect(invalid).toEqual([{ policy: 'x/big', reason: expect.stringMatching(new RegExp(`^too large: about 30021 nftables set elements and rules, over the limit of ${DEFAULT_MAX_POLICY_COST} \\(agent flag --max-policy-cost\\)$`)) }])
    expect(Object.keys(ir.chains)).toEqual(['pod-ingress-x-p0'])
    // the bound is a flag: raised, the same policy compiles
    expect(new Compiler({ maxPolicyCost: 40_000 }).compile(s, allLocal(s)).invalid).toEqual([])
  })
})

describe('what the policies selecting one pod add up to', () => {
  // One tenant's many small policies, each far under the per-policy bound, all selecting x/t:
  // each allows one peer pod on one port (cost 1 port element + 2 rules: one per family).
  const small = (i: number, extra: object = {}) => policy('x', `small-${String(i).padStart(3, '0')}`, {
    podSelector: { matchLabels: { app: 't' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: `p${i % 5}` } } }], ports: [{ port: 1000 + i }] }], ...extra,
  })
  const smalls = (n: number) => Array.from({ length: n }, (_, i) => small(i))
  const allowedTo = (ir: ReturnType<typeof compile>['ir'], daddr: string, dport: number) => evalForward(ir, { saddr: daddr.includes(':') ? 'fd00::1:1' : '10.0.1.1', daddr, protocol: 'tcp', dport }).allowed

  test('past --max-pod-policy-cost the pod\'s chain of that direction is its drop alone, said why; other pods and directions keep theirs', () => {
    expect(directionCost(norm(small(0)), 'ingress')).toBe(3)
    expect(directionCost(norm(small(0)), 'egress')).toBe(0)
    const egress = policy('x', 'egress-t', { podSelector: { matchLabels: { app: 't' } }, egress: [{ ports: [{ port: 53, protocol: 'UDP' }] }] })
    const u = policy('x', 'u-from-p0', { podSelector: { matchLabels: { app: 'u' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'p0' } } }] }] })
    const s = clusterOf({
      namespaces: { x: {} },
      pods: {
        'x/t': { labels: { app: 't' }, ips: ['10.0.0.1', 'fd00::1'] },
        'x/u': { labels: { app: 'u' }, ips: ['10.0.0.2', 'fd00::2'] },
        ...Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`x/p${i}`, { labels: { app: `p${i}` }, ips: [`10.0.1.${i + 1}`, `fd00::1:${i + 1}`] }])),
      },
      policies: [...smalls(10), egress, u],
    })
    // 10 policies x 3 = 30: at the bound they apply; one under it, the ingress fails closed
    const at = new Compiler({ maxPodPolicyCost: 30 }).compile(s, allLocal(s))
    expect(failedClosed(at.ir)).toEqual([])
    expect(allowedTo(at.ir, '10.0.0.1', 1000)).toBe(true)
    const over = new Compiler({ maxPodPolicyCost: 29 }).compile(s, allLocal(s))
    expect(over.invalid).toEqual([]) // no policy is invalid: the pod is what is over
    expect(failedClosed(over.ir)).toEqual([{ pod: 'x/t', direction: 'ingress', chain: 'pod-ingress-x-t', reason: 'the NetworkPolicies selecting it for ingress add up to about 30 nftables set elements and rules, over the limit of 29 for one pod (agent flag --max-pod-policy-cost): the pod is isolated for ingress with no rule allowing any, until they are fewer or smaller' }])
    const chain = over.ir.chains['pod-ingress-x-t']!
    expect(chain.rules).toEqual([])
    // what isolates it, as flow records and metrics name it (x/egress-t too: no policyTypes, so Ingress as well)
    expect(chain.policies).toHaveLength(11)
    expect(renderFull(over.ir)).toMatch(/chain pod-ingress-x-t \{[^}]*counter name "drop-ingress-x-t[^"]*" drop/)
    // the peer each policy allows is dropped now, in the kernel's walk of the IR
    expect(allowedTo(over.ir, '10.0.0.1', 1000)).toBe(false)
    expect(allowedTo(over.ir, 'fd00::1', 1000)).toBe(false)
    // no counter is declared for a policy whose rules are in no chain
    expect(Object.keys(over.ir.policyCounters)).toEqual(['x/egress-t', 'x/u-from-p0'])
    // x/t's egress (cost 1) and x/u's ingress are untouched
    expect(over.ir.chains['pod-egress-x-t']!.rules).toEqual(at.ir.chains['pod-egress-x-t']!.rules)
    expect(evalForward(over.ir, { saddr: '10.0.1.1', daddr: '10.0.0.2', protocol: 'tcp', dport: 80 }).allowed).toBe(true)
    expect(JSON.stringify(over.ir.chains['pod-ingress-x-u'])).toBe(JSON.stringify(at.ir.chains['pod-ingress-x-u']))
    // the default is the per-policy bound: any valid policy fits alone
    expect(DEFAULT_MAX_POD_POLICY_COST).toBe(DEFAULT_MAX_POLICY_COST)
    expect(failedClosed(new Compiler().compile(s, allLocal(s)).ir)).toEqual([])
  })

  test('incrementally: the pod closes when a policy tips it over, opens when one goes, and the IR is a fresh compile\'s each time', () => {
    let s = state(smalls(10))
    const c = new Compiler({ maxPodPolicyCost: 30 })
    const step = () => {
      const ir = c.compile(s, allLocal(s)).ir
      expect(JSON.stringify(ir)).toBe(JSON.stringify(new Compiler({ maxPodPolicyCost: 30 }).compile(s, allLocal(s)).ir))
      return ir
    }
    expect(failedClosed(step()).map((f) => `${f.pod} ${f.direction}`)).toEqual([])
    s = { ...s, policies: new Map(s.policies).set('x/small-010', small(10)) }
    const closed = step()
    // x/t and x/u (both app=t) fail closed; counters of the policies go with their rules
    expect(failedClosed(closed).map((f) => `${f.pod} ${f.direction}`)).toEqual(['x/t ingress', 'x/u ingress'])
    expect(closed.policyCounters).toEqual({})
    expect(allowedTo(closed, '10.0.0.1', 1000)).toBe(false)
    // a policy with no ingress rule selecting the pod costs nothing: still closed, and its egress applies
    s = { ...s, policies: new Map(s.policies).set('x/deny-egress', policy('x', 'deny-egress', { podSelector: { matchLabels: { app: 't' } }, policyTypes: ['Egress'] })) }
    expect(failedClosed(step()).map((f) => `${f.pod} ${f.direction}`)).toEqual(['x/t ingress', 'x/u ingress'])
    const m = new Map(s.policies)
    m.delete('x/small-003')
    s = { ...s, policies: m }
    const open = step()
    expect(failedClosed(open)).toEqual([])
    expect(allowedTo(open, '10.0.0.1', 1000)).toBe(true)
    expect(allowedTo(open, '10.0.0.1', 1003)).toBe(false)
  })
})

describe('what the policies selecting all local pods add up to (--max-node-policy-cost)', () => {
  // A policy with k pod peers costs 2k (a rule per peer and family). One pod per namespace, so that
  // a change in one namespace leaves the others' parts to the node bound: a/pod ingress 10, b/pod
  // ingress 6, c/pod ingress 6 and egress 2: 24 on the node; by namespace a 10, c 8, b 6.
  const peers = (k: number) => Array.from({ length: k }, (_, i) => ({ namespaceSelector: {}, podSelector: { matchLabels: { app: `p${i}` } } }))
  const ingress = (ns: string, k: number, name = 'in', podSelector: object = {}) => policy(ns, name, { podSelector, ingress: [{ from: peers(k) }] })
  const egressC = policy('c', 'out', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: peers(1) }] })
  const node = (policies: NetworkPolicy[], more: Record<string, { labels: Record<string, string>; ips: string[] }> = {}) => clusterOf({
    namespaces: { a: {}, b: {}, c: {}, peers: {}, many: {} },
    pods: {
      ...Object.fromEntries(['a', 'b', 'c'].map((ns, i) => [`${ns}/pod`, { labels: { app: ns }, ips: [`10.0.0.${i + 1}`] }])),
      ...Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`peers/p${i}`, { labels: { app: `p${i}` }, ips: [`10.0.1.${i + 1}`] }])),
      ...more,
    },
    policies,
  })
  const local = (s: ReturnType<typeof node>) => allLocal(s).filter((lp) => lp.namespace !== 'peers')
  const all = [ingress('a', 5), ingress('b', 3), ingress('c', 3), egressC]
  const closedOf = (ir: ReturnType<typeof compile>['ir']) => failedClosed(ir).map((f) => `${f.pod} ${f.direction}`)
  const from = (ir: ReturnType<typeof compile>['ir'], daddr: string) => evalForward(ir, { saddr: '10.0.1.1', daddr, protocol: 'tcp', dport: 80 }).allowed

  test('over it the costliest namespace\'s costliest directions close first, until the rest fit; each says why', () => {
    const s = node(all)
    expect(closedOf(new Compiler({ maxNodePolicyCost: 24 }).compile(s, local(s)).ir)).toEqual([])
    const one = new Compiler({ maxNodePolicyCost: 20 }).compile(s, local(s)).ir
    expect(failedClosed(one)).toEqual([{ pod: 'a/pod', direction: 'ingress', chain: 'pod-ingress-a-pod', reason: 'the NetworkPolicies selecting it for ingress add up to about 10 nftables set elements and rules, and those of all pods on this node to more than the limit of 20 for a node (agent flag --max-node-policy-cost), which closes first the chains of the namespace that costs the node most, the costliest first: the pod is isolated for ingress with no rule allowing any, until they are fewer or smaller' }])
    expect(from(one, '10.0.0.1')).toBe(false)
    expect(from(one, '10.0.0.2')).toBe(true)
    // 14 left over 13: namespace c (8) before b (6), its ingress (6) first; its egress (2) stays
    expect(closedOf(new Compiler({ maxNodePolicyCost: 13 }).compile(s, local(s)).ir)).toEqual(['a/pod ingress', 'c/pod ingress'])
    // 7: c's egress too (8 -> 6), the rest of its namespace before b's
    expect(closedOf(new Compiler({ maxNodePolicyCost: 7 }).compile(s, local(s)).ir)).toEqual(['a/pod ingress', 'c/pod egress', 'c/pod ingress'])
    // a pod over its own bound is closed by it and costs the node nothing: 14 left, c/pod closes for 13
    const both = new Compiler({ maxPodPolicyCost: 9, maxNodePolicyCost: 13 }).compile(s, local(s)).ir
    expect(failedClosed(both).map((f) => [f.pod, f.reason.match(/--max-\w+-policy-cost/)![0]])).toEqual([['a/pod', '--max-pod-policy-cost'], ['c/pod', '--max-node-policy-cost']])
    // pods that are not local cost this node nothing
    expect(closedOf(new Compiler({ maxNodePolicyCost: 13 }).compile(s, local(s).filter((lp) => lp.namespace !== 'a')).ir)).toEqual(['c/pod ingress'])
    // the default lets five pods at the pod bound through
    expect(DEFAULT_MAX_NODE_POLICY_COST).toBe(5 * DEFAULT_MAX_POD_POLICY_COST)
    expect(closedOf(new Compiler().compile(s, local(s)).ir)).toEqual([])
  })

  test('a tenant\'s many cheaper pods close before another tenant\'s one costlier pod', () => {
    // Namespace `many`: four pods of 6 each (24 on the node); a/pod alone costs 10, the most of any pod.
    const pods = Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`many/m${i}`, { labels: { app: 'm' }, ips: [`10.0.2.${i + 1}`] }]))
    const s = node([ingress('a', 5), ingress('many', 3)], pods)
    // 34 over 25: two of many's pods (by name) close; a/pod keeps its policy
    expect(closedOf(new Compiler({ maxNodePolicyCost: 25 }).compile(s, local(s)).ir)).toEqual(['many/m0 ingress', 'many/m1 ingress'])
    // by pod cost alone, a/pod would have closed first
    expect(nodeClosures([{ key: 'a/pod', dir: 'ingress', cost: 10 }, ...Object.keys(pods).map((key) => ({ key, dir: 'ingress' as const, cost: 6 }))], 25).map((c) => c.key)).toEqual(['many/m0', 'many/m1'])
  })

  test('one pod\'s change closes or opens another\'s chain, and the IR is a fresh compile\'s each time', () => {
    // c/big selects c/pod once it is labelled size=big (12 more)
    let s = node([ingress('a', 5), ingress('b', 3), ingress('c', 3), ingress('c', 6, 'big', { matchLabels: { size: 'big' } })])
    const opts = { maxNodePolicyCost: 13 }
    const c = new Compiler(opts)
    const step = () => {
      const ir = c.compile(s, local(s)).ir
      expect(JSON.stringify(ir)).toBe(JSON.stringify(new Compiler(opts).compile(s, local(s)).ir))
      return closedOf(ir)
    }
    const put = (p: NetworkPolicy) => { s = { ...s, policies: new Map(s.policies).set(`${p.metadata!.namespace}/${p.metadata!.name}`, p) } }
    const drop = (k: string) => { const m = new Map(s.policies); m.delete(k); s = { ...s, policies: m } }
    const label = (labels: Record<string, string>) => { s = { ...s, pods: new Map(s.pods).set('c/pod', { ...s.pods.get('c/pod')!, labels }) } }
    expect(step()).toEqual(['a/pod ingress']) // 22 -> 12
    put(ingress('b', 4)) // b's own change: 14 over 13, b/pod (8) closes
    expect(step()).toEqual(['a/pod ingress', 'b/pod ingress'])
    put(ingress('b', 3))
    expect(step()).toEqual(['a/pod ingress'])
    put(egressC) // c's policy closes c/pod: 14 over 13, namespace c (8) before b (6)
    expect(step()).toEqual(['a/pod ingress', 'c/pod ingress'])
    drop('a/in') // a/pod open, no policy; still 14: c/pod stays closed
    expect(step()).toEqual(['c/pod ingress'])
    put(ingress('b', 5)) // b (10) is now the costliest namespace: b/pod closes, c/pod opens
    expect(step()).toEqual(['b/pod ingress'])
    drop('b/in') // 8: b/pod opens
    expect(step()).toEqual([])
    put(ingress('a', 5))
    put(ingress('b', 3))
    drop('c/out')
    expect(step()).toEqual(['a/pod ingress'])
    // c/pod's labels: c/big selects it too (18): it closes first, then a/pod (10) for 16 over 13
    label({ app: 'c', size: 'big' })
    expect(step()).toEqual(['a/pod ingress', 'c/pod ingress'])
    label({ app: 'c' })
    expect(step()).toEqual(['a/pod ingress'])
  })

  test('audit policies have what the enforced ones left of it', () => {
    // Enforced: a 10, b 6 (16 of 20). Audit (cinch.dev/audit): 6 on c/pod, more than the 4 left.
    const audit = { ...ingress('c', 3, 'audit'), metadata: { namespace: 'c', name: 'audit', annotations: { 'cinch.dev/audit': 'true' } } }
    const s = node([ingress('a', 5), ingress('b', 3), audit])
    const closed = (max: number) => failedClosed(new FlowCompiler({ maxNodePolicyCost: max, flowLogs: FLOW_LOG_DEFAULTS }).compile(s, local(s)).ir).map((f) => `${f.pod} ${f.direction}${f.audit ? ' audit' : ''}`)
    expect(closed(22)).toEqual([])
    expect(closed(21)).toEqual(['c/pod ingress audit'])
    // An audit chain drops nothing: its reason says so, where an enforced one's says it isolates.
    const reasons = (max: number) => failedClosed(new FlowCompiler({ maxNodePolicyCost: max, flowLogs: FLOW_LOG_DEFAULTS }).compile(s, local(s)).ir).map((f) => f.reason)
    expect(reasons(21)).toEqual([expect.stringMatching(/: its audit chain for ingress reports every connection as one they would deny \(nothing is dropped by it\)/)])
    expect(reasons(15)).toEqual([expect.stringMatching(/: the pod is isolated for ingress with no rule allowing any/)])
    // the enforced chains come first: 15 closes a/pod, which leaves the audit chain its 6 (6 + 6 <= 15)
    expect(closed(15)).toEqual(['a/pod ingress'])
  })

  test('nodeClosures is a function of the costs alone', () => {
    const costs = [{ key: 'n/b', dir: 'egress' as const, cost: 5 }, { key: 'n/a', dir: 'egress' as const, cost: 5 }, { key: 'n/a', dir: 'ingress' as const, cost: 5 }, { key: 'm/c', dir: 'ingress' as const, cost: 6 }]
    expect(nodeClosures(costs, 21)).toEqual([])
    // namespace n (15) before m (6), though m/c is the costliest pod
    expect(nodeClosures(costs, 20).map((c) => `${c.key} ${c.dir}`)).toEqual(['n/a egress'])
    expect(nodeClosures([...costs].reverse(), 6).map((c) => `${c.key} ${c.dir}`)).toEqual(['n/a egress', 'n/a ingress', 'n/b egress'])
    expect(nodeClosures(costs, 0)).toHaveLength(4)
  })
})

describe('the invalid list', () => {
  // The agent compares the list it gets with the last one by identity before it logs anything; the
  // compiler made a new one, sorting every invalid policy, on each policy change anywhere.
  test('is the same array while no policy becomes valid or invalid, and a new one when one does', () => {
    let s = state([manyPorts(30_000), policy('x', 'deny-p0', { podSelector: { matchLabels: { app: 'p0' } } })])
    const c = new Compiler()
    const first = c.compile(s, allLocal(s)).invalid
    expect(first.map((i) => i.policy)).toEqual(['x/big'])
    const put = (p: NetworkPolicy) => { s = { ...s, policies: new Map(s.policies).set(`x/${p.metadata!.name}`, p) } }
    put(policy('x', 'deny-p1', { podSelector: { matchLabels: { app: 'p1' } } })) // valid, in the same namespace
    expect(c.compile(s, allLocal(s)).invalid).toBe(first)
    put(JSON.parse(JSON.stringify(manyPorts(30_001)))) // still over the bound, for another reason
    const second = c.compile(s, allLocal(s)).invalid
    expect(second).not.toBe(first)
    expect(second).toEqual([{ policy: 'x/big', reason: expect.stringContaining('about 30022') }])
    put(policy('x', 'also-big', manyPorts(30_000).spec!)) // a second invalid one, sorted before it
    expect(c.compile(s, allLocal(s)).invalid.map((i) => i.policy)).toEqual(['x/also-big', 'x/big'])
    put(manyPorts(10)) // fixed
    expect(c.compile(s, allLocal(s)).invalid.map((i) => i.policy)).toEqual(['x/also-big'])
  })
})

describe('deferRemote: the policies of namespaces without a local pod checked later', () => {
  const cluster = () => clusterOf({
    namespaces: { x: {}, y: {} },
    pods: { 'x/a': { labels: { app: 'a' }, ips: ['10.0.0.1'] }, 'y/b': { labels: { app: 'b' }, ips: ['10.0.0.2'] } },
    policies: [
      policy('x', 'from-y', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'b' } } }] }] }),
      policy('y', 'bad', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: 'not-a-cidr' } }] }] }),
      policy('y', 'deny', { podSelector: {}, policyTypes: ['Ingress'] }),
    ],
  })
  const onlyX = (s: ReturnType<typeof cluster>) => allLocal(s).filter((lp) => lp.namespace === 'x')

  test('the IR is the whole compile\'s; the invalid list lacks their policies until checkDeferred or a compile without it', () => {
    const s = cluster()
    const c = new Compiler()
    const first = c.compile(s, onlyX(s), { deferRemote: true })
    const whole = new Compiler().compile(s, onlyX(s))
    expect(JSON.stringify(first.ir)).toBe(JSON.stringify(whole.ir))
    expect(first.invalid).toEqual([])
    expect(whole.invalid.map((i) => i.policy)).toEqual(['y/bad'])
    expect(c.checkDeferred(Infinity)).toEqual({ done: true, invalidChanged: true })
    expect(c.compile(s, onlyX(s), { deferRemote: true }).invalid).toEqual(whole.invalid)
    expect(c.checkDeferred(Infinity)).toEqual({ done: true, invalidChanged: false })
    // without the option, a compile checks what was left
    const d = new Compiler()
    d.compile(s, onlyX(s), { deferRemote: true })
    expect(d.compile(s, onlyX(s)).invalid).toEqual(whole.invalid)
  })

  test('a namespace left unchecked is checked as soon as one of its pods is local', () => {
    const s = cluster()
    const c = new Compiler()
    c.compile(s, onlyX(s), { deferRemote: true })
    // y/b becomes local while y's policies are still unchecked: its chain is y/deny's
    const both = c.compile(s, allLocal(s), { deferRemote: true })
    const whole = new Compiler().compile(s, allLocal(s))
    expect(JSON.stringify(both.ir)).toBe(JSON.stringify(whole.ir))
    expect(Object.keys(both.ir.chains)).toContain('pod-ingress-y-b')
    expect(both.invalid).toEqual(whole.invalid)
  })
})

describe('shared sets instead of a cross product', () => {
  test('many ports: one set per protocol for all peers and pods, held to decide()', () => {
    const s = state([manyPorts(500)])
    const { ir } = compile(s, allLocal(s))
    const portSets = Object.entries(ir.sets).filter(([, x]) => x.kind === 'ports')
    // UDP's single range stays in its rule (below)
    expect(portSets.map(([n, x]) => [n.replace(/-\w+$/, ''), x.elements.length])).toEqual([['ports-tcp', 500]])
    const elements = Object.values(ir.sets).reduce((n, x) => n + x.elements.length, 0)
    expect(elements).toBeLessThan(600) // was 500 x 5 peers x 2 families x 2 pods inline
    expect(disagreements(s, ir, packets([['10.0.1.1', '10.0.0.1'], ['fd00::1:5', 'fd00::2'], ['10.0.9.9', '10.0.0.1']], ['tcp', 'udp'], [999, 1000, 1001, 1998, 2000, 53, 57, 61]))).toEqual([])
  })
  test('a short port list: a rule per protocol, one port inline, two or more in a shared set; no anonymous set, held to decide()', () => {
    // The kernel names every anonymous set it creates by scanning all the table's sets: a rule
    // carrying one cost ~160 us to add, ~8x a rule without (bench/README.md phase 9).
    const web = (name: string, app: string) => policy('x', name, {
      podSelector: { matchLabels: { app } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'p0' } } }], ports: [{ port: 443 }, { port: 8000, endPort: 8100 }, { protocol: 'UDP', port: 53 }, { protocol: 'SCTP', port: 9 }] }],
    })
    const s = state([web('web-t', 't'), web('web-p1', 'p1')])
    const { ir } = compile(s, allLocal(s))
    const rules = ir.chains['pod-ingress-x-t']!.rules.filter((r) => r.family === 4)
    expect(rules.map((r) => r.portSet ? `${r.portSet.protocol} @${ir.sets[r.portSet.set]!.elements.join(',')}` : r.ports!.map((x) => `${x.protocol} ${x.from}-${x.to}`).join(','))).toEqual(['sctp 9-9', 'tcp @443,8000-8100', 'udp 53-53'])
    // one set for both policies' TCP list
    expect(Object.values(ir.sets).filter((x) => x.kind === 'ports')).toHaveLength(1)
    const ruleLines = renderFull(ir).split('\n').filter((l) => l.includes(' counter name "policy-'))
    expect(ruleLines.filter((l) => l.includes('th dport'))).toHaveLength(18) // 3 pods (t, u, p1) x 2 families x 3 protocols
    expect(ruleLines.filter((l) => l.includes('{'))).toEqual([]) // no anonymous set in any rule
    expect(disagreements(s, ir, packets([['10.0.1.1', '10.0.0.1']], ['tcp', 'udp', 'sctp'], [9, 53, 80, 443, 7999, 8000, 8050, 8100, 8101]))).toEqual([])
  })
  test('many ipBlocks with excepts: one interval set and one rule per family, held to decide()', () => {
    const s = state([blocks(600), policy('x', 'six', { podSelector: { matchLabels: { app: 't' } }, ingress: [{ from: [{ ipBlock: { cidr: 'fd00:1::/64', except: ['fd00:1::/65'] } }, { ipBlock: { cidr: 'fd00:2::/64' } }] }] })])
    const { ir } = compile(s, allLocal(s))
    const chain = ir.chains['pod-ingress-x-t']!
    expect(chain.rules.map((r) => r.family)).toEqual([4, 6])
    // each /24 leaves .0/25 and .192/26, which merges with the next block's .0/25
    expect(ir.sets[chain.rules[0]!.peerSet!]!.elements).toHaveLength(601)
    const srcs = ['10.100.0.1', '10.100.0.64', '10.100.0.130', '10.100.0.200', '10.102.87.255', '10.102.88.1', 'fd00:1::1', 'fd00:1:0:0:8000::1', 'fd00:2::9']
    expect(disagreements(s, ir, packets(srcs.map((src) => [src, src.includes(':') ? 'fd00::1' : '10.0.0.1']), ['tcp'], [80]))).toEqual([])
  })
})

describe('ClusterNetworkPolicy cost', () => {
  test('counts a rule per protocol of its ports, as sharePorts produces them', () => {
    const port = (protocol: 'TCP' | 'UDP' | 'SCTP', n: number) => ({ kind: 'port' as const, protocol, from: n, to: n, words: '' })
    const peer = { kind: 'pods' as const, nsSel: compileSelector({}), podSel: compileSelector({}), words: '' }
    const rule = { direction: 'ingress', index: 0, name: '', action: 'Accept', peers: [peer], failClosed: null, protocols: [port('TCP', 80), port('TCP', 443), port('UDP', 53), port('UDP', 54), port('SCTP', 9)] }
    // 5 port elements; one pods peer: 2 families x 3 protocols = 6 rules (was counted as 2)
    expect(cnpCost({ ingress: [rule], egress: [] } as never)).toBe(5 + 6)
  })
})
