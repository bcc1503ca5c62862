// The compiled tiers held to the API semantics: every cell of every ClusterNetworkPolicy case
// (upstream conformance, shared + extra, and cinch's own) walked through the IR as the kernel walks
// `inet cinch` (test/kit/ir-eval.ts), against the expected verdict, IPv4 and IPv6, every pod local. Steps run
// in order on ONE Compiler, and each IR must equal a fresh Compiler's (incremental == full).
import { describe, expect, test } from 'vitest'
import { Compiler } from './compiler.js'
import { evalForward } from '../../test/kit/ir-eval.js'
import { allLocal } from '../../test/kit/policy-state.js'
import { addressesOf, loadFixture, stateOfStep, stepsOf, type Case, type Family } from '../../test/kit/cnp-fixture.js'

const { model } = loadFixture('shared')
const suites: [string, Case[]][] = [['shared', loadFixture('shared').cases], ['extra', loadFixture('extra').cases], ['own', loadFixture('own').cases]]

let cells = 0
for (const [which, cases] of suites) {
  describe(`tiers in the IR (${which})`, () => {
    for (const family of [4, 6] as Family[]) {
      test(`IPv${family}: every cell, steps incremental on one Compiler`, () => {
        const { podIP } = addressesOf(model, family)
        const hostNet = new Set(model.pods.filter((p) => p.hostNetwork).map((p) => `${p.namespace}/${p.name}`))
        for (const kase of cases) {
          const compiler = new Compiler()
          for (const { name, step } of stepsOf([kase])) {
            const state = stateOfStep(model, step, family)
            const { ir, invalid } = compiler.compile(state, allLocal(state))
            expect(invalid, name).toEqual([])
            const fresh = new Compiler().compile(state, allLocal(state)).ir
            expect(ir, `${name}: incremental IR`).toEqual(fresh)
            for (const probe of step.probes) {
              for (const [src, row] of Object.entries(probe.expect)) {
                // A host-network source is the node itself: its own pods see it through the output
                // hook, which no rule filters; the integration tests cover it in the kernel.
                if (hostNet.has(src)) continue
                for (const [dst, want] of Object.entries(row)) {
                  if (src === dst) continue // hairpin to its own pod IP: loopback, no hook
                  const got = evalForward(ir, { saddr: podIP.get(src)!, daddr: podIP.get(dst)!, protocol: probe.protocol.toLowerCase() as 'tcp', dport: probe.port })
                  expect(got.allowed, `${name}: ${src} -> ${dst} ${probe.protocol}/${probe.port}\n  ${got.by.join('\n  ')}`).toBe(want)
                  cells++
                }
              }
            }
          }
        }
      })
    }
  })
}

describe('tiers coverage', () => {
  test('cells walked', () => {
    expect(cells).toBeGreaterThan(600)
    console.log(`tier cells walked through the IR: ${cells}`)
  })
})

describe('tiers and the node-wide guards', () => {
  const { model } = loadFixture('shared')
  const step = loadFixture('own').cases[0]!.steps![0]!
  test('the cost bound applies to ClusterNetworkPolicies: over it, invalid by name, and no tier chain', () => {
    const state = stateOfStep(model, step, 4)
    const first = [...state.clusterNetworkPolicies.keys()][0]!
    const ok = new Compiler().compile(state, allLocal(state))
    expect(ok.invalid).toEqual([])
    const tight = new Compiler({ maxPolicyCost: 1 }).compile(state, allLocal(state))
    expect(tight.invalid.map((i) => i.policy)).toContain(`ClusterNetworkPolicy/${first}`)
    expect(tight.invalid[0]!.reason).toMatch(/over the limit of 1 \(agent flag --max-policy-cost\)/)
    expect(Object.values(tight.ir.chains).filter((c) => c.tier)).toEqual([])
  })
  test('every local pod under a ClusterNetworkPolicy only is still anti-spoofed and guarded (vethAddrs, veths)', () => {
    const state = stateOfStep(model, step, 4)
    const locals = allLocal(state).map((l, i) => ({ ...l, hostVeth: `cinchv${i}` })) // distinct veths
    const { ir } = new Compiler().compile(state, locals)
    expect(Object.values(ir.chains).every((c) => c.tier)).toBe(true) // no NetworkPolicy in this step
    expect(ir.veths).toEqual(locals.map((l) => l.hostVeth).sort())
    for (const l of locals) expect(ir.vethAddrs[l.hostVeth]).toEqual(l.ips)
  })
})
