// planDiff's commands as data: the script is made of them, line for line, so the netlink path
// (lib/nft/commands.ts) and nft's text path send the same diff.
import { describe, expect, it } from 'vitest'
import { compile } from '../compile/index.js'
import { allLocal, clusterOf, policy } from '../../test/kit/policy-state.js'
import { commandText, isElementCommand } from '../../lib/nft/commands.js'
import { elementCommandsOf, fullCommands, planDiff, renderFull, updateSetSizesAfterDiff } from './index.js'
import { setSize } from './rules.js'
import { MAP_NAMES, emptyIR, recordDeltaFrom, type IrSet, type PolicyIR } from '../compile/ir.js'
import { Compiler } from '../compile/compiler.js'

function ir(o: { ports?: number; db?: boolean; extraPod?: boolean }) {
  const s = clusterOf({
    namespaces: { x: { team: 'a' }, y: {} },
    pods: {
      'x/a': { labels: { app: 'web' }, ips: ['10.0.1.1', 'fd00::1'] },
      'x/b': { labels: { app: 'db' }, ips: ['10.0.1.2'] },
      ...(o.extraPod ? { 'x/c': { labels: { app: 'db' }, ips: ['10.0.1.3'] } } : {}),
    },
    policies: [
      policy('x', 'web', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'db' } } }], ports: [{ protocol: 'TCP', port: o.ports ?? 80 }] }] }),
      ...(o.db ? [policy('x', 'db', { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { team: 'a' } } }] }] })] : []),
    ],
  })
  return compile(s, allLocal(s)).ir
}

describe('planDiff commands', () => {
  it.each([
    ['a policy update (flush chain, add rule)', ir({}), ir({ ports: 443 })],
    ['a policy create (counter, set, chain, rules, map elements)', ir({}), ir({ db: true })],
    ['a policy delete (chains, sets, counters deleted)', ir({ db: true }), ir({})],
    ['a local pod (chains, elements)', ir({ db: true }), ir({ db: true, extraPod: true })],
  ])('%s: the script is the commands\' text, in order, a line each', (_, a, b) => {
    const plan = planDiff(a, b)
    expect(plan.commands?.length).toBeGreaterThan(0)
    expect(plan.text).toBe(plan.commands!.map(commandText).join('\n') + '\n')
    // what the agent's log calls the diff's lines: the script's
    expect(plan.lines).toBe(plan.text.split('\n').length - 1)
    expect(plan.commands!.some((c) => !isElementCommand(c))).toBe(true)
    expect(elementCommandsOf(plan)).toBeUndefined()
  })


  // The anti-spoofing elements of a diff come from the veths whose address list changed only; a
  // list that is another array with the same addresses changes nothing, and every other veth's
  // elements stay (the text is what a whole comparison gave).
  it('anti-spoofing: a pod\'s new, changed and removed addresses, nothing of the others', () => {
    const base = emptyIR()
    const prev: PolicyIR = { ...base, veths: ['cinchaa', 'cinchbb', 'cinchcc'], vethAddrs: { cinchaa: ['10.0.1.1', 'fd00::1'], cinchbb: ['10.0.1.2'], cinchcc: ['10.0.1.3'] } }
    const next: PolicyIR = { ...base, veths: ['cinchaa', 'cinchbb', 'cinchcd'], vethAddrs: { cinchaa: ['10.0.1.1', 'fd00::1'], cinchbb: ['10.0.1.9', 'fd00::9'], cinchcd: ['10.0.1.4'] } }
    const text = planDiff(prev, next).text
    const spoof = text.split('\n').filter((l) => / (pod-v4|pod-v6|pod-nd-v6) /.test(l))
    expect(spoof).toEqual([
      'delete element bridge cinch pod-v4 { "cinchbb" . 10.0.1.2, "cinchcc" . 10.0.1.3 }',
      'add element bridge cinch pod-v4 { "cinchbb" . 10.0.1.9, "cinchcd" . 10.0.1.4 }',
      'add element bridge cinch pod-v6 { "cinchbb" . fd00::9 }',
      'add element bridge cinch pod-nd-v6 { "cinchbb" . 0xfd000000000000000000000000000009 }',
    ])
    const same: PolicyIR = { ...prev, vethAddrs: Object.fromEntries(Object.entries(prev.vethAddrs).map(([v, a]) => [v, [...a]])) }
    expect(planDiff(prev, same).text).toBe('')
  })
})


// Sets of addresses and tuples are created with a size: the kernel then gives them a hash of fixed
// buckets (no resizes as a new set's elements go in) and refuses elements past it (the applier
// then replaces the tables, sizing each set anew). Interval sets (ipBlocks, ports) get none.
describe('set sizes', () => {
  const set = (kind: IrSet['kind'], n: number): IrSet => ({ family: 4, kind, comment: 'c', elements: Array.from({ length: n }, (_, i) => `10.0.${i >> 8}.${i & 255}`) })
  it.each([
    ['addr', 0, 256], ['addr', 1, 256], ['addr', 128, 256], ['addr', 129, 512], ['addr', 300, 1024], ['tuple', 513, 2048],
    ['block', 3, undefined], ['ports', 3, undefined], ['addr', (1 << 20) + 1, undefined],
  ] as [IrSet['kind'], number, number | undefined][])('a set of kind %s with %i elements: size %s', (kind, n, size) => {
    expect(setSize(set(kind, n))).toBe(size)
  })
  it('a new set of a diff and every set of a full replace carry it; the text and the commands agree', () => {
    const plan = planDiff(ir({}), ir({ db: true }))
    const added = plan.commands!.filter((c) => !isElementCommand(c) && c.kind === 'set' && c.verb === 'add')
    expect(added.length).toBeGreaterThan(0)
    for (const c of added) {
      const size = (c as { size?: number }).size
      expect(commandText(c).includes(`size ${size};`) || size === undefined).toBe(true)
    }
    expect(added.some((c) => (c as { size?: number }).size === 256)).toBe(true)
    const full = fullCommands(ir({ db: true }))
    const sized = full.filter((c) => !isElementCommand(c) && c.kind === 'set' && (c as { size?: number }).size !== undefined)
    expect(sized.length).toBe(Object.values(ir({ db: true }).sets).filter((s) => s.kind === 'addr' || s.kind === 'tuple').length)
    const text = renderFull(ir({ db: true }))
    expect(text.match(/^\t\tsize 256$/gm)!.length).toBe(sized.length)
  })
})

// A Compiler hands out each verdict map it changed with what came and went (compiler.ts, a record
// delta); planDiff then compares those addresses, not every key of both maps (a local pod's ADD:
// 1-2 addresses instead of every local pod's). The commands are those of the whole comparison.
describe('verdict maps: the compiler\'s delta', () => {
  it('a local pod comes, changes chains and goes: the same commands as comparing the maps whole', () => {
    const s = clusterOf({
      namespaces: { x: {} },
      pods: Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`x/p${i}`, { labels: { app: i % 2 ? 'web' : 'db' }, ips: [`10.0.1.${i + 1}`, `fd00::${i + 1}`] }])),
      policies: [policy('x', 'web', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress', 'Egress'], ingress: [{}], egress: [{}] })],
    })
    const locals = allLocal(s)
    const c = new Compiler()
    const steps = [locals.slice(0, 10), locals, locals.slice(1), locals.slice(1, 9)]
    let prev = c.compile(s, steps[0]!).ir
    let withDelta = 0
    for (const l of steps.slice(1)) {
      const next = c.compile(s, l).ir
      for (const m of MAP_NAMES) if (prev.maps[m] !== next.maps[m] && recordDeltaFrom(prev.maps[m], next.maps[m])) withDelta++
      // The same IR with fresh map records, which carry no delta.
      const whole = { ...next, maps: Object.fromEntries(MAP_NAMES.map((m) => [m, { ...next.maps[m] }])) as PolicyIR['maps'] }
      expect(planDiff(prev, next).text).toBe(planDiff(prev, whole).text)
      prev = next
    }
    expect(withDelta).toBeGreaterThanOrEqual(6)
  })
})

// What the applier keeps of the kernel's set sizes after a diff: a set that was there keeps its
// size (a diff never re-creates it), a new one has the size planDiff gave it, a deleted one goes;
// through the Compiler's record delta, or a walk of both records without it.
describe('set sizes after a diff', () => {
  it('keeps the sizes of kept sets, adds new ones, drops deleted ones', () => {
    const c = new Compiler()
    const s = clusterOf({ namespaces: { x: {} }, pods: { 'x/a': { labels: { app: 'web' }, ips: ['10.0.1.1'] }, 'x/b': { labels: { app: 'db' }, ips: ['10.0.1.2'] } } })
    const a = c.compile(s, allLocal(s)).ir
    const withDb = { ...s, policies: new Map(s.policies).set('x/db', policy('x', 'db', { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }] }] })) }
    const b = c.compile(withDb, allLocal(withDb)).ir
    const added = Object.keys(b.sets).filter((n) => !Object.hasOwn(a.sets, n))
    expect(added.length).toBeGreaterThan(0)
    for (const viaDelta of [true, false]) {
      const next = viaDelta ? b : { ...b, sets: { ...b.sets } } // a copy carries no delta
      const sizes = new Map([['kept-elsewhere', 4096]])
      for (const n of Object.keys(a.sets)) sizes.set(n, 2048) // as the kernel has them, whatever their count
      updateSetSizesAfterDiff(sizes, a, next)
      for (const n of Object.keys(a.sets)) expect(sizes.get(n)).toBe(2048)
      for (const n of added) expect(sizes.get(n)).toBe(setSize(b.sets[n]!))
      // And back: the policy's sets go.
      const back = c.compile(s, allLocal(s)).ir
      updateSetSizesAfterDiff(sizes, next, viaDelta ? back : { ...back, sets: { ...back.sets } })
      for (const n of added) expect(sizes.has(n)).toBe(false)
    }
  })
})
