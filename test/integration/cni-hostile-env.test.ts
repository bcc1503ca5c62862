// Hostile CNI environments against the built cinch-bridge (+ host-local or cinch-ipam), in
// namespaces of our own (issue 8, items 7-10, and the holes found next to them). Each case is what a
// careless runtime or an attacker controlling a pod's name could pass; each must end in the spec's
// error object with the right code, and leave nothing behind: no veth, no lease, no record, no
// masquerade element, and nothing of a live pod's removed.
import test, { type ExecutionContext } from 'ava'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { bare, makeNode, makeNs, nsPath, ping, pluginConf, runBridge, sh, type Node } from './bridge-helpers.js'

const leases = (node: Node, net = 'tnet'): string[] => {
  const dir = join(node.dir, 'ipam', net)
  return existsSync(dir) ? readdirSync(dir).filter((f) => /^[0-9a-f.:]+$/.test(f) && (f.includes('.') || f.includes(':'))) : []
}
const records = (node: Node): string[] => {
  const dir = join(node.dir, 'state/attachments')
  return existsSync(dir) ? readdirSync(dir) : []
}
const hostVeths = (node: Node): string[] => sh('ip', '-n', node.host, '-o', 'link', 'show').split('\n').map((l) => l.split(':')[1]?.trim().split('@')[0]).filter((n) => n?.startsWith('cinch') && n !== 'cinch0')
const natTable = (node: Node): string => {
  try {
    return sh('ip', 'netns', 'exec', node.host, '/usr/sbin/nft', 'list', 'table', 'inet', 'cinch-nat')
  } catch {
    return '' // never created
  }
}
const podHasEth0 = (pod: string): boolean => {
  try {
    sh('ip', '-n', pod, 'link', 'show', 'eth0')
    return true
  } catch {
    return false
  }
}

/** What a failed ADD must leave: nothing of its own. */
function assertNothingLeft(t: ExecutionContext, node: Node, pod?: string): void {
  t.deepEqual(hostVeths(node), [], 'no host veth left')
  t.deepEqual(leases(node), [], 'no lease left')
  t.deepEqual(records(node), [], 'no attachment record left')
  t.notRegex(natTable(node), /elements = \{ \d/, 'no masquerade element left')
  if (pod) t.false(podHasEth0(pod), 'no interface left in the pod')
}

const repeatedAdd = test.macro(async (t, ipam: Record<string, unknown>) => {
  const node = makeNode(t, { ipam })
  const pa = makeNs(t, 'rpa')
  const pb = makeNs(t, 'rpb')
  const first = await node.cnictl('add', nsPath(pa), 'ctr-a')
  t.is(first.code, 0, first.err)
  const [a4, a6] = JSON.parse(first.out).ips.map((ip: { address: string }) => bare(ip.address))
  const vethsBefore = hostVeths(node)

  // The same container and interface again, as a confused runtime would.
  const again = await runBridge(node, { verb: 'ADD', conf: pluginConf(node), netns: nsPath(pa), id: 'ctr-a' })
  t.is(again.code, 1)
  t.true(leases(node).includes(a4) && leases(node).includes(a6), 'pod A keeps both leases')
  t.like(again.json, { code: 999, msg: 'container ctr-a already has interface eth0 on network tnet' })
  t.regex(readFileSync(join(node.dir, 'ipam/tnet', a4), 'utf8'), /^ctr-a\r?\neth0/)
  t.deepEqual(hostVeths(node), vethsBefore, "pod A's host veth stays")
  t.regex(sh('ip', '-n', pa, 'addr', 'show', 'dev', 'eth0'), new RegExp(`inet ${a4.replace(/\./g, '\\.')}/24`))
  t.true(natTable(node).includes(a4), "pod A's masquerade stays")
  t.true(records(node).includes('ctr-a_eth0.json'), "pod A's record stays")

  // The next pod gets another address, and both work.
  const second = await node.cnictl('add', nsPath(pb), 'ctr-b')
  t.is(second.code, 0, second.err)
  const [b4, b6] = JSON.parse(second.out).ips.map((ip: { address: string }) => bare(ip.address))
  t.not(b4, a4)
  t.not(b6, a6)
  t.true(ping(pb, a4), 'pod B reaches pod A')
})
test('a repeated ADD fails without freeing the live pod\'s address, veth or masquerade (8.7), host-local', repeatedAdd, {})
test('a repeated ADD fails without freeing the live pod\'s address, veth or masquerade (8.7), cinch-ipam', repeatedAdd, { type: 'cinch-ipam' })

test('GC without cni.dev/valid-attachments is refused (code 7) and removes nothing (8.8)', async (t) => {
  const node = makeNode(t, { ipam: { type: 'cinch-ipam', gcMinAgeSeconds: 0 } })
  const pod = makeNs(t, 'gc')
  const conf = pluginConf(node, { cniVersion: '1.1.0' })
  const r = await runBridge(node, { verb: 'ADD', conf, netns: nsPath(pod), id: 'ctr-gc' })
  t.is(r.code, 0, JSON.stringify(r.json))
  const ip4 = bare(r.json.ips[0].address)

  const g = await runBridge(node, { verb: 'GC', conf })
  t.is(g.code, 1)
  t.like(g.json, { code: 7, details: 'cni.dev/valid-attachments: is required for GC' })
  t.true(records(node).includes('ctr-gc_eth0.json'), 'record kept')
  t.true(natTable(node).includes(ip4), 'masquerade kept')
  t.true(leases(node).includes(ip4), 'lease kept')

  // A list that names the pod still collects nothing of it; an empty list collects it.
  const keep = await runBridge(node, { verb: 'GC', conf: { ...conf, 'cni.dev/valid-attachments': [{ containerID: 'ctr-gc', ifname: 'eth0' }] } })
  t.is(keep.code, 0, JSON.stringify(keep.json))
  t.true(records(node).includes('ctr-gc_eth0.json'))
  const none = await runBridge(node, { verb: 'GC', conf: { ...conf, 'cni.dev/valid-attachments': [] } })
  t.is(none.code, 0, JSON.stringify(none.json))
  t.deepEqual(records(node), [])
  t.false(natTable(node).includes(ip4))
})

test('hostile CNI_CONTAINERID, CNI_IFNAME and CNI_ARGS are refused with code 4 before anything changes (8.9)', async (t) => {
  const node = makeNode(t)
  const pod = makeNs(t, 'env')
  const cases: { name: string; id?: string; ifName?: string; args?: string; details?: RegExp }[] = [
    { name: 'an ID that climbs out of the state directory', id: '../../victim/pwn' },
    { name: 'an ID with a newline (the lease file holds two lines)', id: 'ctr\nx' },
    { name: 'an ID starting with a dash', id: '-rf' },
    { name: 'an ID longer than a record file name', id: 'c'.repeat(300), details: /more than a file name can hold/ },
    { name: 'an interface name of 8 two-byte characters (16 bytes)', ifName: 'éééééééé', details: /16 bytes/ },
    { name: 'an interface name with a slash', ifName: 'eth/0' },
    { name: 'a pod name with nft syntax', args: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=evil { }' },
    { name: 'a namespace that is a path', args: 'K8S_POD_NAMESPACE=../../etc;K8S_POD_NAME=web' },
    { name: 'a MAC that is none', args: 'MAC=0a:58:zz' },
    { name: 'a multicast MAC (the kernel refuses it only after IPAM ran)', args: 'MAC=01:00:5e:00:00:01' },
  ]
  for (const c of cases) {
    const r = await runBridge(node, { verb: 'ADD', conf: pluginConf(node), netns: nsPath(pod), id: c.id ?? 'ctr-env', ifName: c.ifName, env: c.args ? { CNI_ARGS: c.args } : {} })
    t.is(r.code, 1, c.name)
    t.is(r.json?.code, 4, `${c.name}: ${JSON.stringify(r.json)}`)
    if (c.details) t.regex(r.json?.details ?? '', c.details, c.name)
  }
  t.false(existsSync(join(node.dir, 'victim')), 'nothing written outside the state directory')
  assertNothingLeft(t, node, pod)

  // libcni refuses such IDs itself; K8S_POD_NAME reaches the plugin through it unchanged.
  const viaLibcni = await node.cnictl('add', nsPath(pod), 'ctr-env', { env: { CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=evil { }' } })
  t.not(viaLibcni.code, 0)
  t.regex(viaLibcni.err, /K8S_POD_NAME is not a Kubernetes pod name/)
  assertNothingLeft(t, node, pod)
})

test('CNI_NETNS naming the plugin\'s own namespace is refused (code 4): no host interface is configured or deleted (8.9)', async (t) => {
  const node = makeNode(t)
  sh('ip', '-n', node.host, 'link', 'add', 'victim0', 'type', 'bridge')
  const add = await runBridge(node, { verb: 'ADD', conf: pluginConf(node), netns: '/proc/self/ns/net', id: 'ctr-self', ifName: 'victim1' })
  t.like(add.json, { code: 4, msg: "CNI_NETNS is the plugin's own network namespace" })
  t.throws(() => sh('ip', '-n', node.host, 'link', 'show', 'victim1'), undefined, 'no pod interface in the host namespace')
  assertNothingLeft(t, node)

  // DEL with no host veth would delete CNI_IFNAME "in the pod": here, the host's own interface.
  const del = await runBridge(node, { verb: 'DEL', conf: pluginConf(node), netns: '/proc/self/ns/net', id: 'ctr-self', ifName: 'victim0' })
  t.like(del.json, { code: 4 })
  t.notThrows(() => sh('ip', '-n', node.host, 'link', 'show', 'victim0'), 'the host interface survives')

  // A path that is no namespace at all is refused too (ADD), and is "gone" for DEL (SPEC).
  const notNs = await runBridge(node, { verb: 'ADD', conf: pluginConf(node), netns: '/etc/hostname', id: 'ctr-self' })
  t.like(notNs.json, { code: 4, msg: 'CNI_NETNS is not a network namespace' })
  const delGone = await runBridge(node, { verb: 'DEL', conf: pluginConf(node), netns: '/etc/hostname', id: 'ctr-self' })
  t.is(delGone.code, 0, JSON.stringify(delGone.json))
  assertNothingLeft(t, node)
})

test('a 60-character network name and a long container ID masquerade and DEL cleanly (nft comments fit) (8.9)', async (t) => {
  const node = makeNode(t)
  const pod = makeNs(t, 'long')
  const name = 'n'.repeat(60)
  const id = 'c'.repeat(200)
  const conf = pluginConf(node, { name })
  const r = await runBridge(node, { verb: 'ADD', conf, netns: nsPath(pod), id })
  t.is(r.code, 0, JSON.stringify(r.json))
  const ip4 = bare(r.json.ips[0].address)
  t.true(natTable(node).includes(ip4), 'masqueraded')
  t.true(ping(pod, '10.244.1.1'))
  const d = await runBridge(node, { verb: 'DEL', conf, netns: nsPath(pod), id })
  t.is(d.code, 0, JSON.stringify(d.json))
  t.false(natTable(node).includes(ip4), 'masquerade removed by DEL')
  t.deepEqual(leases(node, name), [])
})

test('a missing IPAM plugin is an error object and a clean rollback, not an empty stdout (8.10)', async (t) => {
  const node = makeNode(t)
  const pod = makeNs(t, 'noipam')
  const conf = pluginConf(node)
  const r = await runBridge(node, { verb: 'ADD', conf: { ...conf, ipam: { ...conf.ipam, type: 'no-such-ipam' } }, netns: nsPath(pod), id: 'ctr-noipam' })
  t.is(r.code, 1)
  t.like(r.json, { code: 7, msg: 'failed to find plugin "no-such-ipam" in path [' + r.json?.msg?.split('[')[1] })
  assertNothingLeft(t, node, pod)
  // The next ADD and DEL of the same pod work.
  const ok = await runBridge(node, { verb: 'ADD', conf, netns: nsPath(pod), id: 'ctr-noipam' })
  t.is(ok.code, 0, JSON.stringify(ok.json))
  const d = await runBridge(node, { verb: 'DEL', conf, netns: nsPath(pod), id: 'ctr-noipam' })
  t.is(d.code, 0, JSON.stringify(d.json))
})

test('nft missing: ADD prints the error object and rolls back veth and lease (8.10)', async (t) => {
  const node = makeNode(t)
  const pod = makeNs(t, 'nonft')
  // A mount namespace of the plugin's own in which neither /usr/sbin/nft can be executed nor
  // libnftables loaded (lib/nft falls back from one to the other): nothing in the plugin knows it is tested.
  const wrap = ['unshare', '-m', 'sh', '-c', 'mount --bind /dev/null /usr/sbin/nft && mount --bind /dev/null "$(readlink -f /usr/lib/x86_64-linux-gnu/libnftables.so.1)" && exec "$@"', 'hide-nft']
  const r = await runBridge(node, { verb: 'ADD', conf: pluginConf(node), netns: nsPath(pod), id: 'ctr-nonft', wrap })
  t.is(r.code, 1, r.stderr)
  t.like(r.json, { code: 999 })
  t.regex(r.json?.details ?? '', /nft/)
  assertNothingLeft(t, node, pod)
})

test('garbage in stdin: oversized, a malformed prevResult (DEL still cleans up, CHECK refuses), a bad runtimeConfig', async (t) => {
  const node = makeNode(t)
  const pod = makeNs(t, 'stdin')
  const conf = pluginConf(node)
  const huge = await runBridge(node, { verb: 'ADD', conf: JSON.stringify({ ...conf, pad: 'x'.repeat(4 << 20) }), netns: nsPath(pod), id: 'ctr-in' })
  t.like(huge.json, { code: 6, msg: 'network config on stdin is too large' })
  const mac = await runBridge(node, { verb: 'ADD', conf: { ...conf, runtimeConfig: { mac: '0a:58:00:00:00:01"; flush ruleset' } }, netns: nsPath(pod), id: 'ctr-in' })
  t.like(mac.json, { code: 7 })
  assertNothingLeft(t, node, pod)

  const r = await runBridge(node, { verb: 'ADD', conf, netns: nsPath(pod), id: 'ctr-in' })
  t.is(r.code, 0, JSON.stringify(r.json))
  const garbage = { cniVersion: conf.cniVersion, interfaces: [{ name: 'eth0', sandbox: nsPath(pod) }], ips: [{ address: '10.244.1.9/24 } flush ruleset', interface: 0 }] }
  const c = await runBridge(node, { verb: 'CHECK', conf: { ...conf, prevResult: garbage }, netns: nsPath(pod), id: 'ctr-in' })
  t.like(c.json, { code: 6 })
  const d = await runBridge(node, { verb: 'DEL', conf: { ...conf, prevResult: garbage }, netns: nsPath(pod), id: 'ctr-in' })
  t.is(d.code, 0, JSON.stringify(d.json))
  assertNothingLeft(t, node, pod)
})
