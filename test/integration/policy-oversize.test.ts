// Oversized policies (issue 8.3): one tenant's 1 MB policy (30,000 ports x 50 peers) once made 3M
// set elements, 2.9 GB in nft and 18 s per sync for the whole node. Now it is reported invalid,
// naming the bound, and skipped whole, while another pod's policy change written with it is in the
// kernel within 5 s; a 3,000-ipBlock policy under the bound applies.
import test from 'ava'
import { addPod, agentStatus, Cleanup, makeNodeCluster, type ModelPod, serve, startAgent, waitListening, writeManifests } from './netpol-helpers.js'
import { waitFor } from '../kit/wait.js'
import { reachable } from '../kit/probe.js'

const policy = (namespace: string, name: string, spec: object) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace, name }, spec })
const PODS: ModelPod[] = [
  { namespace: 'x', name: 'a', labels: { app: 'a' }, ports: [] },
  { namespace: 'y', name: 'b', labels: { app: 'b' }, ports: [] },
]
const base = { namespaces: { x: {}, y: {} }, pods: PODS }
const oversized = policy('x', 'oversized', {
  podSelector: { matchLabels: { app: 'a' } },
  ingress: [{
    from: Array.from({ length: 50 }, (_, i) => ({ podSelector: { matchLabels: { app: `peer${i}` } } })),
    ports: Array.from({ length: 30_000 }, (_, i) => ({ protocol: 'TCP', port: 2 * i + 1 })),
  }],
})
const manyBlocks = policy('x', 'blocks', {
  podSelector: { matchLabels: { app: 'a' } },
  ingress: [{ from: Array.from({ length: 3000 }, (_, i) => ({ ipBlock: { cidr: `10.${100 + (i >> 8)}.${i & 255}.0/24`, except: [`10.${100 + (i >> 8)}.${i & 255}.128/25`] } })) }],
})
const denyB = policy('y', 'deny-b', { podSelector: {}, policyTypes: ['Ingress'] })

test('an oversized policy is reported and skipped while another pod\'s change lands within 5 s', async (t) => {
  const cleanup = new Cleanup()
  t.teardown(() => cleanup.run())
  const c = makeNodeCluster(cleanup, 'big')
  for (const p of PODS) await addPod(c, p.namespace, p.name)
  for (const p of c.pods.values()) serve(c, p)
  await waitListening(c)
  const a = c.pods.get('x/a')!, b = c.pods.get('y/b')!
  writeManifests(c, { ...base, policies: [] })
  await startAgent(c)
  t.deepEqual(await reachable(a.netns, { proto: 'tcp', port: 80, ips: [b.v4] }), [true])

  const t0 = Date.now()
  writeManifests(c, { ...base, policies: [oversized, denyB] })
  await waitFor('y/b isolated by deny-b', async () => (await reachable(a.netns, { proto: 'tcp', port: 80, ips: [b.v4], timeoutMs: 300 }))[0] === false, { timeoutMs: 5_000 })
  t.log(`deny-b in force ${Date.now() - t0} ms after the write`)
  const status = await agentStatus(c)
  t.deepEqual(status.invalidPolicies.map((i) => i.policy), ['x/oversized'])
  t.regex(status.invalidPolicies[0]!.reason, /^too large: about 30100 nftables set elements and rules, over the limit of 20000 \(agent flag --max-policy-cost\)$/)
  // Skipped whole: x/a is not isolated by it.
  t.deepEqual(await reachable(b.netns, { proto: 'tcp', port: 80, ips: [a.v4] }), [true], 'x/a not isolated by the skipped policy')

  // 3,000 ipBlocks with excepts are under the bound: they apply (one interval set), and quickly.
  const t1 = Date.now()
  writeManifests(c, { ...base, policies: [oversized, denyB, manyBlocks] })
  await waitFor('x/a isolated by the ipBlock policy', async () => (await reachable(b.netns, { proto: 'tcp', port: 80, ips: [a.v4], timeoutMs: 300 }))[0] === false, { timeoutMs: 5_000 })
  t.log(`3,000-ipBlock policy in force ${Date.now() - t1} ms after the write`)
  t.deepEqual((await agentStatus(c)).invalidPolicies.map((i) => i.policy), ['x/oversized'])
})
