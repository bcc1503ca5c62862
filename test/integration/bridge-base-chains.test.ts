// `bridge cinch` with real frames (no agent: renderFull loaded with nft into a namespace of ours):
// what its chains drop and count, fail closed and fail open. The anti-spoofing chain accepts a
// pod's own IPv4 first (bench/README.md "phase 7i"); these hold that the reordered chain still
// drops and counts a forged IPv4 source, a forged ARP sender and a forged IPv6 source from a
// programmed veth; the guard's chains accept frames between programmed veths first: that an
// unprogrammed `cinch*` veth passes no IP to or from pods or to the node, nor gets any from the
// node (fail closed), and passes it with failOpen, whose bridge table has no base
// chain but the anti-spoofing one (an empty one would still be called for every frame).
import test, { type ExecutionContext } from 'ava'
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { emptyIR, type PolicyIR } from '../../policy-agent/compile/ir.js'
import { renderFull } from '../../policy-agent/render/index.js'
import { cleanupFor } from '../kit/cleanup.js'
import { makeNetns, tempDir } from '../kit/netns.js'
import { inNetns, NFT } from '../kit/proc.js'

interface Pod { ns: string; veth: string; v4: string; v6: string; mac: string }

/** A bridge `cinch0` in a host namespace with three pods: a and b programmed, u not. */
function setup(t: ExecutionContext, failOpen: boolean) {
  const c = cleanupFor(t)
  const host = makeNetns(c, 'bbc-h')
  const sh = (ns: string, ...args: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8' })
  sh(host, 'ip', 'link', 'add', 'cinch0', 'type', 'bridge')
  sh(host, 'ip', 'addr', 'add', '10.88.0.1/24', 'dev', 'cinch0')
  sh(host, 'ip', '-6', 'addr', 'add', 'fd00:88::1/64', 'dev', 'cinch0', 'nodad')
  sh(host, 'ip', 'link', 'set', 'cinch0', 'up')
  const pods: Record<'a' | 'b' | 'u', Pod> = {} as never
  for (const [i, k] of (['a', 'b', 'u'] as const).entries()) {
    const ns = makeNetns(c, `bbc-${k}`)
    const p: Pod = { ns, veth: `cinch${k.repeat(10)}`, v4: `10.88.0.${i + 2}`, v6: `fd00:88::${i + 2}`, mac: `02:00:00:00:00:0${i + 2}` }
    sh(host, 'ip', 'link', 'add', p.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
    sh(host, 'ip', 'link', 'set', p.veth, 'master', 'cinch0', 'up')
    sh(ns, 'ip', 'link', 'set', 'eth0', 'address', p.mac, 'up')
    sh(ns, 'ip', 'addr', 'add', `${p.v4}/24`, 'dev', 'eth0')
    sh(ns, 'ip', '-6', 'addr', 'add', `${p.v6}/64`, 'dev', 'eth0', 'nodad')
    pods[k] = p
  }
  const ir: PolicyIR = { ...emptyIR(), veths: [pods.a.veth, pods.b.veth], vethAddrs: { [pods.a.veth]: [pods.a.v4, pods.a.v6], [pods.b.veth]: [pods.b.v4, pods.b.v6] } }
  const file = join(tempDir(c, 'cinch-bbc-'), 'full.nft')
  writeFileSync(file, renderFull(ir, { failOpen }))
  sh(host, NFT, '-f', file)
  const counter = (name: string) => Number(/packets (\d+)/.exec(sh(host, NFT, 'list', 'counter', 'bridge', 'cinch', name))![1])
  const hooks = () => [...sh(host, NFT, 'list', 'table', 'bridge', 'cinch').matchAll(/hook (\w+)/g)].map((m) => m[1])
  return { host, pods, counter, hooks }
}

/** True if `ping` from `ns` (optionally from source `src`) gets a reply within its bound. */
async function pings(ns: string, dst: string, o: { src?: string; count?: number } = {}): Promise<boolean> {
  const args = ['-c', String(o.count ?? 1), '-i', '0.2', '-W', '1', ...(o.src ? ['-I', o.src] : []), dst]
  return inNetns(ns, 'ping', dst.includes(':') ? ['-6', ...args] : args).then(() => true, () => false)
}

test('fail closed: honest traffic passes; forged IPv4, ARP and IPv6 sources are dropped and counted; an unprogrammed veth passes no IP', async (t) => {
  const { host, pods: { a, b, u }, counter, hooks } = setup(t, false)
  t.deepEqual(hooks(), ['prerouting', 'forward', 'input', 'output'])
  t.true(await pings(a.ns, b.v4, { count: 3 }), 'a -> b IPv4')
  t.true(await pings(a.ns, b.v6, { count: 3 }), 'a -> b IPv6')
  t.true(await pings(a.ns, '10.88.0.1', { count: 3 }), 'a -> the node')

  // A second address in the pod: its IPv4 with the neighbour known (no ARP), its ARP, its IPv6.
  execFileSync('ip', ['-n', a.ns, 'addr', 'add', '10.88.0.99/24', 'dev', 'eth0'])
  execFileSync('ip', ['-n', a.ns, '-6', 'addr', 'add', 'fd00:88::99/64', 'dev', 'eth0', 'nodad'])
  let before = counter('drop-spoofed')
  execFileSync('ip', ['-n', a.ns, 'neigh', 'replace', '10.88.0.20', 'lladdr', b.mac, 'dev', 'eth0'])
  execFileSync('ip', ['-n', b.ns, 'addr', 'add', '10.88.0.20/24', 'dev', 'eth0'])
  t.false(await pings(a.ns, '10.88.0.20', { src: '10.88.0.99' }), 'forged IPv4 source')
  t.true(counter('drop-spoofed') > before, 'forged IPv4 counted')
  before = counter('drop-spoofed')
  execFileSync('ip', ['-n', a.ns, 'neigh', 'flush', 'dev', 'eth0'])
  t.false(await pings(a.ns, '10.88.0.20', { src: '10.88.0.99' }), 'forged ARP sender (the request carries 10.88.0.99)')
  t.true(counter('drop-spoofed') > before, 'forged ARP counted')
  before = counter('drop-spoofed')
  execFileSync('ip', ['-n', a.ns, '-6', 'neigh', 'replace', b.v6, 'lladdr', b.mac, 'dev', 'eth0'])
  t.false(await pings(a.ns, b.v6, { src: 'fd00:88::99' }), 'forged IPv6 source')
  t.true(counter('drop-spoofed') > before, 'forged IPv6 counted')

  // The unprogrammed veth: nothing to or from pods (forward), to the node (input), from the node (output).
  before = counter('drop-unprogrammed')
  t.false(await pings(a.ns, u.v4), 'a -> u')
  t.false(await pings(u.ns, a.v4), 'u -> a')
  t.false(await pings(u.ns, '10.88.0.1'), 'u -> the node')
  t.false(await pings(host, u.v4), 'the node -> u')
  t.false(await pings(u.ns, a.v6), 'u -> a IPv6')
  t.true(counter('drop-unprogrammed') >= before + 5, 'each counted')
})

test('fail open: only the anti-spoofing chain is hooked; the unprogrammed veth passes, forged sources still do not', async (t) => {
  const { host, pods: { a, b, u }, counter, hooks } = setup(t, true)
  t.deepEqual(hooks(), ['prerouting'])
  t.true(await pings(a.ns, u.v4, { count: 3 }), 'a -> u')
  t.true(await pings(u.ns, a.v4, { count: 3 }), 'u -> a')
  t.true(await pings(u.ns, '10.88.0.1', { count: 3 }), 'u -> the node')
  t.true(await pings(host, u.v4, { count: 3 }), 'the node -> u')
  t.true(await pings(u.ns, a.v6, { count: 3 }), 'u -> a IPv6')
  execFileSync('ip', ['-n', a.ns, 'addr', 'add', '10.88.0.99/24', 'dev', 'eth0'])
  execFileSync('ip', ['-n', a.ns, 'neigh', 'replace', b.v4, 'lladdr', b.mac, 'dev', 'eth0'])
  const before = counter('drop-spoofed')
  t.false(await pings(a.ns, b.v4, { src: '10.88.0.99' }), 'forged IPv4 source')
  t.true(counter('drop-spoofed') > before, 'counted')
})
