// lib/net against the real kernel, in namespaces this test creates and always deletes.
import test from 'ava'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync } from 'node:fs'
import {
  addAddress, closeRtnl, createVeth, createVxlan, deleteLinkByName, ensureAddress, ensureBridge, ensureFdb,
  ensureNeighbor, ensureRoute, ensureSysctl, getBridgePort, getLinkByName, ipBytes, listAddresses, listFdb,
  listRoutes, openNetns, openRtnl, readSysctl, setHairpin, setMaster, setUp, withNetns, type Rtnl,
} from '../../lib/net/index.js'

const sh = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

function makeNs(t: import('ava').ExecutionContext, role: string): string {
  const name = `cinch-t-net-${role}-${randomBytes(3).toString('hex')}`
  sh('ip', 'netns', 'add', name)
  t.teardown(() => { try { sh('ip', 'netns', 'del', name) } catch { /* already gone */ } })
  return name
}

function rtnlIn(t: import('ava').ExecutionContext, ns: string): Rtnl {
  const nl = withNetns(`/var/run/netns/${ns}`, openRtnl)
  t.teardown(() => closeRtnl(nl))
  return nl
}

test('bridge, veth with peer in the pod netns, hairpin, addresses, routes: pods reach the gateway', async (t) => {
  const host = makeNs(t, 'host')
  const pod = makeNs(t, 'pod')
  const hnl = rtnlIn(t, host)
  const pnl = rtnlIn(t, pod)

  // Two racing creations both succeed (EEXIST is success).
  const [br, br2] = await Promise.all([ensureBridge(hnl, { name: 'tbr0', mtu: 1400 }), ensureBridge(hnl, { name: 'tbr0' })])
  t.is(br.index, br2.index)
  t.regex(sh('ip', '-n', host, '-d', 'link', 'show', 'tbr0'), /bridge/)
  t.regex(sh('ip', '-n', host, 'link', 'show', 'tbr0'), /mtu 1400/)

  const fd = openNetns(`/var/run/netns/${pod}`)
  const veth = await createVeth(hnl, { name: 'cinchtest0', mtu: 1400, peer: { name: 'eth0', netnsFd: fd, mtu: 1400, mac: Buffer.from('0a580a000005', 'hex') } })
  closeSync(fd)
  t.is(veth.kind, 'veth')
  t.regex(sh('ip', '-n', pod, 'link', 'show', 'eth0'), /0a:58:0a:00:00:05/, 'peer created in the pod netns with its MAC')
  t.throws(() => sh('ip', '-n', host, 'link', 'show', 'eth0'), undefined, 'peer not in the host netns')

  await setMaster(hnl, veth.index, br.index)
  await setHairpin(hnl, veth.index, true)
  await setUp(hnl, veth.index)
  t.regex(sh('ip', '-n', host, '-d', 'link', 'show', 'cinchtest0'), /hairpin on/)
  t.deepEqual(await getBridgePort(hnl, veth.index), { hairpin: true })
  t.is((await getLinkByName(hnl, 'cinchtest0'))?.master, br.index)

  await ensureAddress(hnl, { index: br.index, cidr: '10.99.0.1/24' })
  await ensureAddress(hnl, { index: br.index, cidr: '10.99.0.1/24' }) // idempotent
  await ensureAddress(hnl, { index: br.index, cidr: 'fd99::1/64', noDad: true })
  const podIf = (await getLinkByName(pnl, 'eth0'))!
  withNetns(`/var/run/netns/${pod}`, () => ensureSysctl('net.ipv6.conf.eth0.accept_dad', '0'))
  t.is(sh('ip', 'netns', 'exec', pod, 'cat', '/proc/sys/net/ipv6/conf/eth0/accept_dad').trim(), '0')
  await setUp(pnl, podIf.index)
  await addAddress(pnl, { index: podIf.index, cidr: '10.99.0.5/24' })
  await addAddress(pnl, { index: podIf.index, cidr: 'fd99::5/64', noDad: true })
  await t.throwsAsync(addAddress(pnl, { index: podIf.index, cidr: '10.99.0.5/24' }), { message: /EEXIST/ })
  const addrs = await listAddresses(pnl, { index: podIf.index })
  t.true(addrs.some((a) => a.text === '10.99.0.5/24'))
  t.true(addrs.some((a) => a.text === 'fd99::5/64' && !a.tentative), 'IPv6 usable at once, not tentative')
  t.regex(sh('ip', '-n', pod, 'addr', 'show', 'eth0'), /10\.99\.0\.5\/24 brd 10\.99\.0\.255/)

  await ensureRoute(pnl, { dst: '0.0.0.0/0', gw: '10.99.0.1', index: podIf.index })
  await ensureRoute(pnl, { dst: '0.0.0.0/0', gw: '10.99.0.1', index: podIf.index })
  await ensureRoute(pnl, { dst: '::/0', gw: 'fd99::1', index: podIf.index })
  const routes = await listRoutes(pnl)
  t.true(routes.some((r) => r.dst === '0.0.0.0/0' && r.gw === '10.99.0.1'))
  t.true(routes.some((r) => r.dst === '::/0' && r.gw === 'fd99::1'))
  t.regex(sh('ip', '-n', pod, 'route'), /default via 10\.99\.0\.1 dev eth0/)

  sh('ip', 'netns', 'exec', pod, 'ping', '-c1', '-W2', '10.99.0.1')
  sh('ip', 'netns', 'exec', pod, 'ping', '-c1', '-W2', 'fd99::1')
  t.pass()

  t.true(await deleteLinkByName(hnl, 'cinchtest0'))
  t.false(await deleteLinkByName(hnl, 'cinchtest0'), 'deleting a missing link reports false, not an error')
  t.is(await getLinkByName(pnl, 'eth0'), undefined, 'deleting one end removes the peer')
})

test('sysctls written inside withNetns land in that namespace', (t) => {
  const host = makeNs(t, 'sys')
  withNetns(`/var/run/netns/${host}`, () => ensureSysctl('net.ipv4.ip_forward', '1'))
  t.is(sh('ip', 'netns', 'exec', host, 'cat', '/proc/sys/net/ipv4/ip_forward').trim(), '1')
  t.is(withNetns(`/var/run/netns/${host}`, () => readSysctl('net.ipv4.ip_forward')), '1')
  t.throws(() => withNetns('/var/run/netns/cinch-t-net-does-not-exist', () => 1), { code: 'ENOENT' })
})

test('vxlan device, fdb and neighbour entries', async (t) => {
  const host = makeNs(t, 'vx')
  const nl = rtnlIn(t, host)
  const vx = await createVxlan(nl, { name: 'vxtest', vni: 42, local: ipBytes('192.168.77.1'), port: 8472 })
  const d = sh('ip', '-n', host, '-d', 'link', 'show', 'vxtest')
  t.regex(d, /vxlan id 42 local 192\.168\.77\.1/)
  t.regex(d, /dstport 8472/)
  t.regex(d, /nolearning/)
  await setUp(nl, vx.index)
  await ensureFdb(nl, { index: vx.index, mac: '0a:58:0a:f4:02:00', dst: '192.168.77.2' })
  await ensureFdb(nl, { index: vx.index, mac: '0a:58:0a:f4:02:00', dst: '192.168.77.2' })
  t.regex(sh('bridge', '-n', host, 'fdb', 'show', 'dev', 'vxtest'), /0a:58:0a:f4:02:00 dst 192\.168\.77\.2 self permanent/)
  t.true((await listFdb(nl, vx.index)).some((f) => f.mac === '0a:58:0a:f4:02:00' && f.dst === '192.168.77.2'))
  await ensureNeighbor(nl, { index: vx.index, ip: '10.244.2.0', mac: '0a:58:0a:f4:02:00' })
  t.regex(sh('ip', '-n', host, 'neigh', 'show', 'dev', 'vxtest'), /10\.244\.2\.0 lladdr 0a:58:0a:f4:02:00 PERMANENT/)
})
