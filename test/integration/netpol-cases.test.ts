// Every case of the vendored NetworkPolicy fixture (test/fixtures/netpol-cases.json, from the
// Kubernetes e2e suite) against the real kernel: nine pods on one cinch node, the live agent
// watching the manifest directory, and the full 9x9 matrix probed with real TCP/UDP connections.
import test from 'ava'
import { execFileSync } from 'node:child_process'
import { Cleanup, nftText, type NodeCluster } from './netpol-helpers.js'
import { type Case, checkStep, fixture, modelCluster, type Step, stepsOf } from './netpol-fixture.js'

const cleanup = new Cleanup()
let c: NodeCluster
let foreignBefore = ''
// A foreign table (the host firewall's, with a hooked chain and a set) the agent must leave alone.
const FOREIGN = 'table inet np-foreign {\n\tset keep { type ipv4_addr; elements = { 192.0.2.1 } }\n\tchain input {\n\t\ttype filter hook input priority 10; policy accept;\n\t\tip saddr @keep drop\n\t\ttcp dport 2222 drop\n\t}\n}\n'

test.before(async () => {
  c = await modelCluster(cleanup, 'c', {
    beforeAgent: async (n) => {
      execFileSync('ip', ['netns', 'exec', n.host, '/usr/sbin/nft', '-f', '-'], { input: FOREIGN })
      foreignBefore = await nftText(n, 'inet', 'np-foreign')
    },
  })
})

test.after.always(() => cleanup.run())

// Pods are dual stack. The fixture's matrices hold for IPv6 too unless a policy names IPv4
// addresses (ipBlock placeholders), so those cases are probed over both families.
const withIpv6 = (k: Case & { placeholders?: string[] }): Case => {
  if (k.placeholders?.length) return k
  const dual = (s: Step): Step => ({ ...s, probes: s.probes.map((p) => ({ ...p, families: [4, 6] })) })
  return k.steps ? { ...k, steps: k.steps.map(dual) } : { ...k, probes: dual({ probes: k.probes ?? [] }).probes }
}

for (const kase of (fixture.cases as Case[]).map(withIpv6)) {
  test.serial(kase.id, async (t) => {
    const steps = stepsOf(kase)
    for (const [i, step] of steps.entries()) await checkStep(t, c, kase, step, steps.length > 1 ? `step ${i}` : 'policies')
  })
}

test.serial('the foreign nft table is untouched after every case', async (t) => {
  t.is(await nftText(c, 'inet', 'np-foreign'), foreignBefore)
  t.regex(c.agent!.log(), /br_netfilter enabled/)
})
