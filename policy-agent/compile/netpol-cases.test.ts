// Every case of shared/netpol/cases.json (the Kubernetes e2e NetworkPolicy suite as data): each
// probe's 9x9 matrix through decide() and through the compiled IR, all nine pods on one node.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import type { NetworkPolicy, Protocol } from '../model/cluster.js'
import { compile, decide } from './index.js'
import { evalForward } from '../../test/kit/ir-eval.js'
import { allLocal, clusterOf, type PodSpec } from '../../test/kit/policy-state.js'

const file = fileURLToPath(new URL('../../test/fixtures/netpol-cases.json', import.meta.url))
const data = JSON.parse(readFileSync(process.env.CINCH_NETPOL_CASES ?? file, 'utf8'))

interface Probe { port: number; protocol: Protocol; expect: Record<string, Record<string, boolean>> }
interface Step { policies: NetworkPolicy[]; probes: Probe[]; namespaceLabelUpdates?: Record<string, Record<string, string>>; podLabelUpdates?: Record<string, Record<string, string>> }

const model = data.model as { namespaces: Record<string, { labels: Record<string, string> }>; pods: { namespace: string; name: string; labels: Record<string, string>; ports: { name: string; port: number; protocol: Protocol }[] }[] }
const ipOf = new Map(model.pods.map((p, i) => [`${p.namespace}/${p.name}`, `10.244.0.${10 + i}`]))

function substitute<T>(policies: T): T {
  return JSON.parse(JSON.stringify(policies).replace(/\{\{podIP:([^}]+)\}\}/g, (_, k: string) => ipOf.get(k)!))
}

function stateOf(step: Step) {
  const namespaces: Record<string, Record<string, string>> = {}
  for (const [n, v] of Object.entries(model.namespaces)) namespaces[n] = { ...v.labels, ...(step.namespaceLabelUpdates?.[n] ?? {}) }
  const pods: Record<string, PodSpec> = {}
  for (const p of model.pods) {
    const key = `${p.namespace}/${p.name}`
    pods[key] = { labels: { ...p.labels, ...(step.podLabelUpdates?.[key] ?? {}) }, ips: [ipOf.get(key)!],
      ports: p.ports.map((x) => ({ name: x.name, containerPort: x.port, protocol: x.protocol })) }
  }
  return clusterOf({ namespaces, pods, policies: substitute(step.policies) })
}

const steps: { name: string; step: Step }[] = []
for (const c of data.cases) {
  if (c.steps) c.steps.forEach((s: Step, i: number) => steps.push({ name: `${c.id} step ${i}`, step: s }))
  else steps.push({ name: c.id, step: { policies: c.policies, probes: c.probes } })
}

describe('shared/netpol cases', () => {
  test('there are cases', () => expect(steps.length).toBeGreaterThanOrEqual(10))
  test.each(steps)('$name', ({ step }) => {
    const state = stateOf(step)
    const { ir, invalid } = compile(state, allLocal(state))
    expect(invalid).toEqual([])
    for (const probe of step.probes) {
      for (const [src, row] of Object.entries(probe.expect)) {
        for (const [dst, want] of Object.entries(row)) {
          if (src === dst) continue // conventions.ignoreSelfPairs
          const [sn, sp] = src.split('/') as [string, string]
          const [dn, dp] = dst.split('/') as [string, string]
          const what = `${src} -> ${dst} ${probe.protocol}/${probe.port}`
          const d = decide(state, { from: { namespace: sn, name: sp }, to: { namespace: dn, name: dp }, port: probe.port, protocol: probe.protocol })
          expect(d.allowed, `decide ${what}: ${[...d.egress.reasons, ...d.ingress.reasons].join('; ')}`).toBe(want)
          const r = evalForward(ir, { saddr: ipOf.get(src)!, daddr: ipOf.get(dst)!, protocol: probe.protocol.toLowerCase() as 'tcp', dport: probe.port })
          expect(r.allowed, `IR ${what}: ${r.by.join('; ')}`).toBe(want)
        }
      }
    }
  })
})
