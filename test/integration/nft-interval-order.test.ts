// Interval sets whose elements the IR lists in string order (compile/sets.ts sorts a set's
// elements as strings): a NetworkPolicy with more than 16 ports (a shared named port set,
// compile/rules.ts sharePorts) such as 80, 443, 8080, or ipBlocks 10.0.0.0/8 and 8.0.0.0/8. The
// agent's first apply must go over netlink as one batch (lib/nft interval-netlink.ts sorts them by
// value, as nft does) and leave the kernel as renderFull's text through nft does; before, the
// encoder refused them and every full replace with such a policy went through nft, silently.
import test from 'ava'
import { Compiler } from '../../policy-agent/compile/index.js'
import type { NetworkPolicy } from '../../policy-agent/model/cluster.js'
import { renderFull } from '../../policy-agent/render/index.js'
import { Applier } from '../../policy-agent/apply/applier.js'
import { clusterOf, policy } from '../kit/policy-state.js'
import { cinchTablesIn, comparableRuleset } from '../kit/nft-kernel.js'

type Port = NonNullable<NonNullable<NetworkPolicy['spec']['ingress']>[number]['ports']>[number]

test.serial('a full replace with port and block sets out of numeric order goes over netlink and equals the text path', async (t) => {
  const viaNetlink = cinchTablesIn(t, 'cinch-t-ivo'), viaText = cinchTablesIn(t, 'cinch-t-ivt')
  // 17 TCP ports (more than PORTS_INLINE: a named interval set), none adjacent; in string order
  // "10000" < "443" < "80" < "8080", not the numbers' order.
  const ports: Port[] = [80, 443, 8080, 8443, 9000, 22, 25, 53, 110, 143, 993, 995, 3306, 5432, 6379, 10000, 27017].map((port) => ({ protocol: 'TCP', port }))
  const state = clusterOf({ namespaces: { l: {} }, pods: { 'l/a': { labels: { app: 'a' }, ips: ['10.1.0.1'], ports: [] } }, policies: [] })
  const p = policy('l', 'many-ports', {
    podSelector: {}, policyTypes: ['Ingress'],
    ingress: [{ ports, from: [{ ipBlock: { cidr: '10.0.0.0/8' } }, { ipBlock: { cidr: '8.0.0.0/8' } }, { ipBlock: { cidr: '192.168.1.0/24' } }] }],
  })
  state.policies.set('l/many-ports', p)
  const ir = new Compiler().compile(state, [{ namespace: 'l', name: 'a', ips: ['10.1.0.1'], hostVeth: 'cinchla' }]).ir
  const intervalSets = Object.entries(ir.sets).filter(([, s]) => s.kind === 'ports' || s.kind === 'block')
  t.true(intervalSets.some(([, s]) => s.kind === 'ports'), 'a named port set')
  t.true(intervalSets.some(([, s]) => s.kind === 'block'), 'a block set')

  const netlinkText: string[] = []
  const applier = new Applier({
    run: (text) => (netlinkText.push(text), viaNetlink.policy.runText(text, { also: [viaNetlink.bridge] })),
    runCommands: (c, o) => viaNetlink.policy.runCommands(c, { also: [viaNetlink.bridge], ...o }),
  })
  t.like(await applier.apply(ir), { mode: 'full', via: 'netlink' })
  t.deepEqual(netlinkText, [], 'nothing went through nft')
  await viaText.policy.runText(renderFull(ir), { also: [viaText.bridge] })
  t.deepEqual(comparableRuleset(viaNetlink.ns), comparableRuleset(viaText.ns))
})
