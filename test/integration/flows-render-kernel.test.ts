// Flow-log rules in a real kernel (a throwaway `unshare -n` namespace per call): nft's parser
// accepts the text with log rules at every verdict point, and across the transitions an operator
// makes (a namespace opts in and out, a policy goes to audit and back, a ClusterNetworkPolicy
// arrives) renderDiff after renderFull leaves the kernel exactly as renderFull of the next state.
import test from 'ava'
import type { PolicyIR } from '../../policy-agent/compile/ir.js'
import { renderDiff, renderFull } from '../../policy-agent/render/index.js'
import { audited, compileWith, dbFromApi, flowSteps, fresh, lockdown, state } from '../kit/flow-states.js'
import { applyAndList, nftCheck } from '../kit/nft-kernel.js'

test('nft accepts the log rules, the limit and the audit pass', (t) => {
  const ir = compileWith(fresh(), state({ logs: ['shop', 'lab'], policies: [dbFromApi, audited(lockdown)], cnp: true }))
  t.is(nftCheck(renderFull(ir)), '')
})

test('diff from each state to the next == full render (opt-in, audit, CNP, and back)', (t) => {
  const c = fresh()
  let prev: PolicyIR | undefined
  for (const [i, s] of flowSteps().entries()) {
    const ir = compileWith(c, s)
    const full = applyAndList([renderFull(ir)])
    if (prev) t.deepEqual(applyAndList([renderFull(prev), renderDiff(prev, ir)]), full, `step ${i}`)
    prev = ir
  }
})
