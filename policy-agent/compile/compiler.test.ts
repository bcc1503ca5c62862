// The incremental Compiler must give exactly what a fresh compile gives, after any sequence of
// changes the sources can make (objects replaced, added, removed, or re-read with equal content),
// and renderDiff over its IRs must print exactly what it prints over fresh IRs.
import { describe, expect, test } from 'vitest'
import type { ClusterState, LocalPod, NetworkPolicy, Pod } from '../model/cluster.js'
import { renderDiff } from '../render/index.js'
import { Compiler, compile } from './index.js'
import { clusterOf, policy } from '../../test/kit/policy-state.js'

// A small deterministic PRNG, so a failure replays.
function rng(seed: number) {
  let s = seed >>> 0
  return (n: number) => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % n)
}

const NS = ['a', 'b', 'c', 'd']
const labelsOf = (r: (n: number) => number) => {
  const l: Record<string, string> = { app: `app${r(3)}` }
  if (r(2)) l.tier = ['fe', 'be'][r(2)]!
  return l
}
const podOf = (r: (n: number) => number, ns: string, i: number): Pod => ({
  namespace: ns, name: `p${i}`, labels: labelsOf(r), ips: [`10.1.${NS.indexOf(ns)}.${i}`, `fd00::${NS.indexOf(ns)}:${i}`],
  hostNetwork: r(12) === 0,
  ports: r(3) ? [{ name: 'http', containerPort: 8000 + r(3), protocol: 'TCP' }] : [{ name: 'dns', containerPort: 53, protocol: 'UDP' }],
})
const policyOf = (r: (n: number) => number, ns: string, k: number): NetworkPolicy => {
  const peer = () => [
    { podSelector: { matchLabels: { app: `app${r(3)}` } } },
    { namespaceSelector: { matchLabels: { team: `t${r(2)}` } } },
    { namespaceSelector: {}, podSelector: { matchExpressions: [{ key: 'tier', operator: r(2) ? 'In' : 'NotIn', values: ['fe'] }] } },
    { ipBlock: { cidr: '10.1.0.0/16', except: [`10.1.${r(4)}.0/24`] } },
    { ipBlock: { cidr: 'fd00::/64' } },
  ][r(5)]!
  const ports = () => [undefined, [{ port: 'http' }], [{ port: 80, endPort: 90 }, { protocol: 'UDP', port: 'dns' }], [{ protocol: 'UDP' }]][r(4)]
  if (r(15) === 0) return policy(ns, `pol${k}`, { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: 'bad' } }] }] })
  return policy(ns, `pol${k}`, {
    podSelector: r(3) ? { matchLabels: { app: `app${r(3)}` } } : {},
    policyTypes: r(2) ? ['Ingress', 'Egress'] : ['Ingress'],
    ingress: r(5) ? [{ from: r(4) ? [peer()] : undefined, ports: ports() }] : [],
    egress: [{ to: [peer(), peer()], ports: ports() }, ...(r(2) ? [{ to: [peer()] }] : [])],
  })
}

function world(seed: number): { state: ClusterState; r: (n: number) => number } {
  const r = rng(seed)
  const state = clusterOf({ namespaces: Object.fromEntries(NS.map((n, i) => [n, { team: `t${i % 2}` }])), pods: {} })
  for (const ns of NS) for (let i = 0; i < 6; i++) state.pods.set(`${ns}/p${i}`, podOf(r, ns, i))
  for (let k = 0; k < 10; k++) { const ns = NS[k % 4]!; state.policies.set(`${ns}/pol${k}`, policyOf(r, ns, k)) }
  return { state, r }
}

/** One change of the kind a source makes: replace, add or remove one object (or re-read all). */
function mutate(s: ClusterState, locals: LocalPod[], r: (n: number) => number, step: number): LocalPod[] {
  const pick = <T>(m: Map<string, T>) => [...m.keys()][r(m.size)]!
  switch (r(9)) {
    case 0: { const k = pick(s.pods); const p = s.pods.get(k)!; s.pods.set(k, { ...p, labels: labelsOf(r) }); break }
    case 1: { const k = pick(s.pods); const p = s.pods.get(k)!; s.pods.set(k, { ...p, ports: [{ name: 'http', containerPort: 9000 + r(3), protocol: 'TCP' }] }); break }
    case 2: { const ns = NS[r(4)]!; const i = 10 + step; s.pods.set(`${ns}/p${i}`, podOf(r, ns, i)); break }
    case 3: s.pods.delete(pick(s.pods)); break
    case 4: { const ns = NS[r(4)]!; s.namespaces.set(ns, { name: ns, labels: r(4) ? { team: `t${r(3)}` } : {} }); break }
    case 5: { const ns = NS[r(4)]!; const k = r(14); s.policies.set(`${ns}/pol${k}`, policyOf(r, ns, k)); break }
    case 6: s.policies.delete(pick(s.policies)); break
    case 7: { // the manifest source: every object new, most of them equal
      s.pods = new Map([...s.pods].map(([k, v]) => [k, structuredClone(v)]))
      s.policies = new Map([...s.policies].map(([k, v]) => [k, structuredClone(v)]))
      s.namespaces = new Map([...s.namespaces].map(([k, v]) => [k, structuredClone(v)]))
      break
    }
    case 8: { // local pods come and go (one not known to the sources, sometimes)
      const k = pick(s.pods); const p = s.pods.get(k)!
      const lp = { namespace: p.namespace, name: r(5) ? p.name : 'unknown', ips: p.ips, hostVeth: `cinch${step}` }
      return r(2) && locals.length ? locals.slice(1) : [...locals, lp]
    }
  }
  return locals
}

describe('Compiler (incremental)', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    test(`seed ${seed}: 60 changes, each compile equals a fresh one, and so does the diff`, () => {
      const { state, r } = world(seed)
      let locals: LocalPod[] = [...state.pods.values()].filter((_, i) => i % 3 === 0)
        .map((p) => ({ namespace: p.namespace, name: p.name, ips: p.ips, hostVeth: `cinch${p.namespace}${p.name}` }))
      const c = new Compiler()
      let prev = c.compile(state, locals)
      let prevFresh = compile(state, locals)
      expect(prev).toEqual(prevFresh)
      for (let step = 0; step < 60; step++) {
        locals = mutate(state, locals, r, step)
        const next = c.compile(state, locals)
        const fresh = compile(state, locals)
        expect(next, `step ${step}`).toEqual(fresh)
        expect(renderDiff(prev.ir, next.ir), `diff at step ${step}`).toBe(renderDiff(prevFresh.ir, fresh.ir))
        prev = next
        prevFresh = fresh
      }
    })
  }
  // A new selector's first pass reads a kept list of the namespaces with pods and their labels
  // (compiler.ts #nsWithPods): a namespace that gains its first pod, or new labels, must be in it.
  test('a new namespace selector after a namespace gains its first pod or changes labels', () => {
    const peerPolicy = (name: string, team: string) => policy('a', name, { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team } } }] }] })
    const state = clusterOf({ namespaces: { a: { team: 'x' }, b: { team: 'x' }, c: {} }, pods: { 'a/p': { ips: ['10.0.0.1'] } }, policies: [peerPolicy('first', 'x')] })
    const locals = [{ namespace: 'a', name: 'p', ips: ['10.0.0.1'], hostVeth: 'vp' }]
    const c = new Compiler()
    c.compile(state, locals)
    state.pods.set('b/q', { namespace: 'b', name: 'q', labels: {}, ips: ['10.0.0.2'], ports: [] })
    state.policies.set('a/second', { ...peerPolicy('second', 'x'), spec: { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'Exists' }] } }] }] } })
    const second = c.compile(state, locals)
    expect(second).toEqual(compile(state, locals))
    expect(Object.values(second.ir.sets).filter((s) => s.elements.includes('10.0.0.2'))).toHaveLength(2)
    state.pods.set('c/r', { namespace: 'c', name: 'r', labels: {}, ips: ['10.0.0.3'], ports: [] })
    state.policies.set('a/z', peerPolicy('z', 'z')) // a new selector: the list is read again, with c
    c.compile(state, locals)
    state.namespaces.set('c', { name: 'c', labels: { team: 'y' } })
    state.policies.set('a/third', peerPolicy('third', 'y'))
    const ir = c.compile(state, locals)
    expect(ir).toEqual(compile(state, locals))
    expect(Object.values(ir.ir.sets).some((s) => s.elements.includes('10.0.0.3'))).toBe(true)
  })
  // A policy's rules are remembered per normalized policy and counter name (rules.ts
  // memoPolicyRules): a policy whose counter name changes (it collided with another policy's and
  // got a hash suffix in a full compile, then no longer does) must get rules naming the new one.
  test('a policy counter renamed when a colliding name goes: its rules name the new counter', () => {
    const allow = (ns: string, name: string) => policy(ns, name, { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] })
    // `policy-a-b-c` for both: a-b/c and a/b-c
    const state = clusterOf({ namespaces: { a: {}, 'a-b': {} }, pods: { 'a/x': { ips: ['10.0.0.1'] }, 'a-b/y': { ips: ['10.0.0.2'] } }, policies: [allow('a-b', 'c'), allow('a', 'b-c')] })
    const both: LocalPod[] = [{ namespace: 'a', name: 'x', ips: ['10.0.0.1'], hostVeth: 'vx' }, { namespace: 'a-b', name: 'y', ips: ['10.0.0.2'], hostVeth: 'vy' }]
    const c = new Compiler()
    const first = c.compile(state, both).ir
    expect(first.policyCounters['a/b-c']).not.toBe('policy-a-b-c') // a-b/y comes first: a-b/c has the plain name
    const alone = c.compile(state, both.slice(0, 1))
    expect(alone).toEqual(compile(state, both.slice(0, 1)))
    expect(alone.ir.policyCounters['a/b-c']).toBe('policy-a-b-c')
    expect(Object.values(alone.ir.chains).flatMap((ch) => ch.rules.map((r) => r.counter))).toEqual(['policy-a-b-c', 'policy-a-b-c'])
  })
  // A pod's part replaced by its next one moves only what the two do not share (local-parts.ts
  // swapOut/swapIn), its new names' claims included: a name another pod's part claims later for
  // another owner must still be found taken, and the compile be a full one's.
  test('a counter name a replaced part gained is claimed: another policy colliding with it later compiles as a full compile', () => {
    const allow = (ns: string, name: string) => policy(ns, name, { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] })
    const locals: LocalPod[] = [{ namespace: 'a', name: 'x', ips: ['10.0.0.1'], hostVeth: 'vx' }, { namespace: 'a-b', name: 'y', ips: ['10.0.0.2'], hostVeth: 'vy' }]
    let state = clusterOf({ namespaces: { a: {}, 'a-b': {} }, pods: { 'a/x': { ips: ['10.0.0.1'] }, 'a-b/y': { ips: ['10.0.0.2'] } }, policies: [allow('a', 'other')] })
    const c = new Compiler()
    c.compile(state, locals)
    // a/x's part is replaced: it gains `policy-a-b-c` (a/b-c's)
    state = { ...state, policies: new Map(state.policies).set('a/b-c', allow('a', 'b-c')) }
    expect(c.compile(state, locals)).toEqual(compile(state, locals))
    // a-b/y's part gains a-b/c's counter, the same name: only a full compile names the two apart
    state = { ...state, policies: new Map(state.policies).set('a-b/c', allow('a-b', 'c')) }
    const both = c.compile(state, locals)
    expect(both).toEqual(compile(state, locals))
    expect(new Set(Object.values(both.ir.policyCounters)).size).toBe(3)
  })
  test('what a change does not touch keeps its IR object (so renderDiff skips it)', () => {
    const { state } = world(7)
    const locals = [...state.pods.values()].map((p) => ({ namespace: p.namespace, name: p.name, ips: p.ips, hostVeth: `v${p.name}` }))
    const c = new Compiler()
    const a = c.compile(state, locals).ir
    const p = state.pods.get('a/p1')!
    state.pods.set('a/p1', { ...p, labels: { ...p.labels, extra: 'x' } })
    const b = c.compile(state, locals).ir
    const same = Object.keys(b.chains).filter((n) => a.chains[n] === b.chains[n]).length
    expect(same).toBeGreaterThan(Object.keys(b.chains).length - 3)
    expect(Object.keys(b.sets).every((n) => a.sets[n] === b.sets[n])).toBe(true) // `extra` selects nothing
  })
  // A pod with several records (cinch networks under Multus), or records without K8S_POD_* (all
  // naming "/"): each record is a part of its own and the pod's chains are shared, so a change
  // elsewhere compiles what it touches, not every local pod (it did: ~2 ms a change at 110).
  test('several records of one pod: a change compiles only the records it touches, and equals a fresh compile', () => {
    const { state } = world(5)
    const pods = [...state.pods.values()]
    const locals: LocalPod[] = pods.map((p) => ({ namespace: p.namespace, name: p.name, ips: p.ips, hostVeth: `v${p.namespace}${p.name}` }))
    const multi = pods[3]!
    locals.push({ namespace: multi.namespace, name: multi.name, ips: ['10.98.0.3'], hostVeth: 'vnet2' }, { namespace: multi.namespace, name: multi.name, ips: ['10.98.0.4'], hostVeth: 'vnet3' })
    locals.push({ namespace: '', name: '', ips: ['10.98.1.1'], hostVeth: 'vnopod1' }, { namespace: '', name: '', ips: ['10.98.1.2'], hostVeth: 'vnopod2' })
    const c = new Compiler()
    c.compile(state, locals)
    expect(c.recordsCompiled).toBe(locals.length)
    const relabel = (key: string) => { const p = state.pods.get(key)!; state.pods.set(key, { ...p, labels: { ...p.labels, app: p.labels.app === 'app0' ? 'app1' : 'app0' } }) }
    // another pod's label: its record alone
    relabel(`${pods[9]!.namespace}/${pods[9]!.name}`)
    expect(c.compile(state, locals)).toEqual(compile(state, [...locals]))
    expect(c.recordsCompiled).toBe(1)
    // the pod with three records: all three, one chain per direction between them
    relabel(`${multi.namespace}/${multi.name}`)
    const all = c.compile(state, locals)
    expect(all).toEqual(compile(state, [...locals]))
    expect(c.recordsCompiled).toBe(3)
    const chains = Object.values(all.ir.chains).filter((ch) => ch.pod === `${multi.namespace}/${multi.name}`)
    expect(chains.length).toBeGreaterThan(0)
    expect(new Set(chains.map((ch) => ch.direction)).size).toBe(chains.length)
    expect(all.ir.vethAddrs).toMatchObject({ vnet2: ['10.98.0.3'] })
    // a record of it goes: its chains stay for the other two
    const two = locals.filter((lp) => lp.hostVeth !== 'vnet2')
    const after = c.compile(state, two)
    expect(after).toEqual(compile(state, [...two]))
    expect(c.recordsCompiled).toBe(0)
    expect(Object.values(after.ir.chains).filter((ch) => ch.pod === `${multi.namespace}/${multi.name}`)).toHaveLength(chains.length)
    expect(after.ir.vethAddrs.vnet2).toBeUndefined()
    // a copy of a record (one pod, one veth: one key for two records) compiles in full, and right
    const copied = [...two, { ...two.find((lp) => lp.hostVeth === 'vnet3')! }]
    expect(c.compile(state, copied)).toEqual(compile(state, [...copied]))
    expect(c.recordsCompiled).toBe(copied.length)
    expect(c.compile(state, two)).toEqual(compile(state, [...two]))
    // one record without a pod goes
    const fewer = two.filter((lp) => lp.hostVeth !== 'vnopod1')
    expect(c.compile(state, fewer)).toEqual(compile(state, [...fewer]))
    expect(c.recordsCompiled).toBe(1)
  })
  // The local pods by key are kept while the caller passes the same list (compiler.ts
  // #localsByKey): a list changed in place (a record added, one renamed, one replaced) is read again.
  test('a local pod list changed in place compiles as a fresh list would', () => {
    const { state } = world(11)
    const pods = [...state.pods.values()]
    const locals: LocalPod[] = pods.slice(0, 4).map((p) => ({ namespace: p.namespace, name: p.name, ips: p.ips, hostVeth: `v${p.namespace}${p.name}` }))
    const c = new Compiler()
    c.compile(state, locals)
    const q = pods[10]!
    locals.push({ namespace: q.namespace, name: q.name, ips: q.ips, hostVeth: 'vq' })
    expect(c.compile(state, locals)).toEqual(compile(state, [...locals]))
    const r = pods[12]!
    Object.assign(locals[0]!, { namespace: r.namespace, name: r.name, ips: r.ips })
    expect(c.compile(state, locals)).toEqual(compile(state, locals.map((lp) => ({ ...lp }))))
    locals[1] = { ...locals[2]!, hostVeth: 'vdup' } // two records of one pod with one pod's addresses: their claims collide, a full compile decides
    expect(c.compile(state, locals)).toEqual(compile(state, [...locals]))
  })
})
