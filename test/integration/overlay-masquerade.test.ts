// Masquerade as the agent does it (policy-agent/overlay/nomasq.ts), with the conflist it writes
// (ipMasq off: cinch-bridge runs no nft on the host): two nodes on an underlay, the built agents and
// plugins. A pod reaching an address outside the cluster CIDRs (a server on the underlay) is seen
// from its node's address; a pod reaching a pod on the other node keeps its own source address.
import test from 'ava'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { cleanupFor } from '../kit/cleanup.js'
import { clusterFor } from '../kit/cluster.js'
import { tempDir, uniqueName } from '../kit/netns.js'
import { cniBin, distDir, refBin } from '../kit/paths.js'
import { peerAddress, probeFrom } from '../kit/probe.js'
import { inNetns as inNs, spawnInNetns } from '../kit/proc.js'
import { waitFor } from '../kit/wait.js'

test('pods leaving the cluster are masqueraded by the agent; pod to pod across nodes keeps its source', async (t) => {
  t.timeout(180_000)
  const cleanup = cleanupFor(t)
  const name = uniqueName('cinch-t-masq')
  const c = await clusterFor(cleanup, {
    name, dir: tempDir(cleanup, name), nodes: 2, backend: 'vxlan', ports: { tcp: [8080], udp: [] },
    cinch: [process.execPath, join(distDir, 'bin/cinch')], cniPath: `${cniBin}:${refBin}`,
  })
  // The conflist the agent wrote leaves masquerade to the agent.
  const conflist = JSON.parse(readFileSync(join(c.nodes[0]!.confDir, '10-cinch.conflist'), 'utf8'))
  t.is(conflist.plugins[0].ipMasq, false)

  c.writeNamespaces({ m: {} })
  const t0 = Date.now()
  const [p1, p2] = await c.addPods([{ namespace: 'm', name: 'a', node: 'node1' }, { namespace: 'm', name: 'b', node: 'node2' }])
  await c.waitSynced(t0)

  // Outside the cluster: a server on the underlay (192.168.77.1, fd77::1) echoing the source it saw.
  await inNs(c.underlay, 'ip', ['addr', 'add', '192.168.77.1/24', 'dev', 'br0'])
  await inNs(c.underlay, 'ip', ['addr', 'add', 'fd77::1/64', 'dev', 'br0', 'nodad'])
  spawnInNetns(cleanup, c.underlay, 'socat', ['TCP6-LISTEN:8090,fork,reuseaddr', 'SYSTEM:echo $SOCAT_PEERADDR'])
  await waitFor('the outside server', async () => (await inNs(c.underlay, 'ss', ['-Hltn'])).includes(':8090 '), { timeoutMs: 10_000 })

  const node1 = c.nodes.find((n) => n.name === 'node1')!
  const out = await probeFrom(p1!.netns, [{ ip: '192.168.77.1', port: 8090, proto: 'tcp' }, { ip: 'fd77::1', port: 8090, proto: 'tcp' }], { timeoutMs: 4000 })
  t.deepEqual(out.map((r) => [r.ok, peerAddress(r.saw)]), [[true, node1.ip4], [true, node1.ip6]], 'seen from node1, not from the pod')
  const across = await probeFrom(p1!.netns, [{ ip: p2!.ip4, port: 8080, proto: 'tcp' }, { ip: p2!.ip6, port: 8080, proto: 'tcp' }], { timeoutMs: 4000 })
  t.deepEqual(across.map((r) => [r.ok, peerAddress(r.saw)]), [[true, p1!.ip4], [true, p1!.ip6]], 'pod to pod keeps its source')
  // It is the agent's chain that did it: cinch-bridge added no masquerade element of its own.
  const nat = await inNs(node1.netns, '/usr/sbin/nft', ['list', 'table', 'inet', 'cinch-nat'])
  t.regex(nat, /chain node-masquerade/)
  t.notRegex(nat, /chain postrouting/)
})
