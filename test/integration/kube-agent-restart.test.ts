// End to end: the built agent against the fake API server (test/kit/fake-apiserver.ts), in a
// one-node cluster in network namespaces, with a from-restricted NetworkPolicy. While a denied pair
// and an allowed pair are probed without pause, the agent goes through relists of every kind
// (410 Gone after compaction), dead and ended watches, 500 and 429 on its lists, and a crash and a
// graceful restart, each of which lists everything again. A listed policy once lost its `from`
// (issue 8.0): its rule became an unconditional accept and denied pairs connected on every restart.
import test from 'ava'
import { addPod, Cleanup, inNs, killChild, makeNodeCluster, serve, startAgent, waitListening, serveFakeApi, localPodObject, NODE_OBJECT } from './netpol-helpers.js'
import { waitFor } from '../kit/wait.js'
import { loopProbe } from './netpol-fixture.js'
import type { Obj } from '../kit/fake-apiserver.js'

const cleanup = new Cleanup()
test.after.always(() => cleanup.run())

test('restarts and relists of every kind never open a from-restricted rule (every denied pair probed throughout)', async (t) => {
  const c = makeNodeCluster(cleanup, 'k')
  // The agent's netns has its own loopback: socat there carries 127.0.0.1:6443 to the fake's socket.
  const { api, kubeconfigs: [kubeconfig] } = await serveFakeApi(c)

  const pods = await Promise.all([['x', 'a'], ['y', 'a'], ['y', 'b']].map(([ns, name]) => addPod(c, ns!, name!)))
  for (const p of pods) serve(c, p)
  await waitListening(c)
  const [xa, ya, yb] = pods as [typeof pods[0], typeof pods[0], typeof pods[0]]
  api.create({ kind: 'Namespace', metadata: { name: 'x', labels: { team: 'x' } } })
  api.create({ kind: 'Namespace', metadata: { name: 'y', labels: { team: 'y' } } })
  for (const p of pods) api.create(localPodObject(p, { managedFields: [{ manager: 'kubelet' }] }))
  api.create(NODE_OBJECT)
  const policy: Obj = {
    kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'from-y-a' },
    spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'y' } }, podSelector: { matchLabels: { pod: 'a' } } }], ports: [{ port: 'http' }] }] },
  }
  api.create(policy)

  let agent = await startAgent(c, [], { kubeconfig })
  const rules = await inNs(c.host, 'nft', ['list', 'chain', 'inet', 'cinch', 'pod-ingress-x-a'])
  t.regex(rules, /ip saddr @\S+ tcp dport 80 /, 'the listed policy compiled to a peer-restricted rule')

  const denied = loopProbe(yb.netns, { target: xa.v4, port: 80, durationMs: 40_000, intervalMs: 30 })
  const allowed = loopProbe(ya.netns, { target: xa.v4, port: 80, durationMs: 40_000, intervalMs: 100 })
  const lists = (plural: string) => api.counts.get(plural)!.lists
  const relisted = async (what: string, before: Record<string, number>) =>
    waitFor(what, () => Object.entries(before).every(([p, n]) => lists(p) > n), { timeoutMs: 20_000 })
  const snapshot = () => Object.fromEntries(['pods', 'namespaces', 'networkpolicies', 'nodes'].map((p) => [p, lists(p)]))

  // 1. Watches end, history is compacted: every kind resumes too late, gets 410 and relists.
  let before = snapshot()
  api.endWatches()
  api.create({ kind: 'Namespace', metadata: { name: 'z' } })
  api.compact()
  await relisted('relists after 410', before)
  // 2. Watch connections die and the relists fail with 500 first, then 429 with Retry-After.
  before = snapshot()
  api.fail({ verb: 'list', code: 500, times: 4 })
  api.fail({ resource: 'networkpolicies', verb: 'list', code: 429, retryAfterSeconds: 1 })
  api.resetWatches()
  api.create({ kind: 'Namespace', metadata: { name: 'w' } })
  api.compact()
  await relisted('relists after 500 and 429', before)
  // 3. A crash: the new agent lists everything from scratch.
  agent.child.kill('SIGKILL')
  await new Promise((r) => agent.child.once('exit', r))
  agent = await startAgent(c, [], { kubeconfig })
  // 4. A graceful restart, with the policy updated meanwhile (still from y/a only).
  await killChild(agent.child, 'SIGTERM')
  api.update({ ...policy, metadata: { ...policy.metadata, labels: { rev: '2' } } })
  agent = await startAgent(c, [], { kubeconfig })

  const [d, a] = await Promise.all([denied, allowed])
  t.log({ denied: d, allowed: a })
  t.is(d.ok, 0, `the denied pair y/b -> x/a connected (first after ${d.firstOkMs} ms)`)
  t.true(d.attempts > 50, 'the denied pair was probed throughout')
  t.true(a.ok > a.attempts / 2, 'the allowed pair y/a -> x/a kept connecting')
  t.regex(await inNs(c.host, 'nft', ['list', 'chain', 'inet', 'cinch', 'pod-ingress-x-a']), /ip saddr @\S+ tcp dport 80 /, 'still peer-restricted')
  t.notRegex(agent.log(), /"level":50/, 'no error logged')
})
