// Adoption with the cluster source (the fake API server, test/kit/fake-apiserver.ts) and the
// restart snapshot, as a rolling update restarts the DaemonSet's agent: a restart with nothing
// changed resumes its watches AND adopts the tables; a policy changed while the agent was down
// comes with the resumed watch into the first sync, whose rules then differ from the last commit's:
// replaced, with the change.
import test from 'ava'
import { join } from 'node:path'
import { addPod, Cleanup, inNs, killChild, makeNodeCluster, startAgent, type Agent, serveFakeApi } from './netpol-helpers.js'
import type { Obj } from '../kit/fake-apiserver.js'

const cleanup = new Cleanup()
test.after.always(() => cleanup.run())

test('a resumed restart adopts when nothing changed, and replaces with the change made while it was down', async (t) => {
  const c = makeNodeCluster(cleanup, 'ak')
  const { api, kubeconfigs: [kubeconfig] } = await serveFakeApi(c)

  const xa = await addPod(c, 'x', 'a')
  api.create({ kind: 'Namespace', metadata: { name: 'x', labels: { team: 'x' } } })
  api.create({
    kind: 'Pod', metadata: { namespace: 'x', name: 'a', labels: { pod: 'a' } },
    spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x' }] },
    status: { phase: 'Running', podIP: xa.v4, podIPs: [{ ip: xa.v4 }, { ip: xa.v6 }] },
  })
  const policy = (port: number): Obj => ({
    kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'web' },
    spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'x' } } }], ports: [{ port }] }] },
  })
  api.create(policy(80))

  const flags = ['--cni-conf', join(c.dir, 'agent-conflist.json')]
  const start = () => startAgent(c, flags, { kubeconfig })
  const stop = async (a: Agent) => {
    await killChild(a.child, 'SIGTERM')
    t.is(a.child.exitCode, 0, 'stopped cleanly')
  }
  const firstSync = (a: Agent) => a.log().split('\n').find((l) => /"msg":"rules applied"/.test(l)) ?? ''
  const listing = () => inNs(c.host, 'nft', ['list', 'table', 'inet', 'cinch'])

  let agent = await start()
  t.regex(firstSync(agent), /"mode":"full"/)
  const before = await listing()

  // Nothing changed: resumed by watch, and the tables adopted.
  await stop(agent)
  agent = await start()
  t.regex(agent.log(), /"msg":"restart snapshot loaded; resuming watches"/)
  t.regex(firstSync(agent), /"mode":"adopted"/)
  t.is(await listing(), before)

  // The policy changed while down: in the first sync, so not the last commit's rules: replaced.
  await stop(agent)
  api.update(policy(81))
  agent = await start()
  t.regex(agent.log(), /"msg":"restart snapshot loaded; resuming watches"/)
  t.regex(agent.log(), /"reason":"the rules to apply differ from the last commit's/)
  t.regex(firstSync(agent), /"mode":"full"/)
  t.regex(await listing(), /tcp dport 81 /)
  t.notRegex(agent.log(), /"sync":"source changed"/, 'the change came with the first sync')
  await stop(agent)
})
