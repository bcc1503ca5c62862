// The three tiers in a real kernel: for every step of every ClusterNetworkPolicy case (upstream
// conformance and cinch's own), the full text loads, and the diff from the previous step's rules
// leaves exactly what the full render of the new step does (renderDiff == renderFull), in a
// throwaway network namespace.
import { describe, expect, test } from 'vitest'
import { Compiler } from '../compile/compiler.js'
import type { PolicyIR } from '../compile/ir.js'
import { allLocal } from '../compile/testkit.js'
import { loadFixture, stateOfStep, stepsOf } from '../cnp/testkit.js'
import { renderDiff, renderFull } from './index.js'
import { applyAndList, haveKernelNft } from './nft-kernel.js'

const kernel = haveKernelNft()
const { model } = loadFixture('shared')
const cases = (['shared', 'extra', 'own'] as const).flatMap((w) => loadFixture(w).cases)

describe.skipIf(!kernel)('ClusterNetworkPolicy tiers in the kernel', () => {
  test.each(cases.map((c) => ({ id: c.id, kase: c })))('$id: every step loads; diff from the previous step == full render', ({ kase }) => {
    const compiler = new Compiler()
    let prev: PolicyIR | undefined
    for (const { name, step } of stepsOf([kase])) {
      const state = stateOfStep(model, step, 4)
      const { ir } = compiler.compile(state, allLocal(state))
      const full = applyAndList([renderFull(ir)])
      if (prev) expect(applyAndList([renderFull(prev), renderDiff(prev, ir)]), `${name}: diff`).toEqual(full)
      prev = ir
    }
  })
  test('the last step of a case back to no policy: the diff removes every tier chain', () => {
    const kase = cases.find((c) => c.id === 'pass-chain-across-tiers')!
    const steps = stepsOf([kase])
    const compiler = new Compiler()
    const s1 = stateOfStep(model, steps[0]!.step, 4)
    const a = compiler.compile(s1, allLocal(s1)).ir
    const s0 = stateOfStep(model, { ...steps[0]!.step, policies: [] }, 4)
    const b = compiler.compile(s0, allLocal(s0)).ir
    expect(Object.values(a.chains).some((c) => c.tier)).toBe(true)
    expect(Object.keys(b.chains)).toEqual([])
    expect(applyAndList([renderFull(a), renderDiff(a, b)])).toEqual(applyAndList([renderFull(b)]))
  })
})
