// V8 hashes a string of more than 16,383 characters by its length alone (model/text-keys.ts): the
// compiler's indexes keyed by a tenant's selector text would put a tenant's many long selectors of
// one length in one bucket, each lookup comparing with all the others (3,000 of 20,000 characters:
// ~19 s in one Map). Keyed by the selector's or peer's object instead, they take what short ones do.
import { describe, expect, test } from 'vitest'
import { indexSets, setsOfNamespace, type PodView, type SetEntry } from './sets.js'
import { indexCluster } from './cluster-index.js'
import { clusterOf } from '../../test/kit/policy-state.js'
import { MAX_HASHED_LENGTH } from '../model/text-keys.js'
import type { Selector } from '../model/selector.js'
import type { PodsPeer } from './normalize.js'

const N = 3000
/** N keys of 20,000 characters, one length, differing only at their ends */
const longKeys = () => { const base = 'k'.repeat(20_000 - 6); return Array.from({ length: N }, (_, i) => base + String(i).padStart(6, '0')) }
const every: Selector = { key: '{}', matches: () => true } as unknown as Selector

describe('indexes keyed by tenant text', () => {
  test('keys past what V8 hashes whole', () => {
    const keys = longKeys()
    expect(keys[0]!.length).toBeGreaterThan(MAX_HASHED_LENGTH)
    expect(new Set(keys.map((k) => k.length)).size).toBe(1)
  })

  test(`the sets of ${N} namespace selectors of 20,000 characters are indexed at once, each still found`, () => {
    const entries = longKeys().map((key) => ({ def: { kind: 'addr', family: 4, comment: '', peer: { kind: 'pods', namespace: 'a', nsSel: { key, matches: () => true }, podSel: every } } }) as unknown as SetEntry)
    const ix = indexSets(entries)
    const found = new Set<SetEntry>()
    setsOfNamespace(ix, 'b', { podsByNs: new Map(), nsLabels: () => ({}) } as PodView, found)
    expect(found.size).toBe(N)
  }, 10_000)

  test(`${N} pod peers with 20,000-character keys each select their pods at once`, () => {
    const state = clusterOf({ namespaces: { a: {} }, pods: {} })
    state.pods.set('a/p', { namespace: 'a', name: 'p', labels: { app: 'x' }, ips: ['10.1.0.1'], hostNetwork: false, ports: [] })
    const ix = indexCluster(state)
    const peers = longKeys().map((key) => ({ kind: 'pods', key, namespace: 'a', nsSel: null, podSel: every }) as unknown as PodsPeer)
    for (const peer of peers) expect(ix.peerPods(peer).map((p) => p.name)).toEqual(['p'])
    expect(ix.peerPods(peers[0]!)).toBe(ix.peerPods(peers[0]!)) // still memoised, by the peer
  }, 10_000)
})
