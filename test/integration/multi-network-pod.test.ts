// A pod on two cinch networks (Multus attaching a second one as net1): two attachment records name
// one pod. Its policy must hold on both interfaces, from the first sync on and through changes, and
// a change elsewhere must compile only what it touches (the records' parts share the pod's chains:
// compile/local-parts.ts), not every local pod, as it did while two records named one pod.
import test from 'ava'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { addPod, applyManifests, Cleanup, makeNodeCluster, type ManifestSet, type ModelPod, type NodeCluster, type Pod, serve, startAgent, waitListening, writeManifests } from './netpol-helpers.js'
import { makeNetns } from '../kit/netns.js'
import * as paths from '../kit/paths.js'
import { inNetns } from '../kit/proc.js'
import { reachable } from '../kit/probe.js'
import { waitFor } from '../kit/wait.js'

const SUBNET2_4 = '10.245.1.0/24'
const SUBNET2_6 = 'fd00:10:245:1::/64'

/** The second network's conflist: its own bridge and subnets, the same state directory and agent. */
function secondNetwork(c: NodeCluster): string {
  const file = join(c.dir, 'conflist-net2.json')
  writeFileSync(file, JSON.stringify({
    cniVersion: '1.0.0', name: 'npnet2',
    plugins: [{
      type: 'cinch-bridge', bridge: 'cinch1', isGateway: true, isDefaultGateway: false, hairpinMode: true,
      stateDir: c.stateDir, agentSocket: c.socket, policyTimeoutMs: 20_000,
      ipam: { type: 'cinch-ipam', dataDir: join(c.dir, 'ipam2'), ranges: [[{ subnet: SUBNET2_4 }], [{ subnet: SUBNET2_6 }]] },
    }],
  }))
  return file
}

/** cnictl on the second network (ifName `ifName` in `netns`); the parsed result's addresses. */
async function attach(c: NodeCluster, conflist: string, verb: 'add' | 'del', netns: string, id: string, ifName: string, pod: { namespace: string; name: string }): Promise<string[]> {
  const out = await inNetns(c.host, 'cnictl', [verb, conflist, `/var/run/netns/${netns}`, id, ifName], {
    env: { ...process.env, CNI_PATH: `${paths.cniBin}:${paths.refBin}`, CNI_CACHE_DIR: join(c.dir, 'cache'), CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${pod.namespace};K8S_POD_NAME=${pod.name}` },
    timeoutMs: 60_000,
  })
  return verb === 'add' ? JSON.parse(out).ips.map((i: { address: string }) => i.address.split('/')[0]) : []
}

/** A pod whose only network is the second one (its podIPs are that network's addresses). */
async function addPodOnNet2(c: NodeCluster, conflist: string, namespace: string, name: string): Promise<Pod> {
  const netns = makeNetns(c.cleanup, `${c.tag}-${namespace}-${name}`, { exact: true })
  const containerId = `ctr-${namespace}-${name}`
  const ips = await attach(c, conflist, 'add', netns, containerId, 'eth0', { namespace, name })
  c.cleanup.add(() => attach(c, conflist, 'del', netns, containerId, 'eth0', { namespace, name }))
  const pod: Pod = { key: `${namespace}/${name}`, namespace, name, netns, containerId, v4: ips.find((i) => !i.includes(':'))!, v6: ips.find((i) => i.includes(':'))! }
  c.pods.set(pod.key, pod)
  return pod
}

const PODS: ModelPod[] = [
  { namespace: 'x', name: 'multi', labels: { app: 'multi' }, ports: [] },
  { namespace: 'x', name: 'ok', labels: { app: 'ok' }, ports: [] },
  { namespace: 'x', name: 'other', labels: { app: 'other' }, ports: [] },
  { namespace: 'x', name: 'ok2', labels: { app: 'ok' }, ports: [] },
  { namespace: 'x', name: 'other2', labels: { app: 'other' }, ports: [] },
]
const allowOk = {
  apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'allow-ok' },
  spec: { podSelector: { matchLabels: { app: 'multi' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'ok' } } }] }] },
}

test('a pod on two cinch networks is under its policy on both, and a change elsewhere compiles one record', async (t) => {
  const cleanup = new Cleanup()
  t.teardown(() => cleanup.run())
  const c = makeNodeCluster(cleanup, 'mn')
  const net2 = secondNetwork(c)
  for (const name of ['multi', 'ok', 'other']) await addPod(c, 'x', name)
  const multi = c.pods.get('x/multi')!
  // Multus's second attachment: net1 on the second bridge (no default route: eth0 keeps it).
  const net1 = await attach(c, net2, 'add', multi.netns, multi.containerId, 'net1', multi)
  cleanup.add(() => attach(c, net2, 'del', multi.netns, multi.containerId, 'net1', multi))
  const net1v4 = net1.find((i) => !i.includes(':'))!, net1v6 = net1.find((i) => i.includes(':'))!
  for (const name of ['ok2', 'other2']) await addPodOnNet2(c, net2, 'x', name)
  for (const p of c.pods.values()) serve(c, p)
  await waitListening(c)
  const m: ManifestSet = { namespaces: { x: {} }, pods: PODS, policies: [allowOk] }
  writeManifests(c, m)
  const agent = await startAgent(c)
  const [ok, other, ok2, other2] = ['ok', 'other', 'ok2', 'other2'].map((n) => c.pods.get(`x/${n}`)!) as [Pod, Pod, Pod, Pod]

  // eth0 from the first network's pods, net1 from the second's: each over its own bridge.
  t.deepEqual(await reachable(ok.netns, { proto: 'tcp', port: 80, ips: [multi.v4, multi.v6] }), [true, true], 'x/ok reaches eth0')
  t.deepEqual(await reachable(other.netns, { proto: 'tcp', port: 80, ips: [multi.v4, multi.v6] }), [false, false], 'x/other does not reach eth0')
  t.deepEqual(await reachable(ok2.netns, { proto: 'tcp', port: 80, ips: [net1v4, net1v6] }), [true, true], 'x/ok2 reaches net1')
  t.deepEqual(await reachable(other2.netns, { proto: 'tcp', port: 80, ips: [net1v4, net1v6] }), [false, false], 'x/other2 does not reach net1')

  // Another pod's label: one record compiled again, not the node's six.
  const syncs = () => [...agent.log().matchAll(/"recordsCompiled":(\d+)[^\n]*"msg":"rules applied"/g)].map((x) => Number(x[1]))
  const before = syncs().length
  const relabelled = PODS.map((p) => (p.name === 'other' ? { ...p, labels: { app: 'other', tier: 'x' } } : p))
  await applyManifests(c, { ...m, pods: relabelled })
  await waitFor('the relabel sync logged', () => syncs().length > before, { timeoutMs: 10_000 })
  t.deepEqual(syncs().slice(before), [1], 'the relabelled pod alone')

  // The pod's own label: both of its records, and the policy no longer selects it on either.
  await applyManifests(c, { ...m, pods: relabelled.map((p) => (p.name === 'multi' ? { ...p, labels: { app: 'free' } } : p)) })
  t.deepEqual(await reachable(other.netns, { proto: 'tcp', port: 80, ips: [multi.v4] }), [true], 'x/other reaches eth0 once unselected')
  t.deepEqual(await reachable(other2.netns, { proto: 'tcp', port: 80, ips: [net1v4] }), [true], 'x/other2 reaches net1 once unselected')
  t.is(syncs().at(-1), 2)

  // Selected again, then net1 detached (DEL of the second network): eth0 stays under the policy.
  await applyManifests(c, { ...m, pods: relabelled })
  await attach(c, net2, 'del', multi.netns, multi.containerId, 'net1', multi)
  t.deepEqual(await reachable(other.netns, { proto: 'tcp', port: 80, ips: [multi.v4, multi.v6] }), [false, false], 'eth0 still isolated after net1 went')
  t.deepEqual(await reachable(ok.netns, { proto: 'tcp', port: 80, ips: [multi.v4] }), [true])
})
