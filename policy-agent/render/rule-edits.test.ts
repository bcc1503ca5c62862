// planDiff with the rule handles the applier knows (rule-edits.ts): a big chain's change is the
// deletes and inserts between the rules both versions share at their ends, placed by handle.
// The kernel's side of it: test/integration/rule-edits.test.ts.
import { describe, expect, it } from 'vitest'
import { Compiler } from '../compile/compiler.js'
import { clusterOf, policy } from '../../test/kit/policy-state.js'
import type { LocalPod, NetworkPolicy } from '../model/cluster.js'
import { planDiff } from './index.js'
import { chainRules } from './rules.js'
import { MAX_INSERTED, RULE_EDIT_MIN, sharedEnds, worthEditing } from './rule-edits.js'

const CHAIN = 'pod-ingress-t-a'
const small = (i: number, port = 1000 + i): NetworkPolicy => policy('t', `p${String(i).padStart(3, '0')}`, {
  podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { peer: '0' } } }], ports: [{ protocol: 'TCP', port }] }],
})
const locals: LocalPod[] = [{ namespace: 't', name: 'a', ips: ['10.1.0.1', 'fd00:1::1'], hostVeth: 'cinchta' }]
const irOf = (c: Compiler, ps: NetworkPolicy[]) => c.compile(clusterOf({
  namespaces: { t: {} },
  pods: { 't/a': { labels: { app: 'a' }, ips: ['10.1.0.1', 'fd00:1::1'] }, 't/q': { labels: { peer: '0' }, ips: ['10.1.1.1', 'fd00:1:1::1'] } },
  policies: ps,
}), locals).ir

describe('sharedEnds and worthEditing', () => {
  it('finds the shared head and tail without overlap', () => {
    expect(sharedEnds(['a', 'b', 'c'], ['a', 'x', 'c'])).toEqual({ head: 1, tail: 1 })
    expect(sharedEnds(['a', 'a'], ['a', 'a', 'a'])).toEqual({ head: 2, tail: 0 })
    expect(sharedEnds(['a', 'b'], ['a', 'b'])).toEqual({ head: 2, tail: 0 })
  })
  it('edits only when fewer rules move than half a rewrite', () => {
    const old = Array.from({ length: 10 }, (_, i) => `r${i}`)
    expect(worthEditing(old, [...old.slice(0, 5), 'n', ...old.slice(5)], sharedEnds(old, [...old.slice(0, 5), 'n', ...old.slice(5)]))).toBe(true)
    const next = ['x', ...old.slice(1, 9), 'y']
    expect(worthEditing(old, next, sharedEnds(old, next))).toBe(false)
  })
  it('inserts at most MAX_INSERTED rules in one edit (their echoes must fit the receive buffer)', () => {
    const old = Array.from({ length: 10 * MAX_INSERTED }, (_, i) => `r${i}`)
    const grown = (n: number) => [...old.slice(0, 5), ...Array.from({ length: n }, (_, i) => `n${i}`), ...old.slice(5)]
    expect(worthEditing(old, grown(MAX_INSERTED), sharedEnds(old, grown(MAX_INSERTED)))).toBe(true)
    expect(worthEditing(old, grown(MAX_INSERTED + 1), sharedEnds(old, grown(MAX_INSERTED + 1)))).toBe(false)
  })
})

describe('planDiff with known rule handles', () => {
  const N = 150
  const c = new Compiler()
  const policies = Array.from({ length: N }, (_, i) => small(i))
  const prev = irOf(c, policies)
  const rules = chainRules(CHAIN, prev.chains[CHAIN]!)
  const handles = rules.map((_, i) => 1000 + i)
  const known = { chain: prev.chains[CHAIN]!, rules, handles }

  it('changes one policy of a big chain by deleting and inserting its rules before the next one\'s, by handle', () => {
    expect(rules.length).toBeGreaterThanOrEqual(RULE_EDIT_MIN)
    const next = irOf(c, policies.map((p, i) => (i === 70 ? small(70, 9000) : p)))
    const plan = planDiff(prev, next, {}, { knownRules: (n) => (n === CHAIN ? known : undefined) })
    // p070's two rules (one per family) are rules 140 and 141
    expect(plan.text).toBe([
      `delete rule inet cinch ${CHAIN} handle 1140`, `delete rule inet cinch ${CHAIN} handle 1141`,
      ...chainRules(CHAIN, next.chains[CHAIN]!).slice(140, 142).map((r) => `insert rule inet cinch ${CHAIN} position 1142 ${r}`),
    ].join('\n') + '\n')
    expect(plan.ruleEdits).toEqual([{ chain: CHAIN, ir: next.chains[CHAIN], rules: chainRules(CHAIN, next.chains[CHAIN]!), head: handles.slice(0, 140), inserted: [2, 3], tail: handles.slice(142) }])
    expect(plan.commands!.slice(2).every((x) => 'kind' in x && x.kind === 'rule' && x.echo)).toBe(true)
    // unknown (or known of another chain object): written whole, and named for its handles to be read
    const whole = planDiff(prev, next, {}, { knownRules: () => ({ ...known, chain: { ...known.chain } }) })
    expect(whole.lines).toBe(1 + rules.length)
    expect(whole.written?.map((w) => w.chain)).toEqual([CHAIN])
  })

  it('a change to most of the chain is a rewrite', () => {
    const next = irOf(c, policies.map((p, i) => small(i, 20000 + i)))
    const plan = planDiff(prev, next, {}, { knownRules: () => known })
    expect(plan.ruleEdits).toBeUndefined()
    expect(plan.text.startsWith(`flush chain inet cinch ${CHAIN}\n`)).toBe(true)
  })
})

describe('the echo budget of one diff', () => {
  it('is shared by every chain it edits: past MAX_INSERTED, a chain is rewritten instead (its handles read after)', () => {
    // Two local pods selected by the same policies: one policy of 50 peers adds 100 rules to each.
    const two: LocalPod[] = [locals[0]!, { namespace: 't', name: 'b', ips: ['10.1.0.2', 'fd00:1::2'], hostVeth: 'cinchtb' }]
    const stateOf = (ps: NetworkPolicy[]) => clusterOf({
      namespaces: { t: {} },
      pods: { 't/a': { labels: { app: 'a' }, ips: ['10.1.0.1', 'fd00:1::1'] }, 't/b': { labels: { app: 'a' }, ips: ['10.1.0.2', 'fd00:1::2'] }, 't/q': { labels: { peer: '0' }, ips: ['10.1.1.1', 'fd00:1:1::1'] } },
      policies: ps,
    })
    const c = new Compiler()
    const ps = Array.from({ length: 150 }, (_, i) => small(i))
    const prev = c.compile(stateOf(ps), two).ir
    const knownOf = (name: string) => { const chain = prev.chains[name]!, rules = chainRules(name, chain); return { chain, rules, handles: rules.map((_, i) => 1000 + i) } }
    const known = new Map(['pod-ingress-t-a', 'pod-ingress-t-b'].map((n) => [n, knownOf(n)]))
    const wide = policy('t', 'p075w', { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: Array.from({ length: 50 }, (_, i) => ({ podSelector: { matchLabels: { w: String(i) } } })) }] })
    const next = c.compile(stateOf([...ps, wide]), two).ir
    const plan = planDiff(prev, next, {}, { knownRules: (n) => known.get(n) })
    expect(plan.ruleEdits?.map((e) => [e.chain, e.inserted.length])).toEqual([['pod-ingress-t-a', 100]])
    expect(plan.written?.map((w) => w.chain)).toEqual(['pod-ingress-t-b'])
    expect(plan.text).toContain('flush chain inet cinch pod-ingress-t-b\n')
    expect(MAX_INSERTED).toBeLessThan(200)
  })
})
