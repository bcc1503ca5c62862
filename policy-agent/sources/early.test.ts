// EarlySource: the lists start when it is made, before the agent asks; the agent then gets that
// one start and every change after it.
import { describe, expect, it } from 'vitest'
import type { ClusterState } from '../model/cluster.js'
import { EarlySource } from './early.js'
import type { EarlyLook, Source } from './types.js'

/** A source whose lists end when the test says, and whose changes the test makes. */
function fakeSource() {
  const calls: string[] = []
  let listed!: () => void
  let failed!: (err: Error) => void
  let change: (() => void) | undefined
  let look: EarlyLook | undefined
  const state = {} as ClusterState
  const source: Source = {
    start: (onChange, early) => {
      calls.push('start')
      change = onChange
      look = early
      return new Promise<void>((resolve, reject) => ((listed = resolve), (failed = reject)))
    },
    state: () => state,
    problems: () => [{ where: 'x', reason: 'y' }],
    stop: async () => void calls.push('stop'),
  }
  return { source, calls, state, listed: () => listed(), failed: (e: Error) => failed(e), change: () => change!(), look: () => look!.beforeLastPage() }
}

describe('EarlySource', () => {
  it('passes the look before the last list page to the reader once it has started; none before', async () => {
    const f = fakeSource()
    const early = new EarlySource(f.source)
    f.look() // the reader has not asked yet: missed, harmlessly
    const looks: number[] = []
    const started = early.start(() => {}, { beforeLastPage: () => looks.push(1) })
    f.look()
    f.listed()
    await started
    expect(looks).toEqual([1])
  })

  it('starts the lists when made, and hands that start to the later start()', async () => {
    const f = fakeSource()
    const early = new EarlySource(f.source)
    expect(f.calls).toEqual(['start'])
    const changes: number[] = []
    let done = false
    const started = early.start(() => changes.push(1)).then(() => (done = true))
    await Promise.resolve()
    expect(done).toBe(false)
    f.listed()
    await started
    expect(f.calls).toEqual(['start'])
    f.change()
    f.change()
    expect(changes).toEqual([1, 1])
    expect(early.state()).toBe(f.state)
    expect(early.problems()).toEqual([{ where: 'x', reason: 'y' }])
    await early.stop()
    expect(f.calls).toEqual(['start', 'stop'])
  })

  it('a change before anyone listens is delivered once, when someone does', async () => {
    const f = fakeSource()
    const early = new EarlySource(f.source)
    f.listed()
    f.change()
    f.change()
    const changes: string[] = []
    await early.start(() => changes.push('c'))
    await Promise.resolve()
    expect(changes).toEqual(['c'])
  })

  it('a list that fails before start() rejects start(), and is not an unhandled rejection meanwhile', async () => {
    const f = fakeSource()
    const early = new EarlySource(f.source)
    f.failed(new Error('no kubeconfig'))
    await new Promise((r) => setImmediate(r))
    await expect(early.start(() => {})).rejects.toThrow('no kubeconfig')
  })

  it('starts once', async () => {
    const early = new EarlySource(fakeSource().source)
    void early.start(() => {})
    expect(() => early.start(() => {})).toThrow('source already started')
  })
})
