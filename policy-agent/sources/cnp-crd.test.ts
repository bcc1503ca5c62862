// The kube source and the ClusterNetworkPolicy CRD, against the fake API server in process: a
// cluster without the CRD is normal (the first sync is not held back, one "absent" report, no error
// loop); the CRD appearing later brings its policies in; deleting it takes them away.
import { afterEach, describe, expect, it } from 'vitest'
import { FakeApiServer } from '../../test/kit/fake-apiserver.js'
import { KubeSource } from './kube.js'

const cnp = (name: string) => ({
  apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name },
  spec: { tier: 'Admin', priority: 1, subject: { namespaces: {} }, ingress: [{ action: 'Deny', from: [{ namespaces: {} }] }] },
})
const until = async (what: string, f: () => boolean, ms = 5000) => {
  const end = Date.now() + ms
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

let api: FakeApiServer | undefined, source: KubeSource | undefined
afterEach(async () => { await source?.stop(); await api?.close() })

describe('ClusterNetworkPolicy CRD', () => {
  it('absent at start: the source starts, reports it once, and picks the CRD and its policies up when installed', async () => {
    api = await FakeApiServer.start()
    const errors: string[] = [], absent: boolean[] = []
    source = new KubeSource({ kubeConfig: api.kubeConfig(), minBackoffMs: 20, maxBackoffMs: 100, absentPollMaxMs: 80,
      onError: (r, e) => errors.push(`${r}: ${String(e)}`), onAbsent: (_, a) => absent.push(a) })
    await source.start(() => {})
    expect(source.state().clusterNetworkPolicies.size).toBe(0)
    // Several looks while absent, one report, no errors.
    await until('a few looks', () => api!.requests.filter((r) => r.includes('/clusternetworkpolicies')).length >= 3)
    expect(absent).toEqual([true])
    api.setClusterNetworkPolicyCrd(true)
    api.create(cnp('deny-all'))
    await until('the policy', () => source!.state().clusterNetworkPolicies.has('deny-all'))
    expect(absent).toEqual([true, false])
    expect(source.state().clusterNetworkPolicies.get('deny-all')).toMatchObject({ metadata: { name: 'deny-all' }, spec: { tier: 'Admin' } })
    // Deleting the CRD deletes its objects: the policy goes away, and the source waits again.
    api.setClusterNetworkPolicyCrd(false)
    await until('the policy gone', () => source!.state().clusterNetworkPolicies.size === 0)
    await until('absent again', () => absent.length === 3)
    expect(absent).toEqual([true, false, true])
    expect(errors).toEqual([])
  })
  it('present at start: listed before the first sync, watched after', async () => {
    api = await FakeApiServer.start({ clusterNetworkPolicies: true })
    api.create(cnp('a'))
    source = new KubeSource({ kubeConfig: api.kubeConfig(), minBackoffMs: 20, maxBackoffMs: 100 })
    await source.start(() => {})
    expect([...source.state().clusterNetworkPolicies.keys()]).toEqual(['a'])
    api.create(cnp('b'))
    await until('b', () => source!.state().clusterNetworkPolicies.has('b'))
  })
})
