// IPAM leaks do not survive the agent: a pod whose namespace vanished without a DEL (a crashed
// runtime, a rebooted node) loses its address, masquerade and record to the agent's leak GC, after
// the grace period; a live pod keeps everything.
import test from 'ava'
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeNode, makeNs, nsPath, sh } from './bridge-helpers.js'
import { repoRoot } from '../kit/paths.js'
import { waitFor } from '../kit/wait.js'
import { killChild } from '../kit/proc.js'

function allocations(dir: string): string[] {
  const net = join(dir, 'ipam', 'tnet')
  return existsSync(net) ? readdirSync(net).filter((f) => /^[0-9a-f.:]+$/.test(f)) : []
}

test('the agent releases the address, masquerade and record of a pod whose netns is gone, and only those', async (t) => {
  const node = makeNode(t, { ipam: { type: 'cinch-ipam', gcMinAgeSeconds: 1 } })
  const conf = JSON.parse(readFileSync(node.conflist, 'utf8'))
  conf.plugins[0].ipam.dataDir = join(node.dir, 'ipam')
  conf.plugins[0].policyTimeoutMs = 0 // the pods exist before the agent
  writeFileSync(node.conflist, JSON.stringify(conf))
  const live = makeNs(t, 'live')
  const doomed = makeNs(t, 'doomed')
  for (const [ns, id] of [[live, 'live-1'], [doomed, 'doomed-1']] as const) {
    const r = await node.cnictl('add', nsPath(ns), id, { env: { CNI_ARGS: `K8S_POD_NAMESPACE=x;K8S_POD_NAME=${id}` } })
    t.is(r.code, 0, r.err)
  }
  t.is(allocations(node.dir).length, 4, 'two pods, dual stack')
  // The runtime vanishes with the pod: its netns goes, no DEL ever runs.
  sh('ip', 'netns', 'del', doomed)

  sh('ip', '-n', node.host, 'link', 'set', 'lo', 'up') // the agent's HTTP listens on 127.0.0.1
  const cniBin = join(node.dir, 'bin')
  sh('mkdir', '-p', cniBin)
  for (const p of ['cinch-bridge', 'cinch-ipam']) sh('ln', '-s', join(repoRoot, 'dist/cni', p), join(cniBin, p))
  const manifests = join(node.dir, 'manifests')
  sh('mkdir', '-p', manifests)
  const agent = spawn('ip', ['netns', 'exec', node.host, process.execPath, join(repoRoot, 'dist/bin/cinch'), 'agent',
    '--manifests', manifests, '--node', 'n1', '--state-dir', join(node.dir, 'state'), '--socket', join(node.dir, 'agent.sock'),
    '--metrics-addr', '127.0.0.1:0', '--cni-conf', node.conflist, '--cni-bin-dir', cniBin, '--no-overlay',
    '--gc-grace', '1', '--gc-interval', '2'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  agent.stdout.on('data', (b) => (log += b))
  agent.stderr.on('data', (b) => (log += b))
  agent.on('exit', (code) => (log += `\n[agent exited with ${code}]`))
  // Awaited, before the node's directory goes (teardowns run last first): an agent still stopping,
  // or the IPAM GC it ran, wrote the store's lock file into a directory already removed.
  t.teardown(() => killChild(agent, 'SIGTERM'))

  const records = () => readdirSync(join(node.dir, 'state', 'attachments'))
  t.teardown(() => t.log(log)) // shown when the test fails
  await waitFor("the orphan's record to go", () => !records().some((f) => f.startsWith('doomed-1')), { timeoutMs: 20_000 })
  await waitFor("the orphan's addresses to be released", () => allocations(node.dir).length === 2, { timeoutMs: 20_000 })
  const owners = allocations(node.dir).map((ip) => readFileSync(join(node.dir, 'ipam', 'tnet', ip), 'utf8').split(/\r?\n/)[0])
  t.deepEqual(owners, ['live-1', 'live-1'], 'the live pod keeps both its addresses')
  t.deepEqual(records().map((f) => f.split('_')[0]), ['live-1'])
  const masq = sh('ip', 'netns', 'exec', node.host, '/usr/sbin/nft', 'list', 'table', 'inet', 'cinch-nat')
  t.notRegex(masq, /doomed-1/, "the orphan's masquerade elements are gone")
  t.regex(masq, /live-1/, "the live pod's masquerade stays")
})
