// Hostile attachment records (issue 8.6): files in the state directory are input. A record with a
// number for an address, a pod name that is nft syntax, or a host veth name that would end a quoted
// string must be skipped and reported, while every other pod stays under its policy -- at start
// (an agent that crash-looped on them enforced nothing) and when they appear later.
import test from 'ava'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { addPod, agentStatus, applyManifests, Cleanup, makeNodeCluster, type ModelPod, type NodeCluster, serve, startAgent, waitListening, writeManifests } from './netpol-helpers.js'
import { waitFor } from '../kit/wait.js'
import { reachable } from '../kit/probe.js'

const policy = (namespace: string, name: string, spec: object) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace, name }, spec })
const PODS: ModelPod[] = [
  { namespace: 'x', name: 'a', labels: { app: 'a' }, ports: [] },
  { namespace: 'x', name: 'b', labels: { app: 'b' }, ports: [] },
]
const base = { namespaces: { x: {} }, pods: PODS }
const denyA = policy('x', 'deny-a', { podSelector: { matchLabels: { app: 'a' } }, policyTypes: ['Ingress'] })

const record = (id: string, change: object) => ({
  containerId: id, ifName: 'eth0', netns: `/var/run/netns/${id}`, podNamespace: 'x', podName: id,
  ips: ['10.244.1.200/24'], hostVeth: 'cinch00000000aa', bridge: 'cinch0', network: 'npnet', createdAt: new Date().toISOString(), ...change,
})
const HOSTILE: [string, object][] = [
  ['numbers', { ips: [5] }],
  ['evil', { podName: 'evil { }' }],
  ['quote', { hostVeth: 'cinch" }; flush ruleset; "' }],
]
function writeHostile(c: NodeCluster): void {
  for (const [id, change] of HOSTILE) writeFileSync(join(c.stateDir, 'attachments', `${id}_eth0.json`), JSON.stringify(record(id, change)))
}

test('malformed records are skipped and reported; every other pod stays under its policy', async (t) => {
  const cleanup = new Cleanup()
  t.teardown(() => cleanup.run())
  const c = makeNodeCluster(cleanup, 'rec')
  for (const p of PODS) await addPod(c, p.namespace, p.name)
  for (const p of c.pods.values()) serve(c, p)
  await waitListening(c)
  const a = c.pods.get('x/a')!, b = c.pods.get('x/b')!
  // Present before the agent starts: the first sync must not fail on them.
  writeHostile(c)
  writeManifests(c, { ...base, policies: [denyA] })
  const agent = await startAgent(c)
  t.deepEqual(await reachable(b.netns, { proto: 'tcp', port: 80, ips: [a.v4, a.v6] }), [false, false], 'x/a is isolated from the start')
  t.deepEqual(await reachable(a.netns, { proto: 'tcp', port: 80, ips: [b.v4] }), [true], 'x/b is not')
  for (const [id] of HOSTILE) t.regex(agent.log(), new RegExp(`"file":"[^"]*/${id}_eth0.json"[^}]*unreadable attachment record skipped|${id}_eth0.json[^\\n]*skipped`), `${id} reported`)
  t.regex(agent.log(), /ips\[0\]: expected an address with prefix length/)

  // A policy change still lands with them in place, and with one more appearing meanwhile.
  writeFileSync(join(c.stateDir, 'attachments', 'late_eth0.json'), JSON.stringify(record('late', { ips: [{}] })))
  await applyManifests(c, { ...base, policies: [policy('x', 'deny-b', { podSelector: { matchLabels: { app: 'b' } }, policyTypes: ['Ingress'] })] })
  await waitFor('x/a reachable once deny-a is gone', async () => {
    const r = await reachable(b.netns, { proto: 'tcp', port: 80, ips: [a.v4] })
    return r[0] === true
  }, { timeoutMs: 10_000 })
  t.deepEqual(await reachable(a.netns, { proto: 'tcp', port: 80, ips: [b.v4, b.v6] }), [false, false], 'x/b isolated by the new policy')
  t.regex(agent.log(), /late_eth0.json/)
  // cinch status lists each skipped record with the field at fault.
  const problems = ((await agentStatus(c)) as unknown as { sourceProblems: { where: string; reason: string }[] }).sourceProblems
  t.deepEqual(problems.map((p) => `${p.where.split('/').pop()}: ${p.reason.split(':')[0]}`).sort(),
    ['evil_eth0.json: podName', 'late_eth0.json: ips[0]', 'numbers_eth0.json: ips[0]', 'quote_eth0.json: hostVeth'])
  t.is(agent.child.exitCode, null, 'the agent still runs')
})
