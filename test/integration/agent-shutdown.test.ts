// SIGTERM stops the agent promptly (a DaemonSet rolling update, a node drain), even while the leak
// GC waits out its grace period for an orphaned pod, and the rules stay in the kernel.
import test from 'ava'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { nftTable, spawnAgentInNetns } from './agent-helpers.js'
import { cleanupFor } from '../kit/cleanup.js'
import { podAManifest } from '../kit/manifests.js'
import { makeNetns, tempDir } from '../kit/netns.js'
import { waitFor } from '../kit/wait.js'

const record = (pod: string, ip: string, netns: string) => ({
  containerId: `c-${pod}`, ifName: 'eth0', netns, podNamespace: 'x', podName: pod, ips: [`${ip}/24`],
  hostVeth: 'cinch0123456789', bridge: 'cinch0', network: 'cinch', createdAt: new Date().toISOString(),
})

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  test(`${sig} stops the agent within 3 s while the leak GC's grace timer is armed; the rules stay in force`, async (t) => {
    const ns = makeNetns(cleanupFor(t), 'cinch-t-agent-stop')
    const dir = tempDir(cleanupFor(t), 'cinch-t-agent-stop')
    await mkdir(join(dir, 'm'))
    await writeFile(join(dir, 'm', 'cluster.yaml'), podAManifest({ denyAll: true }))
    await mkdir(join(dir, 'state', 'attachments'), { recursive: true })
    // A pod whose netns is gone and never had its DEL: the GC waits the grace period (default 60 s).
    await writeFile(join(dir, 'state', 'attachments', 'c-a_eth0.json'), JSON.stringify(record('a', '10.9.0.2', join(dir, 'gone-netns'))))
    const sock = join(dir, 'agent.sock')
    const agent = spawnAgentInNetns(cleanupFor(t), ns, ['--manifests', join(dir, 'm'), '--node', 'n1', '--state-dir', join(dir, 'state'),
      '--socket', sock, '--cni-conf', join(dir, 'none.conflist'), '--no-overlay'])
    const exited = new Promise<number | null>((resolve) => agent.on('exit', (code) => resolve(code)))
    t.teardown(() => void agent.kill('SIGKILL'))
    t.teardown(() => t.log(agent.log())) // shown when the test fails

    await waitFor('the leak GC to find the orphan and wait out its grace', () => agent.log().includes('orphaned attachments'), { timeoutMs: 30_000 })
    t.true(existsSync(sock))
    const t0 = Date.now()
    agent.kill(sig)
    const code = await Promise.race([exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 3000))])
    t.is(code, 0, `exit code after ${sig} (3 s allowed)`)
    t.log(`exited ${Date.now() - t0} ms after ${sig}`)
    t.regex(agent.log(), /stopping; rules stay in force/)
    t.false(existsSync(sock), 'the socket file is removed: cinch-bridge sees no agent (code 11 with policyRequired), not a dead one')
    // Rules stay: a restarting agent must not open the node.
    const table = await nftTable(ns, 'inet', 'cinch')
    t.truthy(table, 'inet cinch is still in the kernel')
    t.true(table.nftables.some((i: any) => i.chain?.name === 'pod-ingress-x-a'), "the pod's chain is still in the kernel")
    t.truthy(await nftTable(ns, 'bridge', 'cinch'), 'bridge cinch is still in the kernel')
  })
}
