// Our own NetworkPolicy cases (test/fixtures/netpol-extra/cases.json) for every point of issue 3's
// Semantics the vendored fixture does not cover -- endPort, named ports per destination pod, ipBlock
// with except, selector AND vs OR, matchExpressions, egress, IPv6, policies adding up, invalid
// policies skipped whole -- applied step by step to ONE live agent watching its manifest directory
// (so updates, deletions and pod/namespace label changes are exercised), probed with real traffic.
import test from 'ava'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Cleanup, fetchAgent, type NodeCluster, repoRoot } from './netpol-helpers.js'
import { type Case, checkStep, modelCluster, stepsOf } from './netpol-fixture.js'

const extra = JSON.parse(readFileSync(join(repoRoot, 'test/fixtures/netpol-extra/cases.json'), 'utf8')) as { cases: Case[] }
const cleanup = new Cleanup()
let c: NodeCluster

test.before(async () => {
  c = await modelCluster(cleanup, 's')
})

test.after.always(() => cleanup.run())

for (const kase of extra.cases) {
  test.serial(kase.id, async (t) => {
    t.log(kase.about)
    const steps = stepsOf(kase)
    for (const [i, step] of steps.entries()) {
      await checkStep(t, c, kase, step, `step ${i}`)
      if (step.invalid?.length) {
        // Reported by name to the operator: /metrics too, not only /status and the log.
        const metrics = await fetchAgent(c, '/metrics')
        for (const p of step.invalid) t.regex(metrics, new RegExp(`cinch_invalid_policies\\{[^}]*policy="${p}"[^}]*\\} 1`), `metrics name ${p}`)
        for (const p of step.invalid) t.regex(c.agent!.log(), new RegExp(`"policy":"${p}".*invalid NetworkPolicy skipped`), `log names ${p}`)
      }
    }
  })
}
