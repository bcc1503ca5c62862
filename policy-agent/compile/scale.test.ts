// Scale: compile + render of 5,000 pods in 500 namespaces with 2,000 policies, 100 of the pods
// local, and one label change's diff in proportion to it. How fast is bench:policy's to say (the
// machines are shared: a bound in ms here failed under a parallel CI run); the time is printed.
import { describe, expect, test } from 'vitest'
import { emptyClusterState, type ClusterState, type LocalPod } from '../model/cluster.js'
import { renderDiff, renderFull } from '../render/index.js'
import { compile } from './index.js'
import { policy } from '../../test/kit/policy-state.js'

export function syntheticCluster(opts = { pods: 5000, namespaces: 500, policies: 2000, local: 100 }): { state: ClusterState; local: LocalPod[] } {
  const state = emptyClusterState()
  for (let n = 0; n < opts.namespaces; n++) state.namespaces.set(`ns${n}`, { name: `ns${n}`, labels: { team: `t${n % 20}`, env: n % 2 ? 'prod' : 'dev' } })
  const local: LocalPod[] = []
  for (let i = 0; i < opts.pods; i++) {
    const ns = `ns${i % opts.namespaces}`, name = `pod${i}`
    const ips = [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, `fd00::${i.toString(16)}`]
    state.pods.set(`${ns}/${name}`, { namespace: ns, name, ips, labels: { app: `app${i % 50}`, tier: i % 3 ? 'be' : 'fe' },
      ports: [{ name: 'http', containerPort: 8000 + (i % 7), protocol: 'TCP' }] })
    if (i % Math.floor(opts.pods / opts.local) === 0 && local.length < opts.local) local.push({ namespace: ns, name, ips, hostVeth: `cinch${i}` })
  }
  for (let k = 0; k < opts.policies; k++) {
    const ns = `ns${k % opts.namespaces}`
    state.policies.set(`${ns}/pol${k}`, policy(ns, `pol${k}`, {
      podSelector: { matchLabels: { app: `app${k % 50}` } }, policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: `t${k % 20}` } }, podSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['fe'] }] } },
        { ipBlock: { cidr: '192.168.0.0/16', except: [`192.168.${k % 256}.0/24`] } }], ports: [{ port: 'http' }, { port: 443 }] }],
      egress: [{ to: [{ podSelector: {} }], ports: [{ port: 'http' }] }, { to: [{ namespaceSelector: { matchLabels: { env: 'prod' } } }], ports: [{ protocol: 'UDP', port: 53 }] }],
    }))
  }
  return { state, local }
}

describe('scale', () => {
  test('compile + render of 5,000 pods / 500 namespaces / 2,000 policies / 100 local pods', () => {
    const { state, local } = syntheticCluster()
    compile(state, local) // warm up the JIT, as a running agent is
    state.policies = new Map([...state.policies].map(([k, v]) => [k, structuredClone(v)])) // no normalisation cache
    const t0 = performance.now()
    const { ir } = compile(state, local)
    const text = renderFull(ir)
    const ms = performance.now() - t0
    expect(Object.keys(ir.chains).length).toBeGreaterThan(50)
    expect(text.length).toBeGreaterThan(10_000)
    console.log(`scale: ${ms.toFixed(0)} ms`)
  })
  test('one label change costs a diff in proportion to it', () => {
    const { state, local } = syntheticCluster()
    const prev = compile(state, local).ir
    const pod = state.pods.get('ns20/pod20')!
    state.pods.set('ns20/pod20', { ...pod, labels: { ...pod.labels, tier: 'fe' } })
    const t0 = performance.now()
    const diff = renderDiff(prev, compile(state, local).ir)
    const ms = performance.now() - t0
    expect(diff.split('\n').length).toBeLessThan(40)
    expect(diff).toContain(pod.ips[0])
    console.log(`scale: ${ms.toFixed(0)} ms`)
  })
})
