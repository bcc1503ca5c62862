// One tenant's many small NetworkPolicies on one local pod (bench/README.md phase 13, "Found, not
// fixed"): the cost bound (--max-policy-cost) bounds each policy, not what the policies selecting
// one pod add up to. At 30k pods / 30k policies (policy-cluster.mjs) plus N policies in the
// namespace of a pod of this node, each `podSelector: {}` with one pod peer and one port (two rules
// in the pod's ingress chain, far under the bound), it times one change of that tenant's policies
// and one of another tenant's: compile, then the agent's Applier (plan, encoding and the kernel's
// commit, of which the kernel's part apart; the whole ruleset committed first, in a network
// namespace of its own: the Applier reads its big chain's rule handles then, and changes it rule
// by rule after; one untimed change first). N = 0 runs first as the baseline. Each
// policy costs 3 (cost.ts): up to 6,666 stay under --max-pod-policy-cost's default of 20,000 (the
// most a tenant can make that pod's chain; each sample adds one, so 6,650 with 10 samples), and
// past it the pod's ingress fails closed. `--tenant-namespaces K`: the same N policies in each of K
// namespaces with a pod of this node (K pods at the pod bound: what --max-node-policy-cost bounds;
// its default lets five through and closes the costliest past them).
//   node --import tsx/esm bench/tenant-pod.mjs [--counts 0,2000,6650,10000] [--samples 10] [--max-pod-policy-cost N]
//     [--tenant-namespaces K] [--max-node-policy-cost N]
import { parseArgs } from 'node:util'
import { ClusterStore } from '../policy-agent/sources/store.ts'
import { FlowCompiler } from '../policy-agent/flows/compiler.ts'
import { FLOW_LOG_DEFAULTS } from '../policy-agent/flows/options.ts'
import { Applier } from '../policy-agent/apply/applier.ts'
import { syntheticCluster } from './policy-cluster.mjs'
import { inOwnNetns, median } from './lib.mjs'

const { values: args } = parseArgs({ options: { counts: { type: 'string', default: '0,2000,6650,10000' }, samples: { type: 'string', default: '10' }, 'max-pod-policy-cost': { type: 'string' }, 'tenant-namespaces': { type: 'string', default: '1' }, 'max-node-policy-cost': { type: 'string' } } })
const maxPodPolicyCost = args['max-pod-policy-cost'] ? Number(args['max-pod-policy-cost']) : undefined
const maxNodePolicyCost = args['max-node-policy-cost'] ? Number(args['max-node-policy-cost']) : undefined
inOwnNetns('cinch-tenant-pod')
const counts = args.counts.split(',').map(Number)
const samples = Number(args.samples)
const { state, locals } = syntheticCluster({ namespaces: 7500, podsPerNs: 4, local: 110 })
const tenantNs = locals[0].namespace, otherNs = locals[60].namespace
const tenantNamespaces = [...new Set(locals.slice(0, 60).map((l) => l.namespace))].slice(0, Number(args['tenant-namespaces']))
const policy = (ns, name, port) => ({
  apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: ns, name },
  spec: { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { app: `app-${port % 4}` } } }], ports: [{ port }] }] },
})
const podObj = (p) => ({ metadata: { namespace: p.namespace, name: p.name, labels: p.labels }, spec: { nodeName: p.nodeName, containers: [{ name: 'c', ports: p.ports }] }, status: { podIPs: p.ips.map((ip) => ({ ip })) } })
const nsObj = (n) => ({ metadata: { name: n.name, labels: n.labels } })

const goal = (ms, g) => `${ms.toFixed(1)} ms${g ? ` (goal <= ${g}: ${ms <= g ? 'ok' : 'MISSED'})` : ''}`
let baselineOther
for (const n of counts) {
  const store = new ClusterStore()
  const policies = [...state.policies.values(), ...tenantNamespaces.flatMap((ns) => Array.from({ length: n }, (_, i) => policy(ns, `tenant-${i}`, 1000 + i)))]
  for (const [kind, items, f] of [['Namespace', state.namespaces, nsObj], ['Pod', state.pods, podObj], ['NetworkPolicy', policies, (x) => x]]) {
    const r = store.replace(kind)
    for (const o of items.values()) r.add(f(o))
    r.done()
  }
  const compiler = new FlowCompiler({ maxPodPolicyCost, maxNodePolicyCost, flowLogs: FLOW_LOG_DEFAULTS })
  const { ir } = compiler.compile(store.state(), locals)
  const applier = new Applier()
  await applier.apply(ir)
  const podChains = Object.values(ir.chains).filter((c) => c.pod === `${tenantNs}/${locals[0].name}`)
  const podRules = podChains.reduce((s, c) => s + c.rules.length, 0)
  const closed = podChains.some((c) => c.failedClosed)
  const tenantChains = Object.values(ir.chains).filter((c) => tenantNamespaces.includes(c.pod?.split('/')[0]))
  const nodeClosed = tenantChains.filter((c) => c.failedClosed?.includes('--max-node-policy-cost')).length
  const tableRules = Object.values(ir.chains).reduce((s, c) => s + c.rules.length, 0)
  const time = async (ns, name, k) => {
    store.upsert('NetworkPolicy', policy(ns, name, 30000 + k))
    let t = performance.now()
    const next = compiler.compile(store.state(), locals).ir
    const compile = performance.now() - t
    t = performance.now()
    const r = await applier.apply(next)
    return { compile, apply: performance.now() - t, kernel: r.kernelMs ?? 0, lines: r.lines }
  }
  await time(tenantNs, 'tenant-first', 0) // untimed: the first diff's cold encoders
  const own = [], other = []
  for (let k = 0; k < samples; k++) {
    own.push(await time(tenantNs, `tenant-changed-${k}`, k))
    other.push(await time(otherNs, `other-${k}`, k))
  }
  const med = (xs, f) => median(xs.map((x) => x[f]))
  const total = (xs) => median(xs.map((x) => x.compile + x.apply))
  baselineOther ??= med(other, 'kernel')
  console.log(`${n} tenant policies${tenantNamespaces.length > 1 ? ` in each of ${tenantNamespaces.length} namespaces with a local pod` : ''} (the pod's chains: ${podRules} rules${closed ? '; its ingress fails closed' : ''}; ${nodeClosed} of the tenant's chains closed by --max-node-policy-cost; ${tableRules} pod chain rules in the table)`)
  console.log(`  a change of the tenant's:  compile ${med(own, 'compile').toFixed(2)}, apply ${med(own, 'apply').toFixed(2)} (kernel ${med(own, 'kernel').toFixed(2)}) ms, ${med(own, 'lines')} commands; in all ${goal(total(own), 50)} (issue 14's p99)`)
  console.log(`  another tenant's change:   compile ${med(other, 'compile').toFixed(2)}, apply ${med(other, 'apply').toFixed(2)} ms, ${med(other, 'lines')} commands, kernel ${med(other, 'kernel').toFixed(2)} ms, x${(med(other, 'kernel') / baselineOther).toFixed(2)} of ${counts[0]} tenant policies (goal x1.1: ${med(other, 'kernel') / baselineOther <= 1.1 ? 'ok' : 'MISSED'}); in all ${goal(total(other), 5)}`)
}
