// cinch-bridge + reference host-local, driven through libcni (cnictl) in namespaces of our own.
import test from 'ava'
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { bare, makeNode, makeNs, nsPath, ping, sh } from './bridge-helpers.js'

test('two pods reach each other and the gateway over IPv4 and IPv6; CHECK; DEL twice', async (t) => {
  const node = makeNode(t)
  const pa = makeNs(t, 'pa')
  const pb = makeNs(t, 'pb')
  const env = { CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-a' }
  const ra = await node.cnictl('add', nsPath(pa), 'ctr-a', { env })
  t.is(ra.code, 0, ra.err)
  const rb = await node.cnictl('add', nsPath(pb), 'ctr-b')
  t.is(rb.code, 0, rb.err)
  const a = JSON.parse(ra.out)
  const b = JSON.parse(rb.out)

  // The result feeds portmap/tuning/bandwidth: the container iface has a sandbox, ips point at it.
  t.is(a.interfaces[2].name, 'eth0')
  t.is(a.interfaces[2].sandbox, nsPath(pa))
  t.true(a.ips.every((ip: { interface: number }) => ip.interface === 2))
  t.regex(a.interfaces[1].name, /^cinch[0-9a-f]{10}$/)
  const [a4, a6] = a.ips.map((ip: { address: string }) => bare(ip.address))
  const [b4, b6] = b.ips.map((ip: { address: string }) => bare(ip.address))
  t.regex(a4, /^10\.244\.1\./)
  t.regex(a6, /^fd00:10:244:1::/)

  // IPv6 is usable the moment ADD returns: no tentative address, no waiting.
  t.notRegex(sh('ip', '-n', pa, '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'global'), /tentative/)
  t.true(ping(pa, b4), 'pod a -> pod b over IPv4')
  t.true(ping(pa, b6), 'pod a -> pod b over IPv6')
  t.true(ping(pb, a6), 'pod b -> pod a over IPv6')
  t.true(ping(pa, '10.244.1.1'), 'pod -> gateway over IPv4')
  t.true(ping(pa, 'fd00:10:244:1::1'), 'pod -> gateway over IPv6')
  t.regex(sh('ip', '-n', pa, 'route'), /default via 10\.244\.1\.1 dev eth0/)
  t.regex(sh('ip', '-n', node.host, 'link', 'show', a.interfaces[1].name), /master cinch0/)
  t.regex(sh('ip', '-n', node.host, '-d', 'link', 'show', a.interfaces[1].name), /hairpin on/)
  t.is(sh('ip', 'netns', 'exec', node.host, 'cat', '/proc/sys/net/ipv4/ip_forward').trim(), '1')

  // Masquerade for the pod's addresses, in our own table only.
  const nat = sh('ip', 'netns', 'exec', node.host, '/usr/sbin/nft', 'list', 'table', 'inet', 'cinch-nat')
  t.true(nat.includes(a4) && nat.includes(a6))

  // The attachment record the agent reads.
  const rec = JSON.parse(readFileSync(join(node.dir, 'state/attachments/ctr-a_eth0.json'), 'utf8'))
  t.like(rec, { containerId: 'ctr-a', ifName: 'eth0', netns: nsPath(pa), podNamespace: 'default', podName: 'pod-a', hostVeth: a.interfaces[1].name, bridge: 'cinch0', network: 'tnet' })
  t.deepEqual(rec.ips, a.ips.map((ip: { address: string }) => ip.address))

  // CHECK passes, then names what differs once the pod's address is gone.
  const c1 = await node.cnictl('check', nsPath(pa), 'ctr-a')
  t.is(c1.code, 0, c1.err)
  sh('ip', '-n', pa, 'addr', 'del', `${a4}/24`, 'dev', 'eth0')
  const c2 = await node.cnictl('check', nsPath(pa), 'ctr-a')
  t.is(c2.code, 1)
  t.regex(c2.err, new RegExp(`address ${a4.replace(/\./g, '\\.')}/24 missing on eth0`))

  // DEL twice: both succeed; everything ADD made is gone.
  const d1 = await node.cnictl('del', nsPath(pa), 'ctr-a')
  t.is(d1.code, 0, d1.err)
  const d2 = await node.cnictl('del', nsPath(pa), 'ctr-a')
  t.is(d2.code, 0, d2.err)
  t.false(existsSync(join(node.dir, 'state/attachments/ctr-a_eth0.json')))
  t.throws(() => sh('ip', '-n', node.host, 'link', 'show', a.interfaces[1].name))
  t.throws(() => sh('ip', '-n', pa, 'link', 'show', 'eth0'))
  t.false(existsSync(join(node.dir, 'ipam/tnet', a4)), 'IPv4 lease released')
  const nat2 = sh('ip', 'netns', 'exec', node.host, '/usr/sbin/nft', 'list', 'table', 'inet', 'cinch-nat')
  t.false(nat2.includes(`${a4} `) || nat2.includes(`${a6} `), 'masquerade elements removed')
  t.true(nat2.includes(b4), "the other pod's masquerade stays")
  t.true(ping(pb, '10.244.1.1'), 'the other pod still works')
})

test('DEL after the netns is gone succeeds and releases the addresses', async (t) => {
  const node = makeNode(t)
  const pod = makeNs(t, 'gone')
  const r = await node.cnictl('add', nsPath(pod), 'ctr-gone')
  t.is(r.code, 0, r.err)
  const ip4 = bare(JSON.parse(r.out).ips[0].address)
  t.true(existsSync(join(node.dir, 'ipam/tnet', ip4)))
  sh('ip', 'netns', 'del', pod)
  const d = await node.cnictl('del', nsPath(pod), 'ctr-gone')
  t.is(d.code, 0, d.err)
  t.false(existsSync(join(node.dir, 'ipam/tnet', ip4)), 'lease released although the netns is gone')
  t.deepEqual(readdirSync(join(node.dir, 'state/attachments')), [])
})

// The record is not fsynced (lib/state/attachments.ts): after a power cut it may come back empty,
// or as its length in zeros, while the lease (fsynced) is there. The runtime's DEL of the dead pod
// must still succeed, release the lease, remove the masquerade elements (from prevResult, which
// libcni passes) and the record; a failed DEL would be retried for ever.
test('DEL of a pod whose record a power cut left empty succeeds and cleans up', async (t) => {
  const node = makeNode(t)
  const pod = makeNs(t, 'cut')
  const r = await node.cnictl('add', nsPath(pod), 'ctr-cut')
  t.is(r.code, 0, r.err)
  const ip4 = bare(JSON.parse(r.out).ips[0].address)
  const record = join(node.dir, 'state/attachments/ctr-cut_eth0.json')
  writeFileSync(record, Buffer.alloc(statSync(record).size))
  sh('ip', 'netns', 'del', pod)
  const d = await node.cnictl('del', nsPath(pod), 'ctr-cut')
  t.is(d.code, 0, d.err)
  t.false(existsSync(record), 'the record removed')
  t.false(existsSync(join(node.dir, 'ipam/tnet', ip4)), 'the lease released')
  const nat = sh('ip', 'netns', 'exec', node.host, '/usr/sbin/nft', 'list', 'table', 'inet', 'cinch-nat')
  t.false(nat.includes(`${ip4} `), 'its masquerade element removed')
})

test('concurrent ADDs on a fresh node all succeed (bridge creation races are fine)', async (t) => {
  const node = makeNode(t)
  const pods = Array.from({ length: 4 }, (_, i) => makeNs(t, `race${i}`))
  const rs = await Promise.all(pods.map((p, i) => node.cnictl('add', nsPath(p), `ctr-race-${i}`)))
  for (const r of rs) t.is(r.code, 0, r.err)
  const ips = new Set(rs.map((r) => JSON.parse(r.out).ips[0].address))
  t.is(ips.size, 4)
  t.true(ping(pods[0], bare(JSON.parse(rs[3].out).ips[0].address)))
})
