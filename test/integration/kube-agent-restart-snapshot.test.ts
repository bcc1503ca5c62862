// End to end: the built agent against the fake API server (test/kit/fake-apiserver.ts), restarted
// with and without a restart snapshot (policy-agent/sources/snapshot.ts). A graceful stop saves the
// informers; the next start lists nothing, and the policy changed while it was down is in its
// FIRST sync's rules (no later sync on a source change). A crash leaves no snapshot (lists); a
// compacted version relists and ends exact; a corrupt, oversized, old or other-server snapshot is
// refused with one warning and the agent lists; --no-restart-snapshot removes one and writes none.
import test from 'ava'
import { existsSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { addPod, Cleanup, inNs, killChild, makeNodeCluster, startAgent, type Agent, serveFakeApi, localPodObject, NODE_OBJECT } from './netpol-helpers.js'
import type { Obj } from '../kit/fake-apiserver.js'

const cleanup = new Cleanup()
test.after.always(() => cleanup.run())



test('a graceful restart resumes by watch with the changes made meanwhile in its first sync; anything else lists', async (t) => {
  const c = makeNodeCluster(cleanup, 'rs')
  // Two ports to one server: a second URL is another API server as far as a snapshot knows.
  const { api, kubeconfigs: [kubeconfig, otherKubeconfig] } = await serveFakeApi(c, [6443, 6444])

  const xa = await addPod(c, 'x', 'a')
  api.create({ kind: 'Namespace', metadata: { name: 'x', labels: { team: 'x' } } })
  api.create(localPodObject(xa))
  api.create(NODE_OBJECT)
  const policy = (port: number): Obj => ({
    kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'web' },
    spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'x' } } }], ports: [{ port }] }] },
  })
  api.create(policy(80))

  const snapshot = join(c.stateDir, 'restart-snapshot.json')
  const PLURALS = ['pods', 'namespaces', 'networkpolicies', 'nodes']
  const lists = () => PLURALS.map((p) => api.counts.get(p)!.lists)
  const chain = () => inNs(c.host, 'nft', ['list', 'chain', 'inet', 'cinch', 'pod-ingress-x-a'])
  const stop = async (a: Agent) => {
    await killChild(a.child, 'SIGTERM')
    t.is(a.child.exitCode, 0, 'stopped cleanly')
  }
  /** Starts, and checks it listed every kind once (resumed: false) or none (resumed: true). */
  const restart = async (resumed: boolean, kc = kubeconfig, extra: string[] = []) => {
    const before = lists()
    const a = await startAgent(c, extra, { kubeconfig: kc })
    t.deepEqual(lists(), resumed ? before : before.map((n) => n + 1), resumed ? 'no LIST of any kind' : 'every kind listed once')
    t.false(existsSync(snapshot), 'the snapshot is gone once read')
    return a
  }

  let agent = await restart(false)
  t.regex(await chain(), /tcp dport 80 /)

  // 1. A graceful stop, the policy changed while down: resumed by watch, the change in the first sync.
  await stop(agent)
  t.regex(agent.log(), /"msg":"restart snapshot written"/)
  t.true(existsSync(snapshot))
  api.update(policy(81))
  agent = await restart(true)
  t.regex(await chain(), /tcp dport 81 /, 'the change made while down is in the rules at ready')
  t.regex(agent.log(), /"msg":"restart snapshot loaded; resuming watches"/)
  t.notRegex(agent.log(), /"sync":"source changed"/, 'it came with the first sync, not a later one')

  // 2. A crash: nothing written, the snapshot was used once: lists.
  await killChild(agent.child, 'SIGKILL')
  agent = await restart(false)
  t.notRegex(agent.log(), /restart snapshot/)

  // 3. Compacted while down: 410 on every resumed watch, every kind relists, and ends exact.
  await stop(agent)
  api.update(policy(82))
  api.compact()
  agent = await restart(false)
  t.regex(await chain(), /tcp dport 82 /)
  t.regex(agent.log(), /"msg":"restart snapshot loaded; resuming watches"/)

  // 4. Snapshots the agent must not trust: one warning each, then the agent lists.
  /** The snapshot's first line is its header (JSON lines: sources/snapshot.ts). */
  const editHeader = (edit: (h: Record<string, unknown>) => object) => {
    const [head, ...rest] = readFileSync(snapshot, 'utf8').split('\n')
    writeFileSync(snapshot, [JSON.stringify(edit(JSON.parse(head!))), ...rest].join('\n'))
  }
  const refused = async (what: string, tamper: () => void, reason: RegExp, kc = kubeconfig) => {
    await stop(agent)
    t.true(existsSync(snapshot), `${what}: written`)
    tamper()
    agent = await restart(false, kc)
    const warnings = agent.log().split('\n').filter((l) => /restart snapshot ignored/.test(l))
    t.is(warnings.length, 1, what)
    t.regex(warnings[0] ?? '', /"level":40/, `${what}: a warning`)
    t.regex(warnings[0] ?? '', reason, what)
  }
  await refused('truncated', () => truncateSync(snapshot, Math.floor(readFileSync(snapshot).length / 2)), /: truncated/)
  await refused('oversized', () => truncateSync(snapshot, 300 << 20), /over 268435456/)
  await refused('old', () => editHeader((h) => ({ ...h, writtenAt: (h.writtenAt as number) - 6 * 60_000 })), /s old, over 300 s/)
  await refused('another API server', () => {}, /another server/, otherKubeconfig)
  await refused('another node', () => editHeader((h) => ({ ...h, node: 'n2' })), /another node/, otherKubeconfig)
  t.regex(await chain(), /tcp dport 82 /)

  // 5. Turned off: the snapshot left is removed unread (every kind lists), a graceful stop writes none.
  await stop(agent)
  t.true(existsSync(snapshot))
  agent = await restart(false, otherKubeconfig, ['--no-restart-snapshot'])
  await stop(agent)
  t.false(existsSync(snapshot), '--no-restart-snapshot writes none')
  t.notRegex(agent.log(), /restart snapshot/)

  // 6. A directory where the snapshot goes (state on the node is hostile): the agent starts
  // anyway, on or off, and says why it cannot use that path.
  mkdirSync(snapshot)
  for (const extra of [['--no-restart-snapshot'], []]) {
    agent = await startAgent(c, extra, { kubeconfig })
    t.regex(await chain(), /tcp dport 82 /, `${extra.join(' ') || 'default'}: ready with a directory at the snapshot's path`)
    t.regex(agent.log(), /"level":40.*restart snapshot/, `${extra.join(' ') || 'default'}: a warning`)
    await stop(agent)
  }
  rmSync(snapshot, { recursive: true })
})
