// NfnlSocket sends a request or a batch and reads its answers in the caller's turn
// (lib/net/netlink-sync.ts): nf_tables answers inside the sendmsg, so an agent knows its commit
// without waiting a turn of its event loop behind everything else the loop has. Going around the
// `netlink` binding needs the socket's own descriptor, found by its port; a port is unique only
// within a namespace (the binding's numbering repeats after 1,024 sockets), and a socket must never
// send on, or read from, another namespace's socket.
import test from 'ava'
import { execFileSync } from 'node:child_process'
import { RawNetlinkSocket } from 'netlink/dist/raw.js'
import { NETLINK_NETFILTER, NFNL_SUBSYS, NfnlSocket } from '../../lib/net/nfnetlink.js'
import { withNetns } from '../../lib/net/netns.js'
import { attr, str } from '../../lib/net/tlv.js'
import { cleanupFor } from '../kit/cleanup.js'
import { makeNetns, nsPath } from '../kit/netns.js'
import { NFT } from '../kit/proc.js'

const NFT_MSG_NEWTABLE = 0
const NFT_MSG_GETGEN = 16
const NFPROTO_INET = 1
const NLM_F_CREATE = 0x400
const newTable = (name: string) => ({ subsys: NFNL_SUBSYS.NFTABLES, msg: NFT_MSG_NEWTABLE, family: NFPROTO_INET, flags: NLM_F_CREATE, attrs: attr(1, str(name)) })
const getGen = { subsys: NFNL_SUBSYS.NFTABLES, msg: NFT_MSG_GETGEN, family: 0 }

/** Whether `p` settles within a few microtasks, that is, without a turn of the event loop. */
async function settlesWithoutATurn(p: Promise<unknown>): Promise<boolean> {
  let settled = false
  p.then(() => (settled = true), () => (settled = true))
  for (let i = 0; i < 5; i++) await Promise.resolve()
  return settled
}

const accepted = (r: { errnos: number[]; batchErrno: number }) => r.batchErrno === 0 && r.errnos.every((e) => e === 0)
const tablesIn = (ns: string) => execFileSync('ip', ['netns', 'exec', ns, NFT, 'list', 'tables'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).sort()

test('a batch is committed and answered in the turn that sends it, and so is a request', async (t) => {
  const cleanup = cleanupFor(t)
  const ns = makeNetns(cleanup, 'cinch-t-nfnow')
  const sock = withNetns(nsPath(ns), () => new NfnlSocket())
  cleanup.add(() => sock.close())
  const batch = sock.batch([newTable('now')], { resId: NFNL_SUBSYS.NFTABLES, timeoutMs: 5000 })
  t.true(await settlesWithoutATurn(batch), 'the batch\'s answer was read as it was sent')
  t.true(accepted(await batch))
  t.deepEqual(tablesIn(ns), ['table inet now'])
  const gen = sock.request([getGen], { timeoutMs: 5000 })
  t.true(await settlesWithoutATurn(gen), 'the request\'s answer was read as it was sent')
  t.true((await gen).every((e) => e === 0))
})

test('sockets of two namespaces bound to one port each commit in their own namespace', async (t) => {
  const cleanup = cleanupFor(t)
  const a = makeNetns(cleanup, 'cinch-t-nfnow-a')
  const b = makeNetns(cleanup, 'cinch-t-nfnow-b')
  const inA = withNetns(nsPath(a), () => new NfnlSocket())
  cleanup.add(() => inA.close())
  // The binding numbers its sockets' ports `pid | counter << 22`, the counter wrapping at 1,024
  // (netlink/dist/raw.js generateLocalPort): 1,023 sockets later (here, in this namespace, where
  // none of those ports is taken), the next one gets A's port back, free in B's namespace.
  for (let i = 0; i < 1023; i++) new RawNetlinkSocket(NETLINK_NETFILTER).close()
  const inB = withNetns(nsPath(b), () => new NfnlSocket())
  cleanup.add(() => inB.close())
  // The premise: the port alone cannot tell these two apart.
  t.is(inA.port, inB.port)
  const [ra, rb] = await Promise.all([
    inB.batch([newTable('only-b')], { resId: NFNL_SUBSYS.NFTABLES, timeoutMs: 5000 }),
    inA.batch([newTable('only-a')], { resId: NFNL_SUBSYS.NFTABLES, timeoutMs: 5000 }),
  ])
  t.true(accepted(ra) && accepted(rb))
  t.deepEqual(tablesIn(a), ['table inet only-a'])
  t.deepEqual(tablesIn(b), ['table inet only-b'])
})

test('a send the kernel refuses fails its request at once, naming the errno', async (t) => {
  const cleanup = cleanupFor(t)
  const ns = makeNetns(cleanup, 'cinch-t-nfnow-big')
  const sock = withNetns(nsPath(ns), () => new NfnlSocket())
  cleanup.add(() => sock.close())
  // One datagram (eight requests of 60 KB) past the socket's send buffer (net.core.wmem_default).
  const big = { ...getGen, attrs: attr(0x3fff, Buffer.alloc(60_000)) }
  t.true(8 * 60_000 > sock.sendBuffer(), `the premise: a send buffer of ${sock.sendBuffer()} bytes`)
  const p = sock.request(Array.from({ length: 8 }, () => big), { timeoutMs: 5000 })
  t.true(await settlesWithoutATurn(p), 'refused as it was sent, not by the timeout')
  await t.throwsAsync(p, { message: /sendmsg: EMSGSIZE/ })
})
