// End to end: the built agent's cold start against the fake API server with a pod list of three
// pages (500 each, the agent's page size) compiles ahead of the last page (agent.ts compileAhead,
// through run.ts's EarlySource), and the pods of that last page, this node's among them, are in
// the rules of its first sync: a from-restricted policy lets in its peer from the last page and
// keeps out its neighbour.
import test from 'ava'
import { addPod, Cleanup, inNs, makeNodeCluster, serve, startAgent, waitListening, serveFakeApi, localPodObject, NODE_OBJECT } from './netpol-helpers.js'
import { loopProbe } from './netpol-fixture.js'

const cleanup = new Cleanup()
test.after.always(() => cleanup.run())

test('a cold start compiles ahead of the last list page, and that page\'s pods are in its first rules', async (t) => {
  const c = makeNodeCluster(cleanup, 'ca')
  const { api, kubeconfigs: [kubeconfig] } = await serveFakeApi(c)
  const pods = await Promise.all([['x', 'a'], ['y', 'a'], ['y', 'b']].map(([ns, name]) => addPod(c, ns!, name!)))
  for (const p of pods) serve(c, p)
  await waitListening(c)
  const [xa, ya, yb] = pods as [typeof pods[0], typeof pods[0], typeof pods[0]]
  for (const [name, team] of [['x', 'x'], ['y', 'y'], ['bulk', 'y']]) api.create({ kind: 'Namespace', metadata: { name, labels: { team } } })
  // 1,100 pods of another node in "bulk" (listed first: keys in byte order), some labelled as the peer.
  for (let i = 0; i < 1100; i++) {
    const ip = `10.250.${i >> 8}.${i & 255}`
    api.create({ kind: 'Pod', metadata: { namespace: 'bulk', name: `p${String(i).padStart(4, '0')}`, labels: { pod: i % 2 ? 'a' : 'other' } }, spec: { nodeName: 'n2', containers: [{ name: 'c', image: 'x' }] }, status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } })
  }
  for (const p of pods) api.create(localPodObject(p))
  api.create(NODE_OBJECT)
  api.create({
    kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'from-team-y-a' },
    spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'y' } }, podSelector: { matchLabels: { pod: 'a' } } }], ports: [{ port: 'http' }] }] },
  })

  const agent = await startAgent(c, [], { kubeconfig })
  t.is(agent.log().match(/"msg":"compiled ahead of the last list page"/g)?.length, 1, agent.log())
  const pages = api.listTypes.length
  t.true(pages >= 3, `the pods came in ${pages} pages in all`)
  const rules = await inNs(c.host, 'nft', ['list', 'ruleset'])
  t.true(rules.includes('10.250.0.1,') || rules.includes('10.250.0.1 '), 'a bulk pod labelled pod=a is a member of the peer set')
  t.false(rules.includes('10.250.0.0,') || rules.includes('10.250.0.0 '), 'a bulk pod labelled otherwise is not')
  const [denied, allowed] = await Promise.all([
    loopProbe(yb.netns, { target: xa.v4, port: 80, durationMs: 2000, intervalMs: 100 }),
    loopProbe(ya.netns, { target: xa.v4, port: 80, durationMs: 2000, intervalMs: 100 }),
  ])
  t.is(denied.ok, 0, 'y/b (in the last page) is kept out of x/a')
  t.true(allowed.ok > 0, `y/a (in the last page) reaches x/a: ${JSON.stringify(allowed)}`)
})
