// The address -> pod rule of flow records (pod-addresses.ts), case by case, held to the one
// `cinch explain` uses (compile/cluster-index.ts podByAddr); the random differential test through
// the recorder is in recorder.test.ts.
import { describe, expect, it } from 'vitest'
import { indexCluster } from '../compile/cluster-index.js'
import type { ClusterState } from '../model/cluster.js'
import { ClusterStore } from '../sources/store.js'
import { PodAddressIndex } from './pod-addresses.js'
import { podKeysByAddress } from '../model/pod-addresses.js'

const pod = (key: string, ips: string[], o: { hostNetwork?: boolean; phase?: string } = {}) => {
  const [namespace, name] = key.split('/')
  return { metadata: { namespace, name }, spec: o.hostNetwork ? { hostNetwork: true } : {}, status: { podIPs: ips.map((ip) => ({ ip })), ...(o.phase ? { phase: o.phase } : {}) } }
}
const named = (ix: PodAddressIndex, a: string) => { const p = ix.podOf(a); return p && `${p.namespace}/${p.name}` }
const explained = (s: ClusterState, a: string) => { const p = indexCluster(s).podByAddr(a); return p && `${p.namespace}/${p.name}` }

describe('PodAddressIndex', () => {
  it('two pods on one address: the greatest key holds it whatever the order of arrival, as in cinch explain', () => {
    for (const order of [['shop/old', 'shop/new'], ['shop/new', 'shop/old']]) {
      const store = new ClusterStore()
      const ix = new PodAddressIndex()
      ix.sync(store.state())
      for (const key of order) store.upsert('Pod', pod(key, ['10.0.0.7']))
      expect(ix.sync(store.state())).toBe('changes')
      expect(named(ix, '10.0.0.7')).toBe('shop/old') // "old" > "new": a rule of the state alone, not of time
      expect(explained(store.state(), '10.0.0.7')).toBe('shop/old')
      expect(podKeysByAddress(store.state()).get('10.0.0.7')).toBe('shop/old')
      // The terminating pod goes: the address is the other's.
      store.remove('Pod', pod('shop/old', []))
      ix.sync(store.state())
      expect(named(ix, '10.0.0.7')).toBe('shop/new')
      expect(explained(store.state(), '10.0.0.7')).toBe('shop/new')
    }
  })

  it('a pod that finished (Succeeded/Failed) lists no address: the pod reusing it holds it', () => {
    const store = new ClusterStore()
    const ix = new PodAddressIndex()
    store.upsert('Pod', pod('z/job', ['10.0.0.8']))
    ix.sync(store.state())
    expect(named(ix, '10.0.0.8')).toBe('z/job')
    store.upsert('Pod', pod('z/job', ['10.0.0.8'], { phase: 'Succeeded' }))
    store.upsert('Pod', pod('a/web', ['10.0.0.8']))
    ix.sync(store.state())
    expect(named(ix, '10.0.0.8')).toBe('a/web')
  })

  it('hostNetwork pods name no address (it is their node\'s), as in cinch explain; turning it off claims it', () => {
    const store = new ClusterStore()
    const ix = new PodAddressIndex()
    ix.sync(store.state())
    store.upsert('Pod', pod('kube-system/proxy', ['192.168.1.5'], { hostNetwork: true }))
    ix.sync(store.state())
    expect(named(ix, '192.168.1.5')).toBeUndefined()
    expect(explained(store.state(), '192.168.1.5')).toBeUndefined()
    store.upsert('Pod', pod('kube-system/proxy', ['192.168.1.5']))
    ix.sync(store.state())
    expect(named(ix, '192.168.1.5')).toBe('kube-system/proxy')
  })

  it('addresses are canonical: other spellings of one address are one claim', () => {
    const store = new ClusterStore()
    const ix = new PodAddressIndex()
    ix.sync(store.state())
    store.upsert('Pod', pod('a/p', ['fd00:0:0::0001', 'fd00::1/64', '10.0.0.9/24']))
    ix.sync(store.state())
    expect(named(ix, 'fd00::1')).toBe('a/p')
    expect(named(ix, '10.0.0.9')).toBe('a/p')
    store.upsert('Pod', pod('a/p', ['10.0.0.9']))
    ix.sync(store.state())
    expect(named(ix, 'fd00::1')).toBeUndefined()
    expect(named(ix, '10.0.0.9')).toBe('a/p')
  })

  it('follows the change log when the source keeps one, rebuilds when it does not', () => {
    const store = new ClusterStore()
    const ix = new PodAddressIndex()
    store.upsert('Pod', pod('a/p', ['10.0.0.1']))
    expect(ix.sync(store.state())).toBe('rebuilt') // first: nothing to follow from
    expect(ix.sync(store.state())).toBe('same')
    store.upsert('Pod', pod('a/q', ['10.0.0.2']))
    expect(ix.sync(store.state())).toBe('changes')
    const copy = { ...store.state() } // same maps, no change log
    store.upsert('Pod', pod('a/r', ['10.0.0.3']))
    expect(ix.follow(copy)).toBe(false) // what the recorder drops, to rebuild at its next event
    expect(ix.state).not.toBe(copy)
    expect(ix.follow(store.state())).toBe(true)
    expect(named(ix, '10.0.0.3')).toBe('a/r')
    expect(ix.sync(copy)).toBe('rebuilt')
    expect(named(ix, '10.0.0.3')).toBeUndefined()
    expect(named(ix, '10.0.0.2')).toBe('a/q')
  })
})

describe('PodAddressIndex bounds', () => {
  it('a pod listing 60,000 addresses (podIPs has no bound) costs linear time, not quadratic', () => {
    const store = new ClusterStore()
    const ix = new PodAddressIndex()
    ix.sync(store.state())
    const many = Array.from({ length: 60_000 }, (_, i) => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`)
    store.upsert('Pod', pod('x/wide', [...many, ...many]))
    ix.sync(store.state())
    store.upsert('Pod', pod('x/wide', many.slice(30_000)))
    ix.sync(store.state())
    expect(named(ix, '10.0.0.1')).toBeUndefined()
    expect(named(ix, many[59_999]!)).toBe('x/wide')
  })
})
