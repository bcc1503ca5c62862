// ClusterNetworkPolicy truth tables in the kernel: every step of the upstream conformance suite
// (test/fixtures/cnp-extra: the shared five and the other nineteen, NamedPorts and EgressNodePeers
// included) and cinch's own cases (Pass chains, priority order, fail-closed fields, networks on pod
// traffic, NetworkPolicy interplay), as real TCP and UDP connections (SCTP counted as skipped: no
// IP_SCTP here) on a two-node dual-stack cluster with host-network pods. One cluster per run,
// reused across steps; each step's cells are probed all at once.
//
// IPv4 through BOTH sources: the manifest directory, then the fake API server (the agent watching
// the CRD path). IPv6 through the manifest directory alone: the steps' policies substituted for
// family 6 (pod networks as /128, nodes' IPv6 addresses), every cell probed to the destination's
// IPv6 address (host-network pods and nodes peers: the node's). One source suffices there: the two
// sources are compared over IPv4 already and hand the same ClusterState to the same compiler, so
// what IPv6 adds (ip6 sets and rules, IPv6 networks and nodes peers) is the compiler's and the
// renderer's, not the source's; a third run through the API server would cost ~2.5 min for nothing.
import test from 'ava'
import { checkCnpStep, cnpCluster, type CnpEnv } from './cnp-helpers.js'
import { loadFixture, stepsOf, type Family } from '../kit/cnp-fixture.js'

const cases = (['shared', 'extra', 'own'] as const).flatMap((w) => loadFixture(w).cases)

const runs: { source: 'manifests' | 'kube'; family: Family }[] = [
  { source: 'manifests', family: 4 }, { source: 'kube', family: 4 }, { source: 'manifests', family: 6 },
]
for (const { source, family } of runs) {
  test.serial(`every ClusterNetworkPolicy case through ${source}, IPv${family}`, async (t) => {
    t.timeout(600_000)
    const t0 = Date.now()
    const env: CnpEnv = await cnpCluster(t, source, family)
    const setup = Date.now() - t0
    const tag = `${source} IPv${family}`
    for (const kase of cases) {
      for (const { name, step } of stepsOf([kase])) await checkCnpStep(t, env, `${tag} ${name}`, step)
    }
    // Back to no ClusterNetworkPolicy: everything open again (the tier chains are gone).
    await checkCnpStep(t, env, `${tag} cleared`, { policies: [], probes: [{ protocol: 'TCP', port: 80, expect: { 'network-policy-conformance-gryffindor/harry-potter-0': { 'network-policy-conformance-slytherin/draco-malfoy-1': true } } }] })
    t.log(`${tag}: ${env.cells} cells probed, ${env.skippedSctp} SCTP cells skipped; setup ${(setup / 1000).toFixed(1)} s, total ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    t.true(env.cells > 250, `${env.cells} cells`)
  })
}
