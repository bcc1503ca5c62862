// The three tiers in a real kernel: for every step of every ClusterNetworkPolicy case (upstream
// conformance and cinch's own), the full text loads, and the diff from the previous step's rules
// leaves exactly what the full render of the new step does (renderDiff == renderFull), in a
// throwaway network namespace (`unshare -n`, test/kit/nft-kernel.ts).
import test from 'ava'
import { Compiler } from '../../policy-agent/compile/compiler.js'
import type { PolicyIR } from '../../policy-agent/compile/ir.js'
import { loadFixture, stateOfStep, stepsOf } from '../kit/cnp-fixture.js'
import { renderDiff, renderFull } from '../../policy-agent/render/index.js'
import { applyAndList } from '../kit/nft-kernel.js'
import { allLocal } from '../kit/policy-state.js'

const { model } = loadFixture('shared')
const cases = (['shared', 'extra', 'own'] as const).flatMap((w) => loadFixture(w).cases)

for (const kase of cases) {
  test(`${kase.id}: every step loads; diff from the previous step == full render`, (t) => {
    const compiler = new Compiler()
    let prev: PolicyIR | undefined
    for (const { name, step } of stepsOf([kase])) {
      const state = stateOfStep(model, step, 4)
      const { ir } = compiler.compile(state, allLocal(state))
      const full = applyAndList([renderFull(ir)])
      if (prev) t.deepEqual(applyAndList([renderFull(prev), renderDiff(prev, ir)]), full, `${name}: diff`)
      prev = ir
    }
    t.pass()
  })
}

test('the last step of a case back to no policy: the diff removes every tier chain', (t) => {
  const kase = cases.find((c) => c.id === 'pass-chain-across-tiers')!
  const steps = stepsOf([kase])
  const compiler = new Compiler()
  const s1 = stateOfStep(model, steps[0]!.step, 4)
  const a = compiler.compile(s1, allLocal(s1)).ir
  const s0 = stateOfStep(model, { ...steps[0]!.step, policies: [] }, 4)
  const b = compiler.compile(s0, allLocal(s0)).ir
  t.true(Object.values(a.chains).some((c) => c.tier))
  t.deepEqual(Object.keys(b.chains), [])
  t.deepEqual(applyAndList([renderFull(a), renderDiff(a, b)]), applyAndList([renderFull(b)]))
})
