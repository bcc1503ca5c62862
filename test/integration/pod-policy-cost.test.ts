// What the policies selecting one pod add up to is bounded (--max-pod-policy-cost): one tenant's
// thousands of small policies, each far under the per-policy bound, once made a 20,005-rule chain
// on one pod, ~1.2 s for each change of theirs and x7 kernel time for every other tenant's. Past
// the bound the pod's chain of that direction fails closed in the kernel (what the policies allowed
// is dropped, its established flows are ended), the agent says why (log, status, metrics), and
// the pod opens again once the policies are fewer. Here with the bound at 30: 10 policies of cost 3.
import test from 'ava'
import { addPod, agentStatus, applyManifests, Cleanup, fetchAgent, inNs, makeNodeCluster, type ModelPod, serve, startAgent, waitListening, writeManifests } from './netpol-helpers.js'
import { spawnInNetns } from '../kit/proc.js'
import { waitFor } from '../kit/wait.js'
import { reachable } from '../kit/probe.js'

const policy = (namespace: string, name: string, spec: object) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace, name }, spec })
const PODS: ModelPod[] = [
  { namespace: 'x', name: 'a', labels: { app: 'a' }, ports: [] },
  { namespace: 'y', name: 'b', labels: { app: 'b' }, ports: [] },
]
const base = { namespaces: { x: {}, y: {} }, pods: PODS }
// Each allows y/b into x/a on one port: 1 port element + 2 rules (one per family) = 3.
const allow = (i: number, port: number) => policy('x', `allow-${i}`, {
  podSelector: { matchLabels: { app: 'a' } },
  ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'b' } } }], ports: [{ protocol: i === 0 ? 'UDP' : 'TCP', port }] }],
})
const allows = (n: number) => [allow(0, 81), allow(1, 80), ...Array.from({ length: n - 2 }, (_, i) => allow(i + 2, 2000 + i))]

// One datagram from y/b to x/a:81 from each of `count` source ports: conntrack entries in the host netns.
const SENDER = `
const dgram = require('dgram')
const [target, from, count] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])]
let done = 0
for (let i = 0; i < count; i++) {
  const s = dgram.createSocket('udp4')
  s.bind(from + i, () => s.send('x', 81, target, () => { s.close(); if (++done === count) process.stdout.write('sent\\n') }))
}
`

test('past --max-pod-policy-cost a pod fails closed in the kernel, its flows end, the agent says why; it opens again under it', async (t) => {
  const cleanup = new Cleanup()
  t.teardown(() => cleanup.run())
  const c = makeNodeCluster(cleanup, 'podcost')
  for (const p of PODS) await addPod(c, p.namespace, p.name)
  for (const p of c.pods.values()) serve(c, p)
  await waitListening(c)
  const a = c.pods.get('x/a')!, b = c.pods.get('y/b')!
  writeManifests(c, { ...base, policies: allows(10) })
  const agent = await startAgent(c, ['--max-pod-policy-cost', '30'])
  // At the bound: the policies apply (b reaches a on 80, not on 82).
  t.deepEqual(await reachable(b.netns, { proto: 'tcp', port: 80, ips: [a.v4, a.v6] }), [true, true])
  t.deepEqual(await reachable(b.netns, { proto: 'tcp', port: 82, ips: [a.v4], timeoutMs: 300 }), [false])
  t.deepEqual((await agentStatus(c)).failedClosed, [])

  // Established UDP flows b -> a:81 (allowed by allow-0) that the closure must end.
  const flowCount = async () => (await inNs(c.host, 'conntrack', ['-L', '-p', 'udp', '-s', b.v4, '-d', a.v4, '--dport', '81'])).split('\n').filter((l) => l.startsWith('udp')).length
  const sender = spawnInNetns(cleanup, b.netns, process.execPath, ['-e', SENDER, a.v4, '30000', '20'])
  await waitFor('the sender to send', () => sender.log().includes('sent'), { timeoutMs: 20_000 })
  await waitFor('20 flows in the host\'s table', async () => (await flowCount()) >= 20, { timeoutMs: 10_000 })

  // One policy more: 33 > 30. x/a's ingress is its drop alone; x/a's egress and y/b are untouched.
  const logFrom = agent.log().length
  const closedStatus = await applyManifests(c, { ...base, policies: allows(11) })
  t.deepEqual(closedStatus.failedClosed.map((f) => `${f.pod} ${f.direction}`), ['x/a ingress'])
  t.is(closedStatus.failedClosed[0]!.reason, 'the NetworkPolicies selecting it for ingress add up to about 33 nftables set elements and rules, over the limit of 30 for one pod (agent flag --max-pod-policy-cost): the pod is isolated for ingress with no rule allowing any, until they are fewer or smaller')
  t.deepEqual(closedStatus.invalidPolicies, [], 'no policy is invalid: the pod is what is over')
  t.deepEqual(await reachable(b.netns, { proto: 'tcp', port: 80, ips: [a.v4, a.v6], timeoutMs: 300 }), [false, false], 'what the policies allowed is dropped')
  t.deepEqual(await reachable(a.netns, { proto: 'tcp', port: 80, ips: [b.v4, b.v6] }), [true, true], 'x/a\'s egress and y/b\'s ingress are open')
  await waitFor('the closed pod\'s established flows to be ended', async () => (await flowCount()) === 0, { timeoutMs: 10_000 })
  const nft = await inNs(c.host, 'nft', ['list', 'chain', 'inet', 'cinch', 'pod-ingress-x-a'])
  t.regex(nft, /counter name "drop-ingress-x-a" drop/)
  t.notRegex(nft, /accept/, 'no rule allows anything')
  await waitFor('the warning in the log', () => agent.log().slice(logFrom).includes('"msg":"pod fails closed: its policies cost too much"'), { timeoutMs: 5_000 })
  const warning = JSON.parse(agent.log().slice(logFrom).split('\n').find((l) => l.includes('pod fails closed'))!)
  t.like(warning, { level: 40, pod: 'x/a', direction: 'ingress' })
  t.regex(await fetchAgent(c, '/metrics'), /^cinch_pods_failed_closed\{pod="x\/a",direction="ingress"\} 1$/m)

  // One policy more while closed: the status has the new sum; the log warned once, not per change.
  const more = await applyManifests(c, { ...base, policies: allows(12) })
  t.regex(more.failedClosed[0]!.reason, /add up to about 36 /)
  t.is(agent.log().slice(logFrom).split('\n').filter((l) => l.includes('pod fails closed')).length, 1)

  // Under the bound again: the chain is the policies' once more.
  const open = await applyManifests(c, { ...base, policies: allows(10) })
  t.deepEqual(open.failedClosed, [])
  t.deepEqual(await reachable(b.netns, { proto: 'tcp', port: 80, ips: [a.v4, a.v6] }), [true, true])
  await waitFor('the all-clear in the log', () => agent.log().slice(logFrom).includes('"msg":"pod no longer fails closed"'), { timeoutMs: 5_000 })
  t.notRegex(await fetchAgent(c, '/metrics'), /^cinch_pods_failed_closed\{/m)
})

// What the policies selecting all of the node's pods add up to is bounded too
// (--max-node-policy-cost): a tenant's many pods each under the pod bound would otherwise add up.
// Over it the costliest namespace's pods close first, even when another pod's policy tipped the node over.
test('past --max-node-policy-cost the costliest namespace\'s pod fails closed in the kernel, another pod\'s change opens it again', async (t) => {
  const cleanup = new Cleanup()
  t.teardown(() => cleanup.run())
  const c = makeNodeCluster(cleanup, 'nodecost')
  for (const p of PODS) await addPod(c, p.namespace, p.name)
  for (const p of c.pods.values()) serve(c, p)
  await waitListening(c)
  const a = c.pods.get('x/a')!, b = c.pods.get('y/b')!
  // y/b takes x/a on 80: 1 port element + 2 rules = 3, against x/a's 30.
  const fromA = policy('y', 'from-a', {
    podSelector: { matchLabels: { app: 'b' } },
    ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'a' } } }], ports: [{ protocol: 'TCP', port: 80 }] }],
  })
  writeManifests(c, { ...base, policies: allows(10) })
  const agent = await startAgent(c, ['--max-node-policy-cost', '32'])
  t.deepEqual(await reachable(b.netns, { proto: 'tcp', port: 80, ips: [a.v4, a.v6] }), [true, true])
  const fits = await agentStatus(c)
  t.deepEqual(fits.failedClosed, [])
  // what operators tune the bound by: the node's figure beside it
  t.deepEqual(fits.nodePolicyCost, { used: 30, max: 32 })
  t.regex(await fetchAgent(c, '/metrics'), /^cinch_node_policy_cost 30$[\s\S]*^cinch_node_policy_cost_max 32$/m)

  // y's policy puts the node at 33: x/a, of the costliest namespace, is closed; y/b's policy applies.
  const logFrom = agent.log().length
  const closed = await applyManifests(c, { ...base, policies: [...allows(10), fromA] })
  t.deepEqual(closed.failedClosed.map((f) => `${f.pod} ${f.direction}`), ['x/a ingress'])
  t.deepEqual(closed.nodePolicyCost, { used: 3, max: 32 }, 'the closed chain costs the node nothing')
  t.regex(closed.failedClosed[0]!.reason, /^the NetworkPolicies selecting it for ingress add up to about 30 .*more than the limit of 32 for a node \(agent flag --max-node-policy-cost\)/)
  t.deepEqual(await reachable(b.netns, { proto: 'tcp', port: 80, ips: [a.v4, a.v6], timeoutMs: 300 }), [false, false], 'x/a\'s ingress is its drop alone')
  t.deepEqual(await reachable(a.netns, { proto: 'tcp', port: 80, ips: [b.v4, b.v6] }), [true, true], 'y/b\'s policy allows x/a')
  t.deepEqual(await reachable(a.netns, { proto: 'tcp', port: 81, ips: [b.v4], timeoutMs: 300 }), [false], 'and only on 80')
  t.notRegex(await inNs(c.host, 'nft', ['list', 'chain', 'inet', 'cinch', 'pod-ingress-x-a']), /accept/)
  await waitFor('the warning in the log', () => agent.log().slice(logFrom).includes('"msg":"pod fails closed: its policies cost too much"'), { timeoutMs: 5_000 })
  t.regex(await fetchAgent(c, '/metrics'), /^cinch_pods_failed_closed\{pod="x\/a",direction="ingress"\} 1$/m)

  // y's policy gone: x/a opens, though none of its own changed.
  const open = await applyManifests(c, { ...base, policies: allows(10) })
  t.deepEqual(open.failedClosed, [])
  t.deepEqual(await reachable(b.netns, { proto: 'tcp', port: 80, ips: [a.v4, a.v6] }), [true, true])
  t.notRegex(await fetchAgent(c, '/metrics'), /^cinch_pods_failed_closed\{/m)
})
