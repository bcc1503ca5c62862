// `cinch explain` judges by what the kernel enforces: a ClusterNetworkPolicy or NetworkPolicy the
// agent's compiler skips (over --max-policy-cost, or invalid) is not in the ruleset, so it must
// not be named as the decider. Driven through the CLI's real entry point (cli/main.ts) on a
// manifest directory, as an operator runs it.
import test from 'ava'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const repoRoot = join(import.meta.dirname, '../..')
const pExecFile = promisify(execFile)

const fromY = [{ namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }]
// Eleven ports: cost.ts puts this Admin Deny at 11 elements + 2 rules = 13.
const ports = [80, ...Array.from({ length: 10 }, (_, i) => 9000 + i)].map((port) => ({ tcp: { destinationPort: { number: port } } }))

function manifests(items: object[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'cinch-explain-'))
  writeFileSync(join(dir, 'cluster.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x', labels: { 'kubernetes.io/metadata.name': 'x' } } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'y', labels: { 'kubernetes.io/metadata.name': 'y' } } },
    { apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'x', name: 'a' }, spec: { nodeName: 'n1', containers: [{ name: 'c' }] }, status: { podIPs: [{ ip: '10.9.0.2' }] } },
    { apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'y', name: 'b' }, spec: { nodeName: 'n1', containers: [{ name: 'c' }] }, status: { podIPs: [{ ip: '10.9.0.3' }] } },
    ...items,
  ] }))
  return dir
}

async function explain(dir: string, ...extra: string[]): Promise<string> {
  const r = await pExecFile(process.execPath, ['--import', 'tsx/esm', join(repoRoot, 'cli/main.ts'), 'explain', '--manifests', dir, '--from', 'y/b', '--to', 'x/a', '--port', '80/TCP', ...extra], { cwd: repoRoot, encoding: 'utf8' })
  return r.stdout
}

test('an Admin Deny over the cost bound is not enforced, so explain does not name it', async (t) => {
  const dir = manifests([{
    apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name: 'deny-y' },
    spec: { tier: 'Admin', priority: 1, subject: { namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'x' } } }, ingress: [{ name: 'no-y', action: 'Deny', from: fromY, protocols: ports }] },
  }])
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // Under the bound it is in the kernel and decides: the case the over-bound one differs from.
  const within = await explain(dir, '--max-policy-cost', '100')
  t.regex(within, /: DENIED\n/)
  t.true(within.includes('Admin ClusterNetworkPolicy deny-y ingress[0] no-y: Deny'), within)
  const over = await explain(dir, '--max-policy-cost', '10')
  t.regex(over, /: ALLOWED\n/)
  t.false(over.includes('deny-y ingress[0]'), over)
  t.regex(over, /note: ClusterNetworkPolicy deny-y is not applied: too large: about 13 .*--max-policy-cost/)
})

test('a NetworkPolicy over the cost bound isolates nothing, so explain does not name it', async (t) => {
  const dir = manifests([{
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'only-docs' },
    spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ ipBlock: { cidr: '192.0.2.0/24' } }], ports: ports.map((p) => ({ protocol: 'TCP', port: p.tcp.destinationPort.number })) }] },
  }])
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const within = await explain(dir, '--max-policy-cost', '100')
  t.regex(within, /: DENIED\n/)
  t.true(within.includes('ingress to x/a: denied (NetworkPolicy)'), within)
  const over = await explain(dir, '--max-policy-cost', '10')
  t.regex(over, /: ALLOWED\n/)
  t.true(over.includes('ingress to x/a: allowed'), over)
  t.regex(over, /note: NetworkPolicy x\/only-docs is not applied: too large/)
})

test('explain refuses a malformed --max-policy-cost', async (t) => {
  const dir = manifests([])
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const err = await t.throwsAsync(explain(dir, '--max-policy-cost', '0x10')) as Error & { stderr: string }
  t.regex(err.stderr, /--max-policy-cost must be a positive integer/)
})

test('a pod whose policies add up to more than --max-pod-policy-cost fails closed, and explain says so', async (t) => {
  // From y on 80 and on ten more ports: 11 elements + 2 rules = 13 for x/a's ingress.
  const dir = manifests([{
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'from-y' },
    spec: { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }], ports: ports.map((p) => ({ protocol: 'TCP', port: p.tcp.destinationPort.number })) }] },
  }])
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const within = await explain(dir, '--max-pod-policy-cost', '13')
  t.regex(within, /: ALLOWED\n/)
  t.false(within.includes('fails closed'), within)
  const over = await explain(dir, '--max-pod-policy-cost', '12')
  t.regex(over, /: DENIED\n/)
  t.true(over.includes('ingress to x/a: denied (NetworkPolicy)'), over)
  t.regex(over, /note: pod x\/a fails closed for ingress: the NetworkPolicies selecting it for ingress add up to about 13 .*--max-pod-policy-cost/)
  // the sender's egress is not what is over
  t.true(over.includes('egress from y/b: allowed'), over)
})


test('past --max-node-policy-cost the pod of the node\'s costliest namespace fails closed, and explain says so; other nodes\' pods do not count', async (t) => {
  // x/a's ingress costs 13 (as above), y/b's 3: 16 on node n1. x/c, on n2, costs 13 there only.
  const dir = manifests([
    {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'from-y' },
      spec: { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }], ports: ports.map((p) => ({ protocol: 'TCP', port: p.tcp.destinationPort.number })) }] },
    },
    {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'y', name: 'from-x' },
      spec: { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'x' } } }], ports: [{ protocol: 'TCP', port: 80 }] }] },
    },
    { apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'x', name: 'c' }, spec: { nodeName: 'n2', containers: [{ name: 'c' }] }, status: { podIPs: [{ ip: '10.9.1.2' }] } },
  ])
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const within = await explain(dir, '--max-node-policy-cost', '16')
  t.regex(within, /: ALLOWED\n/)
  t.false(within.includes('fails closed'), within)
  const over = await explain(dir, '--max-node-policy-cost', '15')
  t.regex(over, /: DENIED\n/)
  t.regex(over, /note: pod x\/a fails closed for ingress: the NetworkPolicies selecting it for ingress add up to about 13 .*--max-node-policy-cost/)
  // the cheaper pod of the node keeps its policies
  t.false(over.includes('pod y/b fails closed'), over)
})
