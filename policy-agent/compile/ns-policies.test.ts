// A policy change re-checks only the policies it wrote, not its whole namespace (issue 14,
// ns-policies.ts), and a deferred check can stop inside a namespace and go on later. Held to a
// fresh Compiler after random batches of adds, replaces and removes (valid, invalid, over the cost
// bound, flipping between them), with an independent oracle of each namespace's list; identity
// where nothing changed; and how many policies a change normalizes, counted through a wrapper of
// normalize.ts's export that this file installs (vi.mock), not through anything in the compiler.
import { describe, expect, test, vi } from 'vitest'
import { Compiler } from './index.js'
import { allLocal, clusterOf, policy } from '../../test/kit/policy-state.js'
import type { ClusterState, LocalPod, NetworkPolicy } from '../model/cluster.js'
import { rng } from '../../test/kit/random.js'

const counted = vi.hoisted(() => ({ calls: 0 }))
vi.mock('./normalize.js', async (importOriginal) => {
  const orig = await importOriginal<typeof import('./normalize.js')>()
  return { ...orig, normalizePolicy: (p: NetworkPolicy) => (counted.calls++, orig.normalizePolicy(p)) }
})
/** How many policies `fn` had normalized (a lookup of the memo or not). */
const normalizations = (fn: () => void) => { const before = counted.calls; fn(); return counted.calls - before }

type R = (n: number) => number
const pick = <T>(r: R, xs: readonly T[]): T => xs[r(xs.length)]!

// maxPolicyCost 4: a policy with one rule and n ports costs n + 1 (cost.ts), valid up to 3 ports;
// 4 and 5 ports are both invalid, each for its own reason (an invalid policy invalid again).
const MAX = 4
const NSS = ['a', 'b', 'c'] // a, b: local pods; c: remote unless a step makes it local
const KEYS = 30

interface Gen { p: NetworkPolicy; valid: boolean; ingress: boolean; selectsX: boolean }

function genPolicy(r: R, ns: string, name: string): Gen {
  const ports = (n: number) => Array.from({ length: n }, (_, i) => ({ port: 1000 + i }))
  const n = 1 + r(5)
  switch (r(6)) {
    case 0: return { p: policy(ns, name, { podSelector: {}, ingress: [{ ports: ports(n) }] }), valid: n + 1 <= MAX, ingress: true, selectsX: true }
    case 1: return { p: policy(ns, name, { podSelector: { matchLabels: { app: 'x' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: `v${r(3)}` } } }] }] }), valid: true, ingress: true, selectsX: true }
    case 2: return { p: policy(ns, name, { podSelector: { matchLabels: { app: 'y' } } }), valid: true, ingress: true, selectsX: false }
    case 3: return { p: policy(ns, name, { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: ports(n) }] }), valid: n + 1 <= MAX, ingress: false, selectsX: true }
    case 4: return { p: policy(ns, name, { podSelector: { matchExpressions: [{ key: 'app', operator: 'Bogus' as 'In', values: [`v${r(3)}`] }] } }), valid: false, ingress: true, selectsX: true }
    default: return { p: policy(ns, name, { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: `not-a-cidr-${r(3)}` } }] }] }), valid: false, ingress: true, selectsX: true }
  }
}

const podsOf = () => Object.fromEntries(NSS.flatMap((ns) => [
  [`${ns}/px`, { labels: { app: 'x' }, ips: [`10.0.${NSS.indexOf(ns)}.1`] }],
  [`${ns}/py`, { labels: { app: 'y' }, ips: [`10.0.${NSS.indexOf(ns)}.2`] }],
]))

describe('a policy change checks only the policies it wrote', () => {
  for (const seed of [1, 2, 3]) {
    test(`seed ${seed}: random batches of adds, replaces and removes in three namespaces equal a fresh compile`, () => {
      const r = rng(seed), checks = rng(seed + 500)
      const gens = new Map<string, Gen>()
      let state: ClusterState = clusterOf({ namespaces: Object.fromEntries(NSS.map((n) => [n, {}])), pods: podsOf() })
      const inc = new Compiler({ maxPolicyCost: MAX })
      // Always deferring, checking a few policies now and then: the IR is the whole compile's.
      const deferring = new Compiler({ maxPolicyCost: MAX })
      let prev: { ir: ReturnType<Compiler['compile']>['ir']; lists: Map<string, string> } | undefined
      const seen = { splices: 0, merges: 0, unchangedLists: 0, partial: 0, wipes: 0 }
      for (let step = 0; step < 150; step++) {
        const at = `seed ${seed} step ${step}`
        const policies = new Map(state.policies)
        // Now and then a namespace loses every policy: its next ones are a new namespace's, checked
        // by a walk over its keys (ns-policies.ts), which the batch below may write into half way.
        if (r(12) === 0) {
          const ns = pick(r, NSS)
          for (const k of [...policies.keys()]) if (k.startsWith(`${ns}/`)) { policies.delete(k); gens.delete(k) }
          seen.wipes++
        }
        // Mostly small batches (spliced into the list), now and then a large one (rebuilt).
        const batch = r(5) ? 1 + r(4) : 17 + r(30)
        batch <= 16 ? seen.splices++ : seen.merges++
        for (let i = 0; i < batch; i++) {
          // Half of them in c, which has more keys: a deferred check of it has more to do than one call does.
          const ns = r(2) ? 'c' : pick(r, NSS), key = `${ns}/p${r(ns === 'c' ? 3 * KEYS : KEYS)}`, name = key.split('/')[1]!
          const op = r(10)
          if (op < 3) { policies.delete(key); gens.delete(key) } else if (op === 3 && gens.has(key)) {
            // The same content as a new object: nothing changes.
            policies.set(key, JSON.parse(JSON.stringify(policies.get(key))))
          } else { const g = genPolicy(r, ns, name); policies.set(key, g.p); gens.set(key, g) }
        }
        state = { ...state, policies }
        const locals: LocalPod[] = allLocal(state).filter((lp) => lp.namespace !== 'c' || step % 5 === 0)
        const got = inc.compile(state, locals)
        const fresh = new Compiler({ maxPolicyCost: MAX }).compile(state, locals)
        expect(JSON.stringify(got.ir), at).toBe(JSON.stringify(fresh.ir))
        expect(got.invalid, at).toEqual(fresh.invalid)
        // The oracle: a pod's chain lists its namespace's valid policies that select it, in key order.
        const lists = new Map<string, string>()
        for (const ns of NSS) {
          const keys = [...gens.keys()].filter((k) => k.startsWith(`${ns}/`)).sort()
          const valid = keys.filter((k) => gens.get(k)!.valid)
          lists.set(ns, valid.map((k) => `${k}:${JSON.stringify(policies.get(k))}`).join(' '))
          if (!locals.some((lp) => lp.namespace === ns)) continue
          const ingressX = valid.filter((k) => gens.get(k)!.ingress && gens.get(k)!.selectsX)
          expect(got.ir.chains[`pod-ingress-${ns}-px`]?.policies ?? [], `${at}: ${ns}`).toEqual(ingressX)
          // Nothing in the namespace's valid list changed (an invalid policy invalid again, a
          // removed invalid one, the same content again): its chains are the last IR's objects.
          const chain = got.ir.chains[`pod-ingress-${ns}-px`]
          // (c is local one step in five: never in two steps running.)
          if (prev && chain && ns !== 'c' && prev.lists.get(ns) === lists.get(ns)) {
            expect(chain, `${at}: ${ns} unchanged`).toBe(prev.ir.chains[`pod-ingress-${ns}-px`])
            seen.unchangedLists++
          }
        }
        prev = { ir: got.ir, lists }
        const deferred = deferring.compile(state, locals, { deferRemote: true })
        expect(JSON.stringify(deferred.ir), `${at}: deferRemote`).toBe(JSON.stringify(fresh.ir))
        if (checks(3) === 0 && !deferring.checkDeferred(0).done) seen.partial++
        if (checks(8) === 0) {
          while (!deferring.checkDeferred(0).done);
          expect(deferring.compile(state, locals, { deferRemote: true }).invalid, `${at}: deferRemote, all checked`).toEqual(fresh.invalid)
        }
      }
      console.log(`seed ${seed}: ${JSON.stringify(seen)}`)
      expect(seen.merges).toBeGreaterThan(5)
      expect(seen.unchangedLists).toBeGreaterThan(10)
      expect(seen.partial).toBeGreaterThan(3)
    })
  }
})

describe('a namespace of thousands of policies', () => {
  const N = 3000
  const big = (i: number, bad = false) => policy('big', `p${String(i).padStart(4, '0')}`, {
    podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: bad ? `bad-${i}` : `10.${i >> 8}.${i & 255}.0/24` } }] }],
  })
  const cluster = (invalidEvery = 0) => clusterOf({
    namespaces: { big: {}, x: {} },
    pods: { 'big/p': { ips: ['10.9.0.1'] }, 'x/p': { ips: ['10.9.0.2'] } },
    policies: Array.from({ length: N }, (_, i) => big(i, invalidEvery > 0 && i % invalidEvery === 0)),
  })
  const put = (s: ClusterState, ...ps: NetworkPolicy[]) => { const m = new Map(s.policies); for (const p of ps) m.set(`${p.metadata.namespace}/${p.metadata.name}`, p); return { ...s, policies: m } }
  const del = (s: ClusterState, ...keys: string[]) => { const m = new Map(s.policies); for (const k of keys) m.delete(k); return { ...s, policies: m } }

  test('one change normalizes that policy alone, and leaves the IR the same object when the valid list did not change', () => {
    let s = cluster()
    const c = new Compiler()
    const locals = allLocal(s)
    let last = c.compile(s, locals)
    const step = (next: ClusterState, normalized: number, sameIr: boolean) => {
      s = next
      let got!: ReturnType<Compiler['compile']>
      expect(normalizations(() => (got = c.compile(s, locals)))).toBe(normalized)
      const fresh = new Compiler().compile(s, locals)
      expect(JSON.stringify(got.ir)).toBe(JSON.stringify(fresh.ir))
      expect(got.invalid).toEqual(fresh.invalid)
      if (sameIr) expect(got.ir).toBe(last.ir)
      else expect(got.ir).not.toBe(last.ir)
      last = got
    }
    step(put(s, big(1500, true)), 1, false) // valid -> invalid: out of the list
    step(put(s, { ...big(1500, true), spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: 'also-bad' } }] }] } }), 1, true) // invalid for another reason
    step(del(s, 'big/p1500'), 0, true) // an invalid one gone
    step(put(s, big(1500)), 1, false) // back, valid, in its place
    step(put(s, big(N)), 1, false) // a new one at the end
    step(del(s, 'big/p0000'), 0, false)
    expect(last.ir.chains['pod-ingress-big-p']!.policies).toHaveLength(N)
  })

  test('checkDeferred stops inside a namespace and goes on at its next call; a change meanwhile is counted once', () => {
    let s = cluster(100)
    const x = (st: ClusterState) => allLocal(st).filter((lp) => lp.namespace === 'x')
    const c = new Compiler()
    expect(c.compile(s, x(s), { deferRemote: true }).invalid).toEqual([])
    const full = new Compiler().compile(s, x(s)).invalid
    expect(full).toHaveLength(N / 100)
    // A budget of nothing: a few policies, not the namespace.
    expect(c.checkDeferred(0)).toEqual({ done: false, invalidChanged: true })
    const partial = c.compile(s, x(s), { deferRemote: true }).invalid
    expect(partial.map((i) => i.policy)).toEqual(['big/p0000']) // checked in the order they came: p0000 first
    // Changes meanwhile (the first 8 keys are checked, p0000..p0007): one already checked turns
    // invalid, an unchecked one too, an unchecked invalid one goes, a new invalid one comes at the
    // end; p0000 (invalid, checked) is fixed; a checked one goes and two new ones come among the
    // checked ones (the walk's cursor must follow: none skipped, none checked twice).
    const named = (p: NetworkPolicy, name: string) => ({ ...p, metadata: { ...p.metadata, name } })
    s = put(del(s, 'big/p0100', 'big/p0002'), big(1, true), big(2999, true), big(N, true), big(0), named(big(3, true), 'p0003x'), named(big(4), 'p0004x'))
    expect(c.compile(s, x(s), { deferRemote: true }).invalid.map((i) => i.policy)).toEqual([]) // p0000 valid now; the rest unchecked
    let calls = 0
    // Every policy is checked once but the five checked before and unchanged since (p0003..p0007).
    const checked = normalizations(() => { for (let done = false; !done; calls++) done = c.checkDeferred(0).done })
    expect(checked).toBe(s.policies.size - 5)
    expect(calls).toBeGreaterThan(10)
    const want = new Compiler().compile(s, x(s)).invalid
    expect(want.map((i) => i.policy)).toEqual(expect.arrayContaining(['big/p0001', 'big/p0003x', 'big/p2999', `big/p${N}`]))
    expect(want.map((i) => i.policy)).not.toContain('big/p0100')
    expect(want.map((i) => i.policy)).not.toContain('big/p0000')
    expect(c.compile(s, x(s), { deferRemote: true }).invalid).toEqual(want)
    // Its pod turning local: the chain lists exactly the valid policies.
    const all = c.compile(s, allLocal(s), { deferRemote: true })
    expect(JSON.stringify(all.ir)).toBe(JSON.stringify(new Compiler().compile(s, allLocal(s)).ir))
    expect(all.ir.chains['pod-ingress-big-p']!.policies).toHaveLength(s.policies.size - want.length)
  })

  test('a half-checked namespace is checked whole when one of its pods turns local', () => {
    const s = cluster(100)
    const c = new Compiler()
    c.compile(s, allLocal(s).filter((lp) => lp.namespace === 'x'), { deferRemote: true })
    expect(c.checkDeferred(0).done).toBe(false)
    const got = c.compile(s, allLocal(s), { deferRemote: true })
    const fresh = new Compiler().compile(s, allLocal(s))
    expect(JSON.stringify(got.ir)).toBe(JSON.stringify(fresh.ir))
    expect(got.invalid).toEqual(fresh.invalid)
    expect(c.checkDeferred(0)).toEqual({ done: true, invalidChanged: false })
  })
})
