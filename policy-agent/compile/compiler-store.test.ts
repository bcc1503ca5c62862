// The incremental Compiler fed by the real store (sources/store.ts), as the agent runs it: the
// store tells it which keys changed since its last compile (changes.ts) and it visits only those.
// After every step of a random sequence of source writes (pod and namespace relabels, pods and
// policies coming and going, relists, several writes between two compiles, snapshots taken by
// someone else in between), at a few thousand pods, its IR must equal a fresh compile's and the
// diff over its IRs must equal the diff over fresh ones.
import { describe, expect, test } from 'vitest'
import type { LocalPod } from '../model/cluster.js'
import { renderDiff } from '../render/index.js'
import { ClusterStore } from '../sources/store.js'
import type { Kind } from '../sources/convert.js'
import { Compiler, compile } from './index.js'

function rng(seed: number) {
  let s = seed >>> 0
  return (n: number) => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % n)
}

const NAMESPACES = 150
const PODS = 2400
const POLICIES = 300
type R = (n: number) => number

const nsObj = (r: R, i: number) => ({ metadata: { name: `ns${i}`, labels: { team: `t${r(4)}`, ...(r(2) ? { env: 'prod' } : {}) } } })
const podObj = (r: R, i: number, ns = `ns${i % NAMESPACES}`) => ({
  metadata: { namespace: ns, name: `pod${i}`, labels: { app: `app${r(8)}`, ...(r(3) ? { tier: ['fe', 'be'][r(2)]! } : {}) } },
  spec: { nodeName: 'n1', hostNetwork: r(40) === 0, containers: [{ ports: r(3) ? [{ name: 'http', containerPort: 8000 + r(3) }] : [{ name: 'dns', containerPort: 53, protocol: 'UDP' }] }] },
  status: { podIPs: [{ ip: `10.${(i >> 8) & 255}.${i & 255}.${1 + r(2)}` }, { ip: `fd00::${i.toString(16)}` }] },
})
const policyObj = (r: R, k: number) => {
  const ns = `ns${k % NAMESPACES}`
  const peer = () => [
    { podSelector: { matchLabels: { app: `app${r(8)}` } } },
    { namespaceSelector: { matchLabels: { team: `t${r(4)}` } } },
    { namespaceSelector: { matchLabels: { env: 'prod' } }, podSelector: { matchExpressions: [{ key: 'tier', operator: r(2) ? 'In' : 'NotIn', values: ['fe'] }] } },
    { ipBlock: { cidr: '10.0.0.0/8', except: [`10.${r(4)}.0.0/16`] } },
  ][r(4)]!
  const ports = () => [undefined, [{ port: 'http' }], [{ port: 80, endPort: 90 }, { protocol: 'UDP', port: 'dns' }]][r(3)]
  return {
    metadata: { namespace: ns, name: `pol${k}` },
    spec: {
      podSelector: r(3) ? { matchLabels: { app: `app${r(8)}` } } : {},
      policyTypes: r(2) ? ['Ingress', 'Egress'] : ['Ingress'],
      ingress: [{ from: [peer(), peer()], ports: ports() }],
      egress: [{ to: [peer()], ports: ports() }],
    },
  }
}

function fill(store: ClusterStore, r: R, kind: Kind, n: number, make: (r: R, i: number) => object): void {
  const rep = store.replace(kind)
  for (let i = 0; i < n; i++) rep.add(make(r, i) as never)
  rep.done()
}

/** One write of the kind a watch or a relist makes. */
function write(store: ClusterStore, r: R, step: number): void {
  switch (r(10)) {
    case 0: case 1: store.upsert('Pod', podObj(r, r(PODS)) as never); break // relabel (and ports)
    case 2: store.upsert('Pod', podObj(r, PODS + step, `ns${r(NAMESPACES)}`) as never); break // new pod
    case 3: store.remove('Pod', { metadata: { namespace: `ns${r(PODS) % NAMESPACES}`, name: `pod${r(PODS)}` } }); break
    case 4: case 5: store.upsert('Namespace', nsObj(r, r(NAMESPACES)) as never); break
    case 6: store.upsert('NetworkPolicy', policyObj(r, r(POLICIES + 20)) as never); break
    case 7: store.remove('NetworkPolicy', { metadata: { namespace: `ns${r(NAMESPACES)}`, name: `pol${r(POLICIES)}` } }); break
    case 8: if (r(4) === 0) fill(store, r, 'Namespace', NAMESPACES, nsObj); else store.remove('Namespace', { metadata: { name: `ns${r(NAMESPACES)}` } }); break
    case 9: { const k = r(NAMESPACES); store.upsert('Namespace', { metadata: { name: `ns${k}`, labels: { team: 't0', env: 'prod' } } }); break }
  }
}

describe('Compiler fed by the store (change sets)', () => {
  for (const seed of [11, 12, 13]) {
    test(`seed ${seed}: 2,400 pods, 80 random steps, incremental == fresh at each`, () => {
      const r = rng(seed)
      const store = new ClusterStore()
      fill(store, r, 'Namespace', NAMESPACES, nsObj)
      fill(store, r, 'Pod', PODS, podObj)
      fill(store, r, 'NetworkPolicy', POLICIES, policyObj)
      const locals: LocalPod[] = []
      for (let i = 0; i < PODS; i += 40) locals.push({ namespace: `ns${i % NAMESPACES}`, name: `pod${i}`, ips: [`10.0.${i}.1`], hostVeth: `cinch${i}` })
      const c = new Compiler()
      let prev = c.compile(store.state(), locals)
      let prevFresh = compile(store.state(), locals)
      expect(prev).toEqual(prevFresh)
      for (let step = 0; step < 80; step++) {
        const writes = r(4) === 0 ? 1 + r(6) : 1
        for (let w = 0; w < writes; w++) {
          write(store, r, step)
          if (r(5) === 0) store.state() // another reader's snapshot between two compiles
        }
        const state = store.state()
        const next = c.compile(state, locals)
        const fresh = compile(state, locals)
        expect(next, `step ${step}`).toEqual(fresh)
        expect(renderDiff(prev.ir, next.ir), `diff at step ${step}`).toBe(renderDiff(prevFresh.ir, fresh.ir))
        prev = next
        prevFresh = fresh
      }
    }, 60_000)
  }
})
