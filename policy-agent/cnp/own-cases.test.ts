// cinch's own ClusterNetworkPolicy truth tables (test/fixtures/cnp-extra/own-cases.json): Pass
// chains across tiers, priority order, fail-closed unknown fields, networks matching pod traffic,
// interaction with NetworkPolicy, hairpin, host-network pods, nodes peers, named ports; IPv4 and IPv6.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import { evaluator } from './evaluate.js'
import { networkPolicyTier } from './netpol.js'
import { cellsOf, clusterOfStep, loadFixture, type Family, type Step } from '../../test/kit/cnp-fixture.js'

const file = fileURLToPath(new URL('../../test/fixtures/cnp-extra/own-cases.json', import.meta.url))
const own = JSON.parse(readFileSync(file, 'utf8')) as { cases: { id: string; steps: (Step & { about: string; warnings?: Record<string, number> })[] }[] }
const { model } = loadFixture('shared')
const steps = own.cases.flatMap((c) => c.steps.map((s, i) => ({ name: `${c.id} ${i + 1}: ${s.about}`, step: s })))

describe('cnp own cases', () => {
  test('cover the issue\'s list', () => {
    const ids = own.cases.map((c) => c.id)
    for (const id of ['pass-chain-across-tiers', 'priority-order', 'fail-closed-unknown-fields', 'networks-match-pod-traffic', 'interaction-with-networkpolicy']) expect(ids).toContain(id)
  })
  for (const family of [4, 6] as Family[]) {
    test.each(steps)(`IPv${family} $name`, ({ step }) => {
      const { cluster, cnps, invalid } = clusterOfStep(model, step, family)
      expect(invalid).toEqual([])
      const warnings = Object.fromEntries(cnps.filter((p) => p.warnings.length > 0).map((p) => [p.name, p.warnings.length]))
      expect(warnings).toEqual(step.warnings ?? {})
      const evaluate = evaluator(cluster, cnps, networkPolicyTier(cluster.state))
      for (const c of cellsOf(step)) {
        const d = evaluate(c)
        const why = [...d.egress.reasons.map((r) => `egress: ${r}`), ...d.ingress.reasons.map((r) => `ingress: ${r}`)].join('\n  ')
        expect(d.allowed, `${c.src} -> ${c.dst} ${c.protocol}/${c.port} (${(c.probe as { why?: string }).why})\n  ${why}`).toBe(c.want)
      }
    })
  }
})
