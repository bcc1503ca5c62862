// The agent against the real kernel, in a fresh netns: `--once` programs the node's pods from a
// manifest directory, leaves foreign tables alone, a restart keeps the rules in force, and the
// socket answers an ADD notice only once the new pod's rules are in.
import test from 'ava'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { inNetns, nftTable, spawnAgentInNetns, tsInNetns } from './agent-helpers.js'
import { cleanupFor, type Cleanup } from '../kit/cleanup.js'
import { makeNetns, tempDir } from '../kit/netns.js'
import { waitFor } from '../kit/wait.js'

const manifests = `
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: x}}
- apiVersion: v1
  kind: Pod
  metadata: {namespace: x, name: a, labels: {pod: a}}
  spec: {nodeName: n1, containers: [{name: c, ports: [{name: http, containerPort: 80}]}]}
  status: {podIPs: [{ip: 10.9.0.2}]}
- apiVersion: v1
  kind: Pod
  metadata: {namespace: x, name: b, labels: {pod: b}}
  spec: {nodeName: n1, containers: [{name: c}]}
  status: {podIP: 10.9.0.3}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: deny-all}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
`

async function fixture(t: any) {
  const ns = makeNetns(cleanupFor(t), 'cinch-t-agent-once')
  const dir = tempDir(cleanupFor(t), 'cinch-t-agent')
  const m = join(dir, 'manifests')
  const state = join(dir, 'state')
  await mkdir(m)
  await mkdir(join(state, 'attachments'), { recursive: true })
  await writeFile(join(m, 'cluster.yaml'), manifests)
  await writeFile(join(m, 'broken.yaml'), 'kind: Pod\nmetadata: {name: [unclosed\n')
  return { ns, dir, m, state, cleanup: cleanupFor(t) }
}

async function attach(state: string, pod: string, ip: string, veth: string) {
  const r = { containerId: `c-${pod}`, ifName: 'eth0', netns: '/proc/1/ns/net', podNamespace: 'x', podName: pod, ips: [`${ip}/24`], hostVeth: veth, bridge: 'cinch0', network: 'cinch', createdAt: new Date().toISOString() }
  await writeFile(join(state, 'attachments', `c-${pod}_eth0.json.tmp`), JSON.stringify(r))
  const { rename } = await import('node:fs/promises')
  await rename(join(state, 'attachments', `c-${pod}_eth0.json.tmp`), join(state, 'attachments', `c-${pod}_eth0.json`))
}

const chainsOf = (json: any): string[] => (json?.nftables ?? []).filter((i: any) => i.chain).map((i: any) => i.chain.name as string).sort()
const runOnce = (ns: string, f: { m: string; state: string; dir: string; cleanup: Cleanup }) =>
  new Promise<{ code: number | null; log: string }>((resolve) => {
    const a = spawnAgentInNetns(f.cleanup, ns, ['--manifests', f.m, '--once', '--node', 'n1', '--state-dir', f.state, '--socket', join(f.dir, 'agent.sock')])
    a.on('close', (code) => resolve({ code, log: a.log() }))
  })

test('--once applies the local pods\' rules, skips a broken file, leaves a foreign table alone', async (t) => {
  const f = await fixture(t)
  await attach(f.state, 'a', '10.9.0.2', 'cinchaaaaaaaaaa')
  await inNetns(f.ns, 'nft', ['-f', '-'], { input: 'table inet foreign {\n chain input {\n type filter hook input priority 0; policy accept;\n tcp dport 22 accept\n }\n}\n' })
  const foreignBefore = await nftTable(f.ns, 'inet', 'foreign')
  const r = await runOnce(f.ns, f)
  t.is(r.code, 0, r.log)
  t.regex(r.log, /broken\.yaml/, 'the broken file is reported')
  const table = await nftTable(f.ns, 'inet', 'cinch')
  t.truthy(table, 'table inet cinch exists after --once')
  const chains = chainsOf(table)
  t.true(chains.includes('pod-ingress-x-a'), chains.join(' '))
  t.true(chains.includes('pod-egress-x-a'))
  t.false(chains.some((c) => c.includes('-x-b')), 'x/b has no attachment here: not programmed')
  t.deepEqual(await nftTable(f.ns, 'inet', 'foreign'), foreignBefore)
})

test('an agent restart keeps the rules in force throughout; --cleanup removes only cinch tables', async (t) => {
  const f = await fixture(t)
  await attach(f.state, 'a', '10.9.0.2', 'cinchaaaaaaaaaa')
  t.is((await runOnce(f.ns, f)).code, 0)
  await inNetns(f.ns, 'nft', ['add', 'table', 'inet', 'foreign'])
  // Watch the table while a second agent starts and replaces it: it must never be missing.
  let done = false
  let missing = 0
  let seen = 0
  const watcher = (async () => {
    while (!done) {
      const chains = chainsOf(await nftTable(f.ns, 'inet', 'cinch'))
      if (!chains.includes('pod-ingress-x-a')) missing++
      seen++
    }
  })()
  const r = await runOnce(f.ns, f)
  done = true
  await watcher
  t.is(r.code, 0, r.log)
  t.true(seen > 3, `listed the table ${seen} times during the restart`)
  t.is(missing, 0, 'the pod chain was missing in some listings during the restart')
  const c = spawnAgentInNetns(cleanupFor(t), f.ns, ['--cleanup'])
  await new Promise((res) => c.on('close', res))
  t.is(await nftTable(f.ns, 'inet', 'cinch'), null)
  t.truthy(await nftTable(f.ns, 'inet', 'foreign'))
})

test('the daemon answers an ADD notice once the pod\'s rules are in, and serves status and metrics', async (t) => {
  const f = await fixture(t)
  await attach(f.state, 'a', '10.9.0.2', 'cinchaaaaaaaaaa')
  const sock = join(f.dir, 'agent.sock')
  const agent = spawnAgentInNetns(cleanupFor(t), f.ns, ['--manifests', f.m, '--node', 'n1', '--state-dir', f.state, '--socket', sock, '--cni-conf', join(f.dir, 'none.conflist')])
  t.teardown(() => void agent.kill('SIGTERM'))
  await waitFor('the agent to be ready', () => agent.log().includes('agent ready') || agent.exitCode !== null, { timeoutMs: 10_000 })
  t.regex(agent.log(), /agent ready/)
  t.false(chainsOf(await nftTable(f.ns, 'inet', 'cinch')).includes('pod-ingress-x-b'))

  await attach(f.state, 'b', '10.9.0.3', 'cinchbbbbbbbbbb')
  const reply = await tsInNetns(
    f.ns,
    `import { connect } from 'node:net';
     const s = connect(${JSON.stringify(sock)});
     s.write(JSON.stringify({ op: 'add', containerId: 'c-b', ifName: 'eth0', podNamespace: 'x', podName: 'b', ips: ['10.9.0.3/24'] }) + '\\n');
     s.on('data', (d) => { process.stdout.write(String(d)); s.end() });`,
  )
  t.deepEqual(JSON.parse(reply), { ok: true })
  // The reply promised the rules are in: no waiting here.
  t.true(chainsOf(await nftTable(f.ns, 'inet', 'cinch')).includes('pod-ingress-x-b'))

  const status = await tsInNetns(f.ns, `const r = await fetch('http://127.0.0.1:9476/status'); console.log(await r.text())`)
  const s = JSON.parse(status)
  t.true(s.ready)
  t.deepEqual(s.localPods.map((p: any) => `${p.namespace}/${p.name}`).sort(), ['x/a', 'x/b'])
  const metrics = await tsInNetns(f.ns, `const r = await fetch('http://127.0.0.1:9476/metrics'); console.log(await r.text())`)
  t.regex(metrics, /cinch_sync_duration_seconds_count\{mode="full"\} 1/)
  t.regex(metrics, /cinch_nft_rules [1-9]/)
  t.regex(metrics, /cinch_policy_packets_total\{policy="x\/deny-all",verdict="dropped"\} \d+/)
  const cli = await inNetns(f.ns, process.execPath, ['--import', 'tsx/esm', 'cli/main.ts', 'status'])
  t.regex(cli, /ready:\s+yes/)
  t.regex(cli, /x\/b 10\.9\.0\.3/)
})
