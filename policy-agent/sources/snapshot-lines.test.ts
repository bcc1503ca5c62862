// The restart snapshot's lines made in the background (snapshot-lines.ts): a few per turn of the
// event loop, so a watch event is not kept waiting behind the whole store, and again on each pass
// for the objects that changed since.
import { describe, expect, it } from 'vitest'
import type { ClusterState, Pod } from '../model/cluster.js'
import { fillLinesInBackground, hasLine, snapshotLine } from './snapshot-lines.js'
import { convertAs } from './convert.js'

const pod = (i: number): Pod => ({ namespace: 'ns', name: `p${i}`, labels: { app: `a${i % 7}` }, ips: [`10.0.${i >> 8}.${i & 255}`], ports: [] })
const stateOf = (pods: Map<string, Pod>): ClusterState =>
  ({ pods, namespaces: new Map(), policies: new Map(), nodes: new Map(), clusterNetworkPolicies: new Map() }) as unknown as ClusterState
const turn = () => new Promise((r) => setImmediate(r))

describe('fillLinesInBackground', () => {
  it('makes at most 128 lines a turn, then all; a pass later makes the line of an object that changed', async () => {
    const pods = new Map<string, Pod>()
    for (let i = 0; i < 1000; i++) pods.set(`ns/p${i}`, pod(i))
    let state = stateOf(pods)
    const passes: number[] = []
    const stop = fillLinesInBackground(() => state, { everyMs: 5, onPass: (made) => passes.push(made) })
    try {
      await turn()
      const afterOne = [...pods.values()].filter(hasLine).length
      expect(afterOne).toBeGreaterThan(0)
      expect(afterOne).toBeLessThanOrEqual(128)
      const deadline = Date.now() + 5000
      while (passes.length === 0) {
        if (Date.now() > deadline) throw new Error('no pass within 5 s')
        await turn()
      }
      expect(passes[0]).toBe(1000)
      expect([...pods.values()].every(hasLine)).toBe(true)
      // A changed pod is a new object: the next pass makes its line alone.
      const moved = { ...pod(7), labels: { app: 'moved' } }
      const next = new Map(pods).set('ns/p7', moved)
      state = stateOf(next)
      const seen = passes.length
      while (!hasLine(moved)) {
        if (Date.now() > deadline) throw new Error('the changed pod got no line within 5 s')
        await new Promise((r) => setTimeout(r, 2))
      }
      while (passes.length <= seen) await new Promise((r) => setTimeout(r, 2))
      expect(passes.slice(seen)).toContain(1)
      // The line reads back as the object.
      expect(convertAs('Pod', JSON.parse(snapshotLine('Pod', moved))).value).toMatchObject(moved)
    } finally {
      stop()
    }
  })
})
