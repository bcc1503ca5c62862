// spliceSorted (sets.ts), the step that turns a set's last sorted elements into the next ones after
// a change, against the plain way (filter, concat, sort) over random lists and changes; SetEntry's
// members and counts against counting from scratch.
import { describe, expect, test } from 'vitest'
import { SetEntry, addrsOfPods, contributions, peerSelects, selectedPods, spliceSorted, type PodView, type SetDef } from './sets.js'
import { setDeltaFrom, type IrSet } from './ir.js'
import { compileSelector } from '../model/selector.js'
import type { Pod } from '../model/cluster.js'
import type { PodsPeer } from './normalize.js'
import { rng } from '../../test/kit/random.js'

const plain = (base: string[], removed: string[], added: string[]) => {
  const gone = new Set(removed)
  return [...base.filter((e) => !gone.has(e)), ...added.filter((e) => !base.includes(e))].sort()
}

describe('spliceSorted', () => {
  test('3,000 random sets and changes: the same list as filter + sort', () => {
    const r = rng(7)
    // Addresses and tuples as sets hold them; a shared prefix makes the comparisons real.
    const el = () => [`10.64.${r(4)}.${r(256)}`, `fd00:10::${r(4096).toString(16)}`, `10.64.0.${r(256)} . tcp . ${r(4) * 1000}`][r(3)]!
    for (let n = 0; n < 3000; n++) {
      const base = [...new Set([...Array(r(40))].map(el))].sort()
      const removed = base.filter(() => r(6) === 0)
      const added = [...new Set([...Array(r(4))].map(el))].filter((e) => !base.includes(e)).sort()
      expect(spliceSorted(base, removed, added), `base ${base.length}, -${removed.length}, +${added.length}`).toEqual(plain(base, removed, added))
    }
  })

  test('changes at both ends, everything removed, nothing to do', () => {
    expect(spliceSorted(['b', 'c'], [], ['a', 'd'])).toEqual(['a', 'b', 'c', 'd'])
    expect(spliceSorted(['a', 'b', 'c'], ['a', 'c'], [])).toEqual(['b'])
    expect(spliceSorted(['a', 'b'], ['a', 'b'], ['c'])).toEqual(['c'])
    expect(spliceSorted([], [], [])).toEqual([])
    const base = ['a', 'b']
    expect(spliceSorted(base, [], [])).not.toBe(base) // a new list: the IR's arrays are never shared
  })

  test('bookkeeping out of step (removed not there, added already there): still the right list', () => {
    expect(spliceSorted(['a', 'c'], ['b'], [])).toEqual(['a', 'c'])
    expect(spliceSorted(['a', 'c'], [], ['c', 'd'])).toEqual(['a', 'c', 'd'])
  })
})

// SetEntry counts only the members put in more than once; the rest are members of the last IR's
// sorted elements. Pods that share addresses (a pool of 6) and a pod whose two named ports resolve
// to one tuple put elements in several times: after each random replacement the set's IR and
// counts must be what counting every pod's contributions from scratch gives, and each IR's delta
// the change from the IR before.
describe('SetEntry members and counts', () => {
  const peer: PodsPeer = { kind: 'pods', podSel: compileSelector({ matchLabels: { app: 'a' } }), nsSel: null, namespace: 'ns', key: 'k', words: 'w' }
  const defs: SetDef[] = [
    { kind: 'addr', family: 4, comment: 'c', peer },
    { kind: 'tuple', family: 4, comment: 'c', peer, named: [{ protocol: 'TCP', kind: 'named', name: 'http' }, { protocol: 'TCP', kind: 'named', name: 'web' }] },
  ]
  for (const def of defs) {
    for (const shared of [false, true]) {
      test(`${def.kind}, ${shared ? 'through the view\'s shared answers' : 'pod by pod'}: 400 random replacements of 8 pods`, () => {
        const r = rng(def.kind === 'addr' ? 11 : 12)
        const pods = new Map<string, Pod>()
        const view: PodView = { podsByNs: new Map([['ns', pods]]), nsLabels: () => ({}) }
        if (shared) {
          view.podsSelected = () => selectedPods(peer, view)
          view.addrsSelected = (p, f) => addrsOfPods(selectedPods(p, view))[f]
        }
        const podOf = (i: number): Pod => ({
          namespace: 'ns', name: `p${i}`, labels: r(4) ? { app: 'a' } : {}, ips: [`10.0.0.${r(6)}`, ...(r(3) ? [] : [`10.0.0.${r(6)}`])],
          ports: [{ name: 'http', containerPort: 80 + r(2), protocol: 'TCP' }, { name: 'web', containerPort: 80 + r(2), protocol: 'TCP' }],
        })
        for (let i = 0; i < 4; i++) pods.set(`p${i}`, podOf(i))
        const s = new SetEntry('s', def, view)
        let last: IrSet | undefined
        for (let step = 0; step < 400; step++) {
          const i = r(8), old = pods.get(`p${i}`), next = r(4) ? podOf(i) : undefined
          if (next) pods.set(`p${i}`, next)
          else pods.delete(`p${i}`)
          if (r(25) === 0) s.recompute(view)
          else s.update(old, next, view)
          const want = new Map<string, number>()
          for (const p of pods.values()) for (const e of contributions(def, p, view)) want.set(e, (want.get(e) ?? 0) + 1)
          for (const e of ['10.0.0.0', '10.0.0.1', '10.0.0.5', '10.0.0.3 . tcp . 80', '10.0.0.3 . tcp . 81', ...want.keys()]) expect(s.count(e), `step ${step}: ${e}`).toBe(want.get(e) ?? 0)
          if (r(3) === 0) continue
          const ir = s.ir
          expect(ir.elements, `step ${step}`).toEqual([...want.keys()].sort())
          if (last && ir !== last) {
            const d = setDeltaFrom(last, ir)!
            expect(d.added).toEqual(ir.elements.filter((e) => !last!.elements.includes(e)))
            expect(d.removed).toEqual(last.elements.filter((e) => !ir.elements.includes(e)))
          }
          last = ir
        }
      })
    }
  }
})

// selectedPods matches in passes over all candidates (podsMatching), a `key=value` selector by its
// value alone: against peerSelects pod by pod, over random pods (hostNetwork ones, labels named
// like Object.prototype's properties) and selectors of every form, with and without a namespace
// selector.
describe('selectedPods', () => {
  test('2,000 random peers over random pods: the pods peerSelects selects, in order', () => {
    const r = rng(21)
    const keys = ['app', 'tier', 'constructor', 'toString', '__proto__']
    const value = () => ['a', 'b', 'c'][r(3)]!
    const labelsOf = () => Object.fromEntries(keys.filter(() => r(2)).map((k) => [k, value()]))
    const selOf = () => compileSelector([
      { matchLabels: { [keys[r(keys.length)]!]: value() } },
      { matchExpressions: [{ key: keys[r(keys.length)]!, operator: 'In', values: [value()] }] },
      { matchExpressions: [{ key: keys[r(keys.length)]!, operator: ['In', 'NotIn'][r(2)]!, values: r(2) ? [value(), value()] : [value()] }] },
      { matchExpressions: [{ key: keys[r(keys.length)]!, operator: ['Exists', 'DoesNotExist'][r(2)]! }] },
      { matchLabels: { app: value(), tier: value() } },
      {},
    ][r(6)]!)
    for (let n = 0; n < 2000; n++) {
      const podsByNs = new Map<string, Map<string, Pod>>()
      for (const ns of ['x', 'y', 'z']) {
        const pods = new Map<string, Pod>()
        for (let i = r(6); i > 0; i--) pods.set(`p${i}`, { namespace: ns, name: `p${i}`, labels: labelsOf(), ips: [`10.0.0.${i}`], ports: [], ...(r(6) === 0 ? { hostNetwork: true } : {}) })
        if (pods.size) podsByNs.set(ns, pods)
      }
      const nsLabels = (ns: string) => ({ team: ns === 'z' ? 'b' : 'a' })
      const view: PodView = { podsByNs, nsLabels }
      const peer: PodsPeer = { kind: 'pods', podSel: r(5) ? selOf() : null, nsSel: r(2) ? compileSelector({ matchLabels: { team: 'a' } }) : null, namespace: 'x', key: 'k', words: 'w' }
      const want = [...podsByNs.values()].flatMap((m) => [...m.values()]).filter((p) => peerSelects(peer, p, view))
      expect(selectedPods(peer, view), `peer ${n}: ${peer.podSel?.key} in ${peer.nsSel?.key ?? 'x'}`).toEqual(want)
    }
  })
})
