// What a tenant's policies can make the Compiler keep between compiles: its memos are keyed by
// tenant text (selectors), so each is bounded, however many distinct selectors come and go.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, test } from 'vitest'
import { Compiler } from './index.js'
import { allLocal, clusterOf, policy } from '../../test/kit/policy-state.js'
import type { ClusterState } from '../model/cluster.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const heap = () => { gc(); gc(); return process.memoryUsage().heapUsed }

/** MB the heap kept after one Compiler compiled `state(1..80)` (a policy rewritten 80 times) past `state(0)`. */
function keptByRewrites(state: (i: number) => ClusterState, each?: (ir: ReturnType<Compiler['compile']>['ir'], i: number) => void): number {
  const c = new Compiler()
  const s0 = state(0)
  c.compile(s0, allLocal(s0))
  const before = heap()
  for (let i = 1; i <= 80; i++) {
    const s = state(i)
    const { ir } = c.compile(s, allLocal(s))
    each?.(ir, i)
  }
  return (heap() - before) / (1 << 20)
}

// 80 compiles of a 1 MB policy: ~3.5 s on a quiet machine, past vitest's 5 s default when the
// machine is shared. What they hold is the assertion, not how fast they run.
describe('Compiler memory', { timeout: 60_000 }, () => {
  test('a policy rewritten with ever new namespace selectors (1 MB each) leaves no selector behind', () => {
    // The API server takes a policy of ~1.5 MB; a label value it would refuse is no different
    // here than a long `values` list, which it takes.
    const big = (i: number) => `${i}-${'v'.repeat(1 << 20)}`
    const state = (i: number) => clusterOf({
      namespaces: { x: {}, y: { team: 'red' } },
      pods: { 'x/a': { labels: { app: 'a' }, ips: ['10.0.0.1'] }, 'y/b': { labels: {}, ips: ['10.0.1.1'] } },
      policies: [policy('x', 'p', { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In', values: ['red', big(i)] }] } }] }] })],
    })
    const grown = keptByRewrites(state, (ir, i) => {
      expect(Object.values(ir.sets).find((x) => x.kind === 'addr' && x.family === 4)?.elements, `rewrite ${i}`).toEqual(['10.0.1.1'])
    })
    // 80 selectors of 1 MB kept would be 80 MB and more
    expect(grown).toBeLessThan(20)
  })
})

describe('normalize memory', () => {
  test('a policy rewritten with ever new port names (1 MB each, a manifest: no API server checks them) leaves none behind', () => {
    const big = (i: number) => `n${i}-${'p'.repeat(1 << 20)}`
    const state = (i: number) => clusterOf({
      namespaces: { x: {} },
      pods: { 'x/a': { labels: { app: 'a' }, ips: ['10.0.0.1'] } },
      policies: [policy('x', 'p', { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ ports: [{ port: big(i) }, { port: 80 }] }] })],
    })
    expect(keptByRewrites(state)).toBeLessThan(20)
  })
})
