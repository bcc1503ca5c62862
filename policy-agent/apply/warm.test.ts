import { describe, expect, it } from 'vitest'
import { warmUp } from './warm.js'
import { Compiler } from '../compile/index.js'
import { FlowCompiler } from '../flows/compiler.js'
import { FLOW_LOG_DEFAULTS } from '../flows/options.js'
import { convertAs, type Kind } from '../sources/convert.js'
import { toRaw } from '../sources/unconvert.js'
import type { ClusterState } from '../model/cluster.js'
import v8 from 'node:v8'

// V8's own answer to "do these two objects share a hidden class": what decides whether code
// optimized for the cluster's objects runs on the warm-up's without a deopt.
v8.setFlagsFromString('--allow-natives-syntax')
const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean

describe('warmUp', () => {
  it('runs every kind of change through the compiler it is given, each one changing the IR', () => {
    for (const make of [() => new Compiler(), () => new FlowCompiler({ flowLogs: FLOW_LOG_DEFAULTS })]) {
      const irs: unknown[] = []
      const r = warmUp(() => {
        const c = make()
        return { compile: (s, l) => { const r = c.compile(s, l); irs.push(r.ir); return r } }
      })
      // the first compile and 3 rounds of 7 changes, every one a new IR (so each was diffed and encoded)
      expect(irs).toHaveLength(22)
      for (let i = 1; i < irs.length; i++) expect(irs[i]).not.toBe(irs[i - 1])
      // and every diff went through the netlink encoders (none fell back to nft text)
      expect(r.encoded).toBe(21)
    }
  })

  it('compiles objects as the store holds them (converted from API objects and frozen): the hidden classes of the cluster the first sync optimized for', () => {
    const states: ClusterState[] = []
    warmUp(() => {
      const c = new Compiler()
      return { compile: (s, l) => (states.push(s), c.compile(s, l)) }
    })
    const stored = (kind: Kind, v: object) => convertAs(kind, JSON.parse(JSON.stringify(toRaw(kind, v)))).value as object
    const s = states[0]!
    let checked = 0
    for (const [kind, items] of [['Pod', s.pods], ['Namespace', s.namespaces], ['NetworkPolicy', s.policies]] as const) {
      for (const v of items.values()) {
        const like = stored(kind, v)
        expect(v).toEqual(like)
        expect(Object.isFrozen(v)).toBe(true)
        expect(sameMap(v, like)).toBe(true)
        checked++
      }
    }
    expect(checked).toBeGreaterThan(20)
    // the pod's parts the compiler reads as well
    const pod = [...s.pods.values()][0]!
    const like = stored('Pod', pod) as typeof pod
    for (const [a, b] of [[pod.labels, like.labels], [pod.ips, like.ips], [pod.ports[0]!, like.ports[0]!]] as const) expect(sameMap(a, b)).toBe(true)
  })
})
