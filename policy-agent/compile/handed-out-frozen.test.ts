// What the compilers hand out is never changed afterwards: renderDiff skips what is the same object
// in both IRs (the anti-spoofing elements of a veth whose address list is the same array, a set, a
// chain), the applier keeps the IR it committed as `#last`, and a graceful stop digests that IR for
// the next start to adopt (apply/adopt.ts). A compiler that edited an IR it had handed out would
// make the diff skip a change (a veth sending from an address it no longer owns) and the commit
// record vouch for rules the kernel does not hold. Every IR is frozen as soon as it is handed out,
// through random writes of the kinds that touch addresses and veths; strict mode makes any later
// write throw. Beside it, the anti-spoofing commands of each diff, applied to the elements of the IR
// last committed (which lags now and then, as after a failed apply), give exactly the next IR's.
import { describe, expect, test } from 'vitest'
import type { LocalPod } from '../model/cluster.js'
import type { PolicyIR } from './ir.js'
import { planDiff } from '../render/index.js'
import { antispoofElements } from '../render/antispoof.js'
import { isElementCommand } from '../../lib/nft/commands.js'
import { ClusterStore } from '../sources/store.js'
import type { Kind } from '../sources/convert.js'
import { FlowCompiler } from '../flows/compiler.js'
import { FLOW_LOG_DEFAULTS } from '../flows/options.js'
import { Compiler } from './index.js'
import { rng } from '../../test/kit/random.js'

function deepFreeze<T>(v: T, seen = new Set<unknown>()): T {
  if (v && typeof v === 'object' && !seen.has(v)) {
    seen.add(v)
    for (const x of Object.values(v)) deepFreeze(x, seen)
    Object.freeze(v)
  }
  return v
}

function fill(store: ClusterStore, kind: Kind, items: object[]): void {
  const rep = store.replace(kind)
  for (const o of items) rep.add(o as never)
  rep.done()
}

const NS = 4, PODS = 40
const ipsOf = (i: number, v: number) => [[`10.1.${i}.${v}`, `fd00::${i.toString(16)}:${v}`], [`10.1.${i}.${v}`], [`fd00::${i.toString(16)}:${v}`]][v % 3]!
const pod = (i: number, v: number, app: string) => ({
  metadata: { namespace: `ns${i % NS}`, name: `p${i}`, labels: { app } }, spec: { nodeName: 'n' }, status: { podIPs: ipsOf(i, v).map((ip) => ({ ip })) },
})
const netpol = (k: number, app: string, from: string) => ({
  metadata: { namespace: `ns${k % NS}`, name: `pol${k}` },
  spec: { podSelector: { matchLabels: { app } }, policyTypes: ['Ingress', 'Egress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: from } } }] }], egress: [{ to: [{ namespaceSelector: {} }] }] },
})

/** The anti-spoofing sets after the diff's element commands on `bridge cinch`. */
function applied(from: Record<string, string[]>, plan: ReturnType<typeof planDiff>): Record<string, string[]> {
  const out = Object.fromEntries(Object.entries(from).map(([k, v]) => [k, new Set(v)]))
  for (const c of plan.commands ?? []) {
    if (!isElementCommand(c) || c.family !== 'bridge' || !(c.set in out)) continue
    for (const e of c.elements) c.verb === 'add' ? out[c.set]!.add(e) : out[c.set]!.delete(e)
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, [...v].sort()]))
}
const sortedSets = (r: Record<string, string[]>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, [...v].sort()]))

describe('review: the compilers never change an IR they handed out', () => {
  for (const seed of [1, 2, 3]) {
    test(`seed ${seed}`, () => {
      const r = rng(seed)
      const apps = ['a', 'b', 'c']
      const store = new ClusterStore()
      fill(store, 'Namespace', Array.from({ length: NS }, (_, i) => ({ metadata: { name: `ns${i}`, labels: {} } })))
      fill(store, 'Pod', Array.from({ length: PODS }, (_, i) => pod(i, 0, apps[i % 3]!)))
      fill(store, 'NetworkPolicy', Array.from({ length: 6 }, (_, k) => netpol(k, apps[k % 3]!, apps[(k + 1) % 3]!)))
      const locals = new Map<string, LocalPod>()
      let veth = 0
      const vethName = () => `cinch${(veth++).toString(16).padStart(10, '0')}`
      for (let i = 0; i < PODS; i += 3) locals.set(`ns${i % NS}/p${i}`, { namespace: `ns${i % NS}`, name: `p${i}`, ips: ipsOf(i, 0), hostVeth: vethName() })
      const main = new Compiler(), flow = new FlowCompiler({ flowLogs: FLOW_LOG_DEFAULTS })
      const compileBoth = () => [main.compile(store.state(), [...locals.values()]).ir, flow.compile(store.state(), [...locals.values()]).ir].map((ir) => deepFreeze(ir))
      let [prevMain, prevFlow] = compileBoth() as [PolicyIR, PolicyIR]
      let committed = prevFlow
      let spoofChanges = 0
      for (let step = 0; step < 300; step++) {
        const i = r(PODS), key = `ns${i % NS}/p${i}`, lp = locals.get(key)
        switch (r(6)) {
          case 0: { // readdressed, its record with it
            const v = 1 + r(5)
            store.upsert('Pod', pod(i, v, apps[r(3)]!) as never)
            if (lp) locals.set(key, { ...lp, ips: ipsOf(i, v) })
            break
          }
          case 1: // local <-> remote
            if (lp) locals.delete(key)
            else locals.set(key, { namespace: `ns${i % NS}`, name: `p${i}`, ips: store.state().pods.get(key)?.ips ?? ipsOf(i, 0), hostVeth: vethName() })
            break
          case 2: // a new veth (a restarted sandbox), now and then with one address less
            if (lp) locals.set(key, { ...lp, hostVeth: vethName(), ips: r(2) ? lp.ips : lp.ips.slice(0, 1) })
            break
          case 3: store.upsert('Pod', pod(i, r(5), apps[r(3)]!) as never); break
          case 4: { const k = r(8); if (r(3)) store.upsert('NetworkPolicy', netpol(k, apps[r(3)]!, apps[r(3)]!) as never); else store.remove('NetworkPolicy', { metadata: { namespace: `ns${k % NS}`, name: `pol${k}` } } as never); break }
          case 5: // the record alone changes its addresses (the sources lag)
            if (lp) locals.set(key, { ...lp, ips: ipsOf(i, 1 + r(5)) })
            break
        }
        let next: PolicyIR[]
        try {
          next = compileBoth()
        } catch (err) {
          throw new Error(`seed ${seed} step ${step}: a compile wrote into an IR handed out before: ${(err as Error).message}`)
        }
        const [nextMain, nextFlow] = next as [PolicyIR, PolicyIR]
        for (const [prev, nxt] of [[prevMain, nextMain], [prevFlow, nextFlow], [committed, nextFlow]] as const) {
          const plan = planDiff(prev, nxt)
          if (plan.full) continue
          const want = sortedSets(antispoofElements(nxt))
          expect(applied(antispoofElements(prev), plan), `seed ${seed} step ${step}`).toEqual(want)
          if (prev !== nxt && JSON.stringify(antispoofElements(prev)) !== JSON.stringify(antispoofElements(nxt))) spoofChanges++
        }
        if (r(4) !== 0) committed = nextFlow // now and then an apply fails and #last lags
        prevMain = nextMain
        prevFlow = nextFlow
      }
      expect(spoofChanges).toBeGreaterThan(50)
    })
  }
})
