// cinch-bridge and the agent socket (lib/state/README.md), rollback of a failed ADD, STATUS and GC.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, utimesSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { makeNode, makeNs, nsPath, pluginConf, runBridge, sh, type Node } from './bridge-helpers.js'

/** A fake agent on the node's socket answering each line with `reply` (or never, if undefined). */
async function fakeAgent(t: import('ava').ExecutionContext, node: Node, reply?: object): Promise<object[]> {
  const seen: object[] = []
  const server: Server = createServer((sock) => {
    let buf = ''
    sock.on('data', (d) => {
      buf += d.toString()
      if (!buf.includes('\n')) return
      seen.push(JSON.parse(buf.slice(0, buf.indexOf('\n'))))
      if (reply) sock.end(JSON.stringify(reply) + '\n')
    })
    sock.on('error', () => {})
  })
  await new Promise<void>((res) => server.listen(join(node.dir, 'agent.sock'), res))
  t.teardown(() => new Promise<void>((res) => server.close(() => res())))
  return seen
}

const leases = (node: Node) => readdirSync(join(node.dir, 'ipam/tnet')).filter((f) => /^[0-9a-f.:]+$/.test(f))

test('ADD waits for the agent; DEL tells it', async (t) => {
  const node = makeNode(t)
  const seen = await fakeAgent(t, node, { ok: true })
  const pod = makeNs(t, 'ag')
  const r = await node.cnictl('add', nsPath(pod), 'ctr-ag', { env: { CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web' } })
  t.is(r.code, 0, r.err)
  const ips = JSON.parse(r.out).ips.map((ip: { address: string }) => ip.address)
  t.deepEqual(seen[0], { op: 'add', containerId: 'ctr-ag', ifName: 'eth0', podNamespace: 'ns1', podName: 'web', ips })
  const d = await node.cnictl('del', nsPath(pod), 'ctr-ag')
  t.is(d.code, 0, d.err)
  t.deepEqual(seen[1], { op: 'del', containerId: 'ctr-ag', ifName: 'eth0' })
})

test('an agent refusal fails ADD with code 11 and rolls back everything', async (t) => {
  const node = makeNode(t)
  await fakeAgent(t, node, { ok: false, error: 'policy compile failed' })
  const pod = makeNs(t, 'rb')
  const r = await runBridge(node, { verb: 'ADD', conf: pluginConf(node), netns: nsPath(pod), id: 'ctr-rb' })
  t.is(r.code, 1)
  t.is(r.json.code, 11)
  t.regex(r.json.details, /policy compile failed/)
  t.throws(() => sh('ip', '-n', pod, 'link', 'show', 'eth0'), undefined, 'pod interface removed')
  t.notRegex(sh('ip', '-n', node.host, 'link'), /cinch[0-9a-f]{10}/, 'host veth removed')
  t.false(existsSync(join(node.dir, 'state/attachments/ctr-rb_eth0.json')), 'record removed')
  t.deepEqual(leases(node), [], 'IPAM allocation released')
  t.notRegex(sh('ip', 'netns', 'exec', node.host, '/usr/sbin/nft', 'list', 'table', 'inet', 'cinch-nat'), /10\.244\.1\./, 'masquerade removed')
})

test('an agent that never answers fails ADD with code 11 after policyTimeoutMs', async (t) => {
  const node = makeNode(t)
  await fakeAgent(t, node)
  const pod = makeNs(t, 'to')
  const started = Date.now()
  const r = await runBridge(node, { verb: 'ADD', conf: pluginConf(node, { policyTimeoutMs: 300 }), netns: nsPath(pod), id: 'ctr-to' })
  t.is(r.json?.code, 11)
  t.true(Date.now() - started < 5000)
  t.deepEqual(leases(node), [])
})

test('with policyRequired and no agent listening, ADD fails with code 11 and rolls back; without it, ADD goes on', async (t) => {
  const node = makeNode(t)
  const pod = makeNs(t, 'rq')
  const r = await runBridge(node, { verb: 'ADD', conf: pluginConf(node, { policyRequired: true }), netns: nsPath(pod), id: 'ctr-rq' })
  t.is(r.json?.code, 11)
  t.regex(r.json.msg, /no network policy agent is listening/)
  t.deepEqual(leases(node), [], 'IPAM allocation released')
  t.throws(() => sh('ip', '-n', pod, 'link', 'show', 'eth0'), undefined, 'pod interface removed')
  const ok = await runBridge(node, { verb: 'ADD', conf: pluginConf(node), netns: nsPath(pod), id: 'ctr-rq' })
  t.is(ok.code, 0, JSON.stringify(ok.json))
})

test('STATUS is 50 when IPAM cannot serve, 0 otherwise', async (t) => {
  const node = makeNode(t)
  // Debian's host-local speaks up to 1.0.0: asked for STATUS at 1.1.0 it refuses, so ADD could not work.
  const bad = await runBridge(node, { verb: 'STATUS', conf: pluginConf(node, { cniVersion: '1.1.0' }) })
  t.is(bad.json?.code, 50)
  const none = await runBridge(node, { verb: 'STATUS', conf: pluginConf(node, { cniVersion: '1.1.0', ipam: undefined }) })
  t.is(none.code, 0, JSON.stringify(none.json))
})

test('GC removes records and masquerade of attachments not in valid-attachments', async (t) => {
  const node = makeNode(t)
  const [pa, pb] = [makeNs(t, 'gca'), makeNs(t, 'gcb')]
  const ra = await node.cnictl('add', nsPath(pa), 'ctr-gca')
  const rb = await node.cnictl('add', nsPath(pb), 'ctr-gcb')
  t.is(ra.code + rb.code, 0, ra.err + rb.err)
  const ipA = JSON.parse(ra.out).ips[0].address.split('/')[0]
  const ipB = JSON.parse(rb.out).ips[0].address.split('/')[0]
  // GC at 1.1.0 without IPAM (Debian's host-local has no GC): our own records and elements only.
  // An ADD killed between writing its record's temp file and renaming it, whose DEL never came.
  const dead = spawnSync('true').pid as number
  const abandoned = join(node.dir, `state/attachments/.ctr-gcc_eth0.json.${dead}.a1b2c3.tmp`)
  writeFileSync(abandoned, '{"half":')
  utimesSync(abandoned, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000))
  const conf = pluginConf(node, { cniVersion: '1.1.0', ipam: undefined, 'cni.dev/valid-attachments': [{ containerID: 'ctr-gcb', ifname: 'eth0' }] })
  const g = await runBridge(node, { verb: 'GC', conf })
  t.is(g.code, 0, JSON.stringify(g.json))
  t.false(existsSync(join(node.dir, 'state/attachments/ctr-gca_eth0.json')))
  t.false(existsSync(abandoned), 'an abandoned record temp file is removed')
  t.true(existsSync(join(node.dir, 'state/attachments/ctr-gcb_eth0.json')))
  const nat = sh('ip', 'netns', 'exec', node.host, '/usr/sbin/nft', 'list', 'table', 'inet', 'cinch-nat')
  t.false(nat.includes(`${ipA} `), 'stale masquerade removed')
  t.true(nat.includes(`${ipB} `), 'valid masquerade kept')
})
