// Truth tables: every cell of every step of the upstream ClusterNetworkPolicy conformance suite
// (the five shared cases and the rest in test/fixtures/cnp-extra/cases.json) through the pure
// evaluator with the NetworkPolicy tier of compile/decide.ts, in an IPv4 and an IPv6 cluster.
// SCTP cells are evaluated too: a pure evaluator needs no SCTP sockets.
import { describe, expect, test } from 'vitest'
import { evaluator } from './evaluate.js'
import { networkPolicyTier } from './netpol.js'
import { cellsOf, clusterOfStep, loadFixture, stepsOf, type Family } from '../../test/kit/cnp-fixture.js'

const counts = { cells: 0, tcp: 0, udp: 0, sctp: 0 }

for (const which of ['shared', 'extra'] as const) {
  const { model, cases } = loadFixture(which)
  const steps = stepsOf(cases)
  describe(`cnp conformance (${which})`, () => {
    test('every case has steps with probes', () => {
      expect(cases.length).toBe(which === 'shared' ? 5 : 19)
      for (const s of steps) expect(s.step.probes.length).toBeGreaterThan(0)
    })
    for (const family of [4, 6] as Family[]) {
      test.each(steps)(`IPv${family} $name`, ({ step }) => {
        const { cluster, cnps, invalid } = clusterOfStep(model, step, family)
        expect(invalid).toEqual([])
        const evaluate = evaluator(cluster, cnps, networkPolicyTier(cluster.state))
        for (const c of cellsOf(step)) {
          const d = evaluate(c)
          const why = [...d.egress.reasons.map((r) => `egress: ${r}`), ...d.ingress.reasons.map((r) => `ingress: ${r}`)].join('\n  ')
          expect(d.allowed, `${c.src} -> ${c.dst} ${c.protocol}/${c.port}\n  ${why}`).toBe(c.want)
          counts.cells++
          counts[c.protocol.toLowerCase() as 'tcp']++
        }
      })
    }
  })
}

describe('cnp conformance coverage', () => {
  // Runs after the tables above (vitest runs a file's tests in order): each of the 301 upstream
  // pokes is a cell (a few pokes repeat a cell within a step), in both families.
  test('every upstream poke was evaluated', () => {
    expect(counts.cells).toBe(2 * 301)
    expect(counts.sctp).toBeGreaterThan(0)
    console.log(`cnp conformance cells evaluated: ${JSON.stringify(counts)}`)
  })
})
