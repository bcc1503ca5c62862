// Anti-spoofing (issue 8.1), with real packets on a live agent: a pod may send only from the
// addresses cinch-bridge gave it. A raw packet with a made-up source (CAP_NET_RAW), a second
// address (NET_ADMIN) and a forged allowed peer's address must all die at the pod's bridge port,
// while ordinary traffic, IPv6 neighbour discovery and DAD still work. The last test removes the
// anti-spoofing chain (the rules as they were before it) and shows the same attacks get through,
// so these tests can fail.
import test from 'ava'
import { addPod, applyManifests, Cleanup, fetchAgent, inNs, makeNodeCluster, type ModelPod, type NodeCluster, type Pod, serve, startAgent, waitListening, writeManifests } from './netpol-helpers.js'
import { spawnInNetns } from '../kit/proc.js'
import { waitFor } from '../kit/wait.js'
import { reachable } from '../kit/probe.js'

const cleanup = new Cleanup()
let c: NodeCluster
const pod = (key: string) => c.pods.get(key)!
const RECV_PORT = 5000

// Sends one UDP datagram with a chosen source through a raw socket (Node has no raw sockets).
// IPv4: IP_HDRINCL on IPPROTO_RAW; IPv6: IPPROTO_RAW sockets carry the header too (raw(7)).
const SPOOF = String.raw`
import socket, struct, sys
src, dst, port, payload = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].encode()
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s & 0xffff) or 0xffff
udp_len = 8 + len(payload)
if ':' in src:
    s6, d6 = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
    udp = struct.pack('!HHHH', 40000, port, udp_len, 0) + payload
    c = csum(s6 + d6 + struct.pack('!IxxxB', udp_len, 17) + udp)
    udp = struct.pack('!HHHH', 40000, port, udp_len, c) + payload
    ip = struct.pack('!IHBB', 6 << 28, udp_len, 17, 64) + s6 + d6
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sock.sendto(ip + udp, (dst, 0))
else:
    s4, d4 = socket.inet_aton(src), socket.inet_aton(dst)
    udp = struct.pack('!HHHH', 40000, port, udp_len, 0) + payload
    c = csum(s4 + d4 + struct.pack('!xBH', 17, udp_len) + udp)
    udp = struct.pack('!HHHH', 40000, port, udp_len, c) + payload
    hdr = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + udp_len, 1, 0, 64, 17, 0, s4, d4)
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    sock.sendto(hdr + udp, (dst, 0))
`

// Logs every datagram received on RECV_PORT (v4 and v6) as "<source> <payload>".
const RECEIVER = `
const s = require('dgram').createSocket({ type: 'udp6', ipv6Only: false })
s.on('message', (m, r) => process.stdout.write(r.address.replace(/^::ffff:/, '') + ' ' + m + '\\n'))
s.bind(${RECV_PORT})
`
const received = new Map<string, () => string>()

function spoof(from: Pod, src: string, dst: string, payload: string): Promise<string> {
  return inNs(from.netns, '/usr/bin/python3', ['-c', SPOOF, src, dst, String(RECV_PORT), payload])
}

/** Sends `payload` from `src` (forged), then a plain datagram from `barrier`; true if the forged one arrived. */
async function delivered(o: { from: Pod; src: string; to: Pod; family: 4 | 6; barrier: Pod }): Promise<boolean> {
  const tag = `spoof-${Math.random().toString(36).slice(2, 8)}`
  const dst = o.family === 4 ? o.to.v4 : o.to.v6
  for (let i = 0; i < 3; i++) await spoof(o.from, o.src, dst, tag)
  // A datagram sent after the forged ones, on the same bridge: once it is in, they would be too.
  const mark = `mark-${tag}`
  await inNs(o.barrier.netns, process.execPath, ['-e', `const s=require('dgram').createSocket('udp${o.family}');s.send(${JSON.stringify(mark)},${RECV_PORT},${JSON.stringify(dst)},()=>s.close())`])
  await waitFor(`the barrier datagram at ${o.to.key}`, () => received.get(o.to.key)!().includes(mark), { timeoutMs: 10_000 })
  return received.get(o.to.key)!().includes(`${o.src} ${tag}`)
}

const policy = (namespace: string, name: string, spec: object) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace, name }, spec })
const PODS: ModelPod[] = [
  { namespace: 's', name: 'attacker', labels: { app: 'attacker' }, ports: [] },
  { namespace: 't', name: 'db', labels: { app: 'db' }, ports: [] },
  { namespace: 't', name: 'client', labels: { app: 'client' }, ports: [] },
  { namespace: 'u', name: 'mallory', labels: { app: 'mallory' }, ports: [] },
]
const MANIFESTS = {
  namespaces: { s: {}, t: {}, u: {} },
  pods: PODS,
  policies: [
    // The attacker may send nothing at all.
    policy('s', 'deny-egress', { podSelector: {}, policyTypes: ['Egress'] }),
    // db accepts only its client.
    policy('t', 'db-from-client', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }] }] }),
  ],
}

test.before(async () => {
  c = makeNodeCluster(cleanup, 'as')
  for (const p of PODS) await addPod(c, p.namespace, p.name)
  for (const p of c.pods.values()) {
    serve(c, p)
    received.set(p.key, spawnInNetns(c.cleanup, p.netns, process.execPath, ['-e', RECEIVER]).log)
  }
  await waitListening(c)
  writeManifests(c, MANIFESTS)
  await startAgent(c)
  await applyManifests(c, MANIFESTS)
})
test.after.always(() => cleanup.run())

test.serial('the policies hold for honest traffic, over IPv4 and IPv6 (ND works across the bridge)', async (t) => {
  // Neighbour entries forgotten: the IPv6 probes need neighbour discovery to pass the bridge.
  for (const p of c.pods.values()) await inNs(p.netns, 'ip', ['-6', 'neigh', 'flush', 'all'])
  t.deepEqual(await reachable(pod('t/client').netns, { proto: 'tcp', port: 80, ips: [pod('t/db').v4, pod('t/db').v6] }), [true, true], 'client -> db')
  t.deepEqual(await reachable(pod('u/mallory').netns, { proto: 'tcp', port: 80, ips: [pod('t/db').v4, pod('t/db').v6, pod('t/client').v6] }), [false, false, true], 'mallory -> db denied, -> client allowed')
  t.deepEqual(await reachable(pod('s/attacker').netns, { proto: 'tcp', port: 80, ips: [pod('u/mallory').v4, pod('u/mallory').v6] }), [false, false], 'the attacker is under egress deny-all')
  await inNs(pod('u/mallory').netns, 'ping', ['-6', '-c', '1', '-W', '3', pod('t/client').v6])
  t.pass()
})

/** The agent's count of dropped spoofed packets (/metrics, from the bridge table's counter). */
async function spoofedDropped(): Promise<number> {
  const m = /^cinch_spoofed_packets_dropped_total (\d+)/m.exec(await fetchAgent(c, '/metrics'))
  if (!m) throw new Error('cinch_spoofed_packets_dropped_total missing from /metrics')
  return Number(m[1])
}

test.serial('a raw IPv4 packet with a made-up source does not escape egress deny-all', async (t) => {
  const before = await spoofedDropped()
  t.false(await delivered({ from: pod('s/attacker'), src: '10.244.1.250', to: pod('u/mallory'), family: 4, barrier: pod('t/client') }))
  t.false(await delivered({ from: pod('s/attacker'), src: '198.51.100.7', to: pod('u/mallory'), family: 4, barrier: pod('t/client') }))
  t.true((await spoofedDropped()) >= before + 2, 'operators see the drops in /metrics')
})

test.serial('a raw IPv6 packet with a made-up source does not escape egress deny-all', async (t) => {
  t.false(await delivered({ from: pod('s/attacker'), src: 'fd00:10:244:1::fa', to: pod('u/mallory'), family: 6, barrier: pod('t/client') }))
  t.false(await delivered({ from: pod('s/attacker'), src: 'fe80::1', to: pod('u/mallory'), family: 6, barrier: pod('t/client') }))
})

test.serial('forging an allowed peer does not pass another pod\'s ingress rule', async (t) => {
  // mallory is under no policy itself: only db's ingress (from client only) stands in the way.
  t.false(await delivered({ from: pod('u/mallory'), src: pod('t/client').v4, to: pod('t/db'), family: 4, barrier: pod('t/client') }))
  t.false(await delivered({ from: pod('u/mallory'), src: pod('t/client').v6, to: pod('t/db'), family: 6, barrier: pod('t/client') }))
})

test.serial('a second address (NET_ADMIN) cannot complete TCP', async (t) => {
  const a = pod('s/attacker')
  t.teardown(() => Promise.all([
    inNs(a.netns, 'ip', ['addr', 'del', '10.244.1.251/24', 'dev', 'eth0']).catch(() => {}),
    inNs(a.netns, 'ip', ['-6', 'addr', 'del', 'fd00:10:244:1::fb/64', 'dev', 'eth0']).catch(() => {}),
  ]))
  await inNs(a.netns, 'ip', ['addr', 'add', '10.244.1.251/24', 'dev', 'eth0'])
  await inNs(a.netns, 'ip', ['-6', 'addr', 'add', 'fd00:10:244:1::fb/64', 'dev', 'eth0', 'nodad'])
  t.false(await tcpFrom(a, '10.244.1.251', pod('u/mallory').v4), 'IPv4')
  t.false(await tcpFrom(a, 'fd00:10:244:1::fb', pod('u/mallory').v6), 'IPv6')
})

test.serial('duplicate address detection still works between pods (NS from ::, NA back)', async (t) => {
  // mallory tries to take client's IPv6 address with DAD on: client's answer must reach it.
  const m = pod('u/mallory'), dup = pod('t/client').v6
  t.teardown(() => inNs(m.netns, 'ip', ['-6', 'addr', 'del', `${dup}/64`, 'dev', 'eth0']).catch(() => {}))
  await inNs(m.netns, 'sysctl', ['-qw', 'net.ipv6.conf.eth0.accept_dad=1'])
  await inNs(m.netns, 'ip', ['-6', 'addr', 'add', `${dup}/64`, 'dev', 'eth0'])
  await waitFor('DAD to detect the duplicate', async () => /dadfailed/.test(await inNs(m.netns, 'ip', ['-6', 'addr', 'show', 'dev', 'eth0'])), { timeoutMs: 10_000 })
  t.pass()
})

test.serial('control: without the anti-spoofing chain (the old rules), the same attacks get through', async (t) => {
  await inNs(c.host, 'nft', ['flush', 'chain', 'bridge', 'cinch', 'prerouting'])
  t.true(await delivered({ from: pod('s/attacker'), src: '10.244.1.250', to: pod('u/mallory'), family: 4, barrier: pod('t/client') }), 'made-up IPv4 source')
  t.true(await delivered({ from: pod('s/attacker'), src: 'fd00:10:244:1::fa', to: pod('u/mallory'), family: 6, barrier: pod('t/client') }), 'made-up IPv6 source')
  t.true(await delivered({ from: pod('u/mallory'), src: pod('t/client').v4, to: pod('t/db'), family: 4, barrier: pod('t/client') }), 'forged allowed peer')
  const a = pod('s/attacker')
  await inNs(a.netns, 'ip', ['addr', 'add', '10.244.1.251/24', 'dev', 'eth0'])
  t.true(await tcpFrom(a, '10.244.1.251', pod('u/mallory').v4), 'second address')
})

/** A TCP handshake from `src` (an address of the pod) to `dst`:80 within 2 s. */
async function tcpFrom(p: Pod, src: string, dst: string): Promise<boolean> {
  const code = `const s=require('net').connect({host:${JSON.stringify(dst)},port:80,localAddress:${JSON.stringify(src)}});` +
    `const t=setTimeout(()=>{process.stdout.write('no');process.exit(0)},2000);` +
    `s.on('connect',()=>{process.stdout.write('yes');process.exit(0)});s.on('error',()=>{process.stdout.write('no');process.exit(0)})`
  return (await inNs(p.netns, process.execPath, ['-e', code])) === 'yes'
}
