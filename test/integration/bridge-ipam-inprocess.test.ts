// cinch-bridge with cinch-ipam in its own process (issue 13), a hung delegated IPAM plugin, and
// STATUS when the conflist requires the agent.
import test from 'ava'
import { execFile } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { CINCH_CNI_DIR, makeNode, makeNs, nsPath, pluginConf, runBridge, sh, tempDir } from './bridge-helpers.js'

const leases = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => /^[0-9a-f.:]+$/.test(f)) : [])

/** A CNI_PATH directory holding only the given plugins, as symlinks (Node resolves the bundle's modules from its real path). */
function cniDirWith(t: import('ava').ExecutionContext, names: string[], extra: Record<string, string> = {}): string {
  const dir = join(tempDir(t), 'bin')
  mkdirSync(dir)
  for (const n of names) symlinkSync(join(CINCH_CNI_DIR, n), join(dir, n))
  for (const [n, text] of Object.entries(extra)) {
    writeFileSync(join(dir, n), text)
    chmodSync(join(dir, n), 0o755)
  }
  return dir
}

test('cinch-ipam runs inside cinch-bridge: ADD, CHECK and DEL work with no cinch-ipam executable on CNI_PATH', async (t) => {
  const node = makeNode(t, { ipam: { type: 'cinch-ipam' } })
  const pod = makeNs(t, 'ip')
  const env = { CNI_PATH: cniDirWith(t, ['cinch-bridge']) }
  const conf = pluginConf(node, { ipMasq: false })
  const add = await runBridge(node, { verb: 'ADD', conf, netns: nsPath(pod), id: 'ctr-inproc', env })
  t.is(add.code, 0, JSON.stringify(add.json))
  const store = join(node.dir, 'ipam/tnet')
  t.deepEqual(leases(store).sort(), add.json.ips.map((ip: { address: string }) => ip.address.split('/')[0]).sort())
  for (const f of leases(store)) t.is(readFileSync(join(store, f), 'utf8'), 'ctr-inproc\r\neth0', 'host-local format')
  t.regex(sh('ip', '-n', pod, 'addr', 'show', 'eth0'), /10\.244\.1\.\d+\/24/)
  const check = await runBridge(node, { verb: 'CHECK', conf: { ...conf, prevResult: add.json }, netns: nsPath(pod), id: 'ctr-inproc', env })
  t.is(check.code, 0, JSON.stringify(check.json))
  const del = await runBridge(node, { verb: 'DEL', conf, netns: nsPath(pod), id: 'ctr-inproc', env })
  t.is(del.code, 0, JSON.stringify(del.json))
  t.deepEqual(leases(store), [], 'released')
})

test('in-process cinch-ipam errors keep their code and name the plugin', async (t) => {
  const node = makeNode(t, { ipam: { type: 'cinch-ipam', ranges: [[{ subnet: '10.1.0.0/33' }]] } })
  const pod = makeNs(t, 'ie')
  const r = await runBridge(node, { verb: 'ADD', conf: pluginConf(node, { ipMasq: false }), netns: nsPath(pod), id: 'ctr-ie', env: { CNI_PATH: cniDirWith(t, ['cinch-bridge']) } })
  t.is(r.json?.code, 7, JSON.stringify(r.json))
  t.regex(r.json.msg, /^cinch-ipam: /)
  t.regex(r.json.details, /ipam\.ranges\[0\]\[0\]\.subnet/)
  t.notRegex(sh('ip', '-n', node.host, 'link'), /cinch[0-9a-f]{10}/, 'nothing left on the host')
})

test('concurrent ADDs from cinch-bridge (in process) and the cinch-ipam executable share one lock: no address twice', async (t) => {
  const node = makeNode(t, { ipam: { type: 'cinch-ipam', ranges: [[{ subnet: '10.244.1.0/27' }]] } })
  const conf = pluginConf(node, { ipMasq: false })
  const ipamOnly = JSON.stringify({ cniVersion: conf.cniVersion, name: conf.name, ipam: conf.ipam })
  const pods = Array.from({ length: 8 }, (_, i) => makeNs(t, `c${i}`))
  const viaBridge = pods.map((p, i) => runBridge(node, { verb: 'ADD', conf, netns: nsPath(p), id: `ctr-b${i}` }))
  const viaExec = Array.from({ length: 8 }, (_, i) => new Promise<string>((resolve, reject) => {
    const env = { ...process.env, CNI_COMMAND: 'ADD', CNI_CONTAINERID: `ctr-x${i}`, CNI_NETNS: nsPath(pods[i]), CNI_IFNAME: 'net1', CNI_PATH: CINCH_CNI_DIR }
    const child = execFile(join(CINCH_CNI_DIR, 'cinch-ipam'), [], { env, encoding: 'utf8' }, (err, out) => (err ? reject(new Error(out)) : resolve(out)))
    child.stdin!.end(ipamOnly)
  }))
  const got = [
    ...(await Promise.all(viaBridge)).map((r) => { t.is(r.code, 0, JSON.stringify(r.json)); return r.json.ips[0].address }),
    ...(await Promise.all(viaExec)).map((out) => JSON.parse(out).ips[0].address),
  ]
  t.is(new Set(got).size, 16, `distinct addresses: ${got.join(' ')}`)
  t.is(leases(join(node.dir, 'ipam/tnet')).length, 16)
})

test('a hung delegated IPAM plugin is killed after ipamTimeoutMs: code 11, everything rolled back', async (t) => {
  // exec: the kill reaches the sleeping process itself, not a shell above it.
  const bin = cniDirWith(t, ['cinch-bridge'], { 'hung-ipam': '#!/bin/sh\nexec sleep 613\n' })
  const node = makeNode(t, { ipam: { type: 'hung-ipam' } })
  const pod = makeNs(t, 'hu')
  const started = Date.now()
  const r = await runBridge(node, { verb: 'ADD', conf: pluginConf(node, { ipMasq: false, ipamTimeoutMs: 400 }), netns: nsPath(pod), id: 'ctr-hung', env: { CNI_PATH: bin } })
  t.is(r.json?.code, 11, JSON.stringify(r.json))
  t.regex(r.json.msg, /hung-ipam ADD did not finish within 400 ms/)
  t.true(Date.now() - started < 15_000)
  t.throws(() => sh('ip', '-n', pod, 'link', 'show', 'eth0'), undefined, 'pod interface removed')
  t.notRegex(sh('ip', '-n', node.host, 'link'), /cinch[0-9a-f]{10}/, 'host veth removed')
  t.false(existsSync(join(node.dir, 'state/attachments/ctr-hung_eth0.json')), 'no record')
  t.notRegex(sh('ps', '-eo', 'args'), new RegExp(`sleep 613`), 'the hung plugin was killed')
})

test('STATUS is 50 when policyRequired and no agent listens, 0 once one does', async (t) => {
  const node = makeNode(t, { ipam: { type: 'cinch-ipam' } })
  const conf = pluginConf(node, { cniVersion: '1.1.0', policyRequired: true })
  const absent = await runBridge(node, { verb: 'STATUS', conf })
  t.is(absent.json?.code, 50, JSON.stringify(absent.json))
  t.regex(absent.json.msg, /no network policy agent is listening/)
  t.is((await runBridge(node, { verb: 'STATUS', conf: { ...conf, policyRequired: false } })).code, 0, 'not required: available')
  const server = createServer((s) => s.on('error', () => {}))
  await new Promise<void>((res) => server.listen(join(node.dir, 'agent.sock'), res))
  t.teardown(() => new Promise<void>((res) => server.close(() => res())))
  const up = await runBridge(node, { verb: 'STATUS', conf })
  t.is(up.code, 0, JSON.stringify(up.json))
})
