// RefTable.follow (the table brought to the next IR in place) against the table built anew from
// the whole IR on the last one, as every sync did before: both must name every id alike, over
// random syncs with chains and policies coming, going and changing, and colliding names.
import { describe, expect, it } from 'vitest'
import type { IrChain, PolicyIR } from '../compile/ir.js'
import { refId } from './prefix.js'
import { RefTable, refSourceFromIR } from './refs.js'

// Two NetworkPolicy keys with one 48-bit id (flows.test.ts: found offline by a search).
const [twinA, twinB] = ['t/pdc106d4f7772', 't/pb27cd61a6b4b']
const POLICIES = [twinA, twinB, ...Array.from({ length: 8 }, (_, i) => `ns/p${i}`)]
const CHAINS = Array.from({ length: 8 }, (_, i) => `pod-ingress-ns-pod${i}`)

const NO_RULE_COUNTERS = {}
function ir(chains: Record<string, IrChain>, policyCounters: Record<string, string>, ruleCounters: PolicyIR['ruleCounters'] = NO_RULE_COUNTERS): PolicyIR {
  return { chains, sets: {}, maps: { 'ingress-v4': {}, 'ingress-v6': {}, 'egress-v4': {}, 'egress-v6': {} }, policyCounters, ruleCounters, veths: [], vethAddrs: {} }
}
const chain = (pod: string, policies: string[]): IrChain => ({ pod, direction: 'ingress', comment: '', rules: [], dropCounter: 'd', policies })

describe('RefTable.follow', () => {
  it('names every id as a table built anew would, over 3,000 random syncs', () => {
    let seed = 7
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), (seed >>> 16) % n)
    let cur = ir({}, {})
    let followed = new RefTable(refSourceFromIR(cur))
    let built = new RefTable(refSourceFromIR(cur))
    let fell = 0
    for (let step = 0; step < 3000; step++) {
      // Each part kept as the same object unless it changes, each chain too (as the compiler does).
      let chains = cur.chains, pcs = cur.policyCounters, rcs = cur.ruleCounters
      for (let n = rand(3); n > 0; n--) {
        const what = rand(5)
        if (what === 0) { // a policy comes or goes
          const p = POLICIES[rand(POLICIES.length)]!
          pcs = { ...pcs }
          if (pcs[p] && rand(2)) delete pcs[p]
          else pcs[p] = `c-${p}`
        } else if (what <= 2) { // a chain comes, goes, or changes its policies or pod
          const c = CHAINS[rand(CHAINS.length)]!
          chains = { ...chains }
          if (chains[c] && rand(3) === 0) delete chains[c]
          else chains[c] = chain(`ns/pod${rand(3)}`, POLICIES.filter(() => rand(4) === 0))
        } else if (what === 3) { // a chain object replaced by an equal one (a rule changed)
          const c = Object.keys(chains)[0]
          if (c) chains = { ...chains, [c]: { ...chains[c]!, rules: [] } }
        } else if (rand(10) === 0) { // a ClusterNetworkPolicy rule counter
          rcs = { [`r${rand(3)}`]: { policy: `cnp-${rand(2)}`, tier: 'Admin', direction: 'ingress', index: 0, name: '', action: 'Deny' } }
        }
      }
      const next = ir(chains, pcs, rcs)
      if (!followed.follow(cur, next)) { followed = new RefTable(refSourceFromIR(next), followed); fell++ }
      built = new RefTable(refSourceFromIR(next), built)
      cur = next
      for (const p of POLICIES) expect(followed.resolve('np', refId('np', p)), `step ${step} ${p}`).toEqual(built.resolve('np', refId('np', p)))
      for (const c of CHAINS) expect(followed.resolve('chain', refId('chain', c)), `step ${step} ${c}`).toEqual(built.resolve('chain', refId('chain', c)))
      for (const p of ['cnp-0', 'cnp-1']) expect(followed.resolve('cnp', refId('cnp', p))).toEqual(built.resolve('cnp', refId('cnp', p)))
      expect(followed.collisions).toEqual(built.collisions)
    }
    // Both paths taken: most syncs in place, the collisions' and the counters' built anew.
    expect(fell).toBeGreaterThan(30)
    expect(fell).toBeLessThan(2700)
  })

  it('in place: the same table, its ids following the IR', () => {
    const a = ir({ c1: chain('ns/a', ['ns/p0']) }, { 'ns/p0': 'x' })
    const t = new RefTable(refSourceFromIR(a))
    const b = ir({ c1: chain('ns/a', ['ns/p0', 'ns/p1']), c2: chain('ns/b', []) }, { 'ns/p1': 'y' })
    expect(t.follow(a, b)).toBe(true)
    expect(t.resolve('np', refId('np', 'ns/p0'))).toBeUndefined()
    expect(t.resolve('np', refId('np', 'ns/p1'))).toEqual({ kind: 'policy', policy: 'ns/p1' })
    expect(t.resolve('chain', refId('chain', 'c1'))).toMatchObject({ policies: ['ns/p0', 'ns/p1'] })
    expect(t.resolve('chain', refId('chain', 'c2'))).toMatchObject({ pod: 'ns/b' })
    // A twin taking the id another name holds: not in place.
    const c = ir(b.chains, { [twinA]: 'x' }), d = ir(b.chains, { [twinB]: 'x' })
    expect(t.follow(b, c)).toBe(true)
    expect(t.follow(c, d)).toBe(false)
    expect(t.resolve('np', refId('np', twinA))).toEqual({ kind: 'policy', policy: twinA })
  })

  it('a chain that fails closed: its ref says so, in a new table and after follow, and no more once it opens', () => {
    const open = ir({ c1: chain('ns/a', ['ns/p0']) }, { 'ns/p0': 'x' })
    const closed = ir({ c1: { ...chain('ns/a', ['ns/p0']), failedClosed: 'over the bound' } }, {})
    expect(new RefTable(refSourceFromIR(closed)).resolve('chain', refId('chain', 'c1'))).toMatchObject({ policies: ['ns/p0'], failedClosed: true })
    const t = new RefTable(refSourceFromIR(open))
    expect(t.follow(open, closed)).toBe(true)
    expect(t.resolve('chain', refId('chain', 'c1'))).toMatchObject({ failedClosed: true })
    expect(t.follow(closed, open)).toBe(true)
    expect(t.resolve('chain', refId('chain', 'c1'))).not.toHaveProperty('failedClosed')
  })
})
