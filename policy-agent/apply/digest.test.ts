// irDigest: equal IRs (whatever order their records' keys were inserted in) have one digest; any
// difference the renderer would print (an element, a rule's text, a counter, the flow-log limit, a
// map element, failOpen) gives another; what is not plain data has none.
import { describe, expect, it } from 'vitest'
import { compile } from '../compile/index.js'
import { FlowCompiler } from '../flows/compiler.js'
import { FLOW_LOG_DEFAULTS } from '../flows/options.js'
import { allLocal, clusterOf, policy } from '../../test/kit/policy-state.js'
import { renderFull } from '../render/index.js'
import type { PolicyIR } from '../compile/ir.js'
import { irDigest } from './digest.js'

function state() {
  return clusterOf({
    namespaces: { x: { team: 'x' } },
    pods: { 'x/a': { labels: { app: 'web' }, ips: ['10.0.1.1'] }, 'x/b': { labels: { app: 'db' }, ips: ['10.0.1.2', 'fd00::2'] }, 'x/c': { labels: { app: 'web' }, ips: ['10.0.1.3'] } },
    policies: [
      policy('x', 'db', { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 5432 }] }] }),
      policy('x', 'web', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '192.168.0.0/16', except: ['192.168.1.0/24'] } }] }] }),
    ],
  })
}
const base = (): PolicyIR => {
  const s = state()
  return compile(s, allLocal(s)).ir
}
const clone = (ir: PolicyIR): PolicyIR => structuredClone(ir)
/** The same data, every object's keys inserted in reverse order. */
function reversed<T>(v: T): T {
  if (Array.isArray(v)) return v.map(reversed) as T
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reversed(x)])) as T
  return v
}
const firstSet = (ir: PolicyIR) => Object.values(ir.sets).find((s) => s.elements.length > 0)!
const firstRule = (ir: PolicyIR) => Object.values(ir.chains).find((c) => c.rules.length > 0)!.rules[0]!

describe('irDigest', () => {
  it('is the same for equal IRs, whatever the key order, and for a recompile', () => {
    const ir = base()
    const d = irDigest(ir)
    expect(d).toMatch(/^[0-9a-f]{64}$/)
    expect(irDigest(clone(ir))).toBe(d)
    const r = reversed(ir)
    expect(Object.keys(r.chains)).not.toEqual(Object.keys(ir.chains)) // the walk did see another order
    expect(irDigest(r)).toBe(d)
    expect(irDigest(base())).toBe(d)
    // undefined counts as absent, as for the renderer
    const u = clone(ir)
    ;(firstRule(u) as { rule?: number }).rule = undefined
    delete (firstRule(ir) as { rule?: number }).rule
    expect(irDigest(u)).toBe(irDigest(ir))
  })

  // Each case changes what the rendered ruleset holds: the digest must change with it.
  const cases: [string, (ir: PolicyIR) => void][] = [
    ['an element added', (ir) => firstSet(ir).elements.push('10.0.9.9')],
    ['an element changed', (ir) => { const s = firstSet(ir); s.elements[0] = '10.0.9.9' }],
    // Lists keep their order in the digest: the IR's are sorted, another order is another IR.
    ['elements reordered', (ir) => { const s = Object.values(ir.sets).find((s) => s.elements.length > 1); if (!s) throw new Error('no set of two'); s.elements.reverse() }],
    ['a rule\'s comment', (ir) => { firstRule(ir).comment += 'x' }],
    ['a rule\'s counter', (ir) => { firstRule(ir).counter = 'other' }],
    ['a rule\'s action', (ir) => { firstRule(ir).action = 'drop' }],
    ['rules reordered', (ir) => { const c = Object.values(ir.chains).find((c) => c.rules.length > 1); if (!c) throw new Error('no chain with two rules'); c.rules.reverse() }],
    ['a chain\'s drop counter', (ir) => { Object.values(ir.chains)[0]!.dropCounter = 'other' }],
    ['a policy counter', (ir) => { ir.policyCounters['x/db'] = 'other' }],
    ['a map element', (ir) => { ir.maps['ingress-v4']['10.0.9.9'] = Object.values(ir.maps['ingress-v4'])[0]! }],
    ['a veth', (ir) => ir.veths.push('cinch0000000000')],
    ['an anti-spoofing address', (ir) => { const v = Object.keys(ir.vethAddrs)[0]; ir.vethAddrs[v ?? 'cinchx'] = ['10.0.9.9'] }],
    ['a set\'s kind', (ir) => { const s = firstSet(ir); s.kind = s.kind === 'addr' ? 'block' : 'addr' }],
    ['a set\'s comment', (ir) => { firstSet(ir).comment += 'x' }],
    ['a set renamed', (ir) => { const [k, v] = Object.entries(ir.sets)[0]!; delete ir.sets[k]; ir.sets[`${k}x`] = v }],
  ]
  it.each(cases)('changes with %s', (_, change) => {
    const ir = base()
    const changed = clone(ir)
    change(changed)
    expect(renderFull(changed)).not.toBe(renderFull(ir)) // a change the ruleset shows
    expect(irDigest(changed)).not.toBe(irDigest(ir))
  })

  it('changes with the flow-log limit and with failOpen', () => {
    const s = state()
    const fl = (rate: number) => new FlowCompiler({ flowLogs: { ...FLOW_LOG_DEFAULTS, clusterWide: true, rate } }).compile(s, allLocal(s)).ir
    expect(renderFull(fl(10))).not.toBe(renderFull(fl(11)))
    expect(irDigest(fl(10))).toBe(irDigest(fl(10)))
    expect(irDigest(fl(10))).not.toBe(irDigest(fl(11)))
    expect(irDigest(fl(10))).not.toBe(irDigest(base()))
    expect(irDigest(base(), { failOpen: true })).not.toBe(irDigest(base()))
    expect(irDigest(base(), { failOpen: false })).toBe(irDigest(base()))
  })

  it('is not fooled by a string that spells the encoding', () => {
    const a = clone(base()), b = clone(base())
    firstSet(a).elements = ['x', 'y']
    firstSet(b).elements = ['x","y']
    expect(irDigest(a)).not.toBe(irDigest(b))
  })

  it('refuses what is not plain data', () => {
    for (const bad of [new Map(), Number.NaN, () => 1, 1n, [undefined]]) {
      const ir = clone(base()) as unknown as Record<string, unknown>
      ir.extra = bad
      expect(() => irDigest(ir as unknown as PolicyIR)).toThrow(/not plain data|plain objects/)
    }
  })
})
