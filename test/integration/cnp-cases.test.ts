// ClusterNetworkPolicy truth tables in the kernel: every step of the upstream conformance suite
// (test/fixtures/cnp-extra: the shared five and the other nineteen, NamedPorts and EgressNodePeers
// included) and cinch's own cases (Pass chains, priority order, fail-closed fields, networks on pod
// traffic, NetworkPolicy interplay), as real TCP and UDP connections (IPv4; SCTP counted as skipped:
// no IP_SCTP here) on a two-node cluster with host-network pods, through BOTH sources: the
// manifest directory, then the fake API server (the agent watching the CRD path). One cluster per
// source, reused across steps; each step's cells are probed all at once.
import test from 'ava'
import { checkCnpStep, cnpCluster, type CnpEnv } from './cnp-helpers.js'
import { loadFixture, stepsOf } from '../kit/cnp-fixture.js'

const cases = (['shared', 'extra', 'own'] as const).flatMap((w) => loadFixture(w).cases)

for (const source of ['manifests', 'kube'] as const) {
  test.serial(`every ClusterNetworkPolicy case through ${source}`, async (t) => {
    t.timeout(600_000)
    const t0 = Date.now()
    const env: CnpEnv = await cnpCluster(t, source)
    const setup = Date.now() - t0
    for (const kase of cases) {
      for (const { name, step } of stepsOf([kase])) await checkCnpStep(t, env, `${source} ${name}`, step)
    }
    // Back to no ClusterNetworkPolicy: everything open again (the tier chains are gone).
    await checkCnpStep(t, env, `${source} cleared`, { policies: [], probes: [{ protocol: 'TCP', port: 80, expect: { 'network-policy-conformance-gryffindor/harry-potter-0': { 'network-policy-conformance-slytherin/draco-malfoy-1': true } } }] })
    t.log(`${source}: ${env.cells} cells probed, ${env.skippedSctp} SCTP cells skipped; setup ${(setup / 1000).toFixed(1)} s, total ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    t.true(env.cells > 250, `${env.cells} cells`)
  })
}
