// The generation id adoption rests on (lib/nft/generation.ts), against this kernel:
// - a batch's answer carries the id of ITS commit: equal to GETGEN after it, one past the id
//   before it, two past when someone else committed in between; a refused batch commits nothing;
// - NLM_F_ECHO on the batch's first request (the no-op `add table` probe) brings back the NEWGEN
//   and nothing of the batch's objects; on BATCH_BEGIN it brings back nothing (the kernel pulls
//   BEGIN off the skb before the commit reads the first header); on a real first request it
//   echoes that request's object too (why the probe).
import test from 'ava'
import { execFileSync } from 'node:child_process'
import { RawNetlinkSocket } from 'netlink/dist/raw.js'
import { NftTable, type NftCommand } from '../../lib/nft/index.js'
import { encodeCommand } from '../../lib/nft/commands.js'
import { readGeneration, tableExists, NFT_MSG_NEWGEN } from '../../lib/nft/generation.js'
import { encodeNfnl, parseMessages, NETLINK_NETFILTER, NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END, NFNL_SUBSYS, NLM_F, NLMSG_ERROR, type NlMessage } from '../../lib/net/nfnetlink.js'
import { withNetns } from '../../lib/net/netns.js'
import { cleanupFor } from '../kit/cleanup.js'
import { makeNetns, nsPath } from '../kit/netns.js'
import { NFT } from '../kit/proc.js'
import { waitFor } from '../kit/wait.js'

const T = { family: 'inet', table: 'cinch' } as const
const chains = (n: number, from = 0): NftCommand[] => Array.from({ length: n }, (_, i) => ({ ...T, kind: 'chain', verb: 'add', name: `c${from + i}`, comment: `chain ${from + i}` }))

test('a batch resolves with its own commit\'s generation id, exactly', async (t) => {
  const ns = makeNetns(cleanupFor(t), 'cinch-t-gen')
  const netns = nsPath(ns)
  const table = new NftTable({ family: 'inet', name: 'cinch', netns })
  const g0 = await readGeneration({ netns })
  const first = await table.runCommands([{ ...T, kind: 'table', verb: 'add' }, ...chains(300)], { maxBytes: 1 << 20 })
  t.is(first.genId, g0 + 1, 'one commit since')
  t.is(await readGeneration({ netns }), first.genId!)
  execFileSync('ip', ['netns', 'exec', ns, NFT, 'add', 'table', 'inet', 'other'])
  const second = await table.runCommands(chains(1, 300))
  t.is(second.genId, first.genId! + 2, 'someone else\'s commit in between shows as a gap')
  // Refused (a chain that is not there): nothing committed, the id stays.
  await t.throwsAsync(table.runCommands([{ ...T, kind: 'chain', verb: 'delete', name: 'nope' }]))
  t.is(await readGeneration({ netns }), second.genId!)
  // The probe changes nothing of the table: a dormant one stays dormant through a diff.
  execFileSync('ip', ['netns', 'exec', ns, NFT, 'add', 'table', 'inet', 'cinch', '{ flags dormant; }'])
  await table.runCommands(chains(1, 301))
  t.regex(execFileSync('ip', ['netns', 'exec', ns, NFT, 'list', 'table', 'inet', 'cinch'], { encoding: 'utf8' }), /flags dormant/)
  // GETTABLE: what the proof asks besides the generation.
  t.true(await tableExists({ family: 'inet', name: 'cinch' }, { netns }))
  t.false(await tableExists({ family: 'bridge', name: 'cinch' }, { netns }))
  t.false(await tableExists({ family: 'inet', name: 'nope' }, { netns }))
})

/** Sends one batch on a raw socket in `netns` and returns every message the kernel sends back, up to the last request's ACK. */
async function exchange(netns: string, reqs: { m: ReturnType<typeof encodeCommand>[number]; flags: number }[], beginFlags = 0): Promise<NlMessage[]> {
  const sock = withNetns(netns, () => new RawNetlinkSocket(NETLINK_NETFILTER, { recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 }))
  try {
    const got: NlMessage[] = []
    const last = reqs.length // seqs: BEGIN 0 -> 100, requests 101.., END after
    sock.on('message', (buf: Buffer) => void got.push(...parseMessages(buf)))
    const delimiter = (msg: number, seq: number, flags: number) => encodeNfnl({ subsys: 0, msg, family: 0, resId: NFNL_SUBSYS.NFTABLES }, seq, flags)
    const msgs = [
      delimiter(NFNL_MSG_BATCH_BEGIN, 100, beginFlags),
      ...reqs.map((r, i) => encodeNfnl({ subsys: NFNL_SUBSYS.NFTABLES, msg: r.m.msg, family: r.m.family, flags: r.m.flags, attrs: r.m.attrs }, 101 + i, r.flags | (i === last - 1 ? NLM_F.ACK : 0))),
      delimiter(NFNL_MSG_BATCH_END, 101 + last, 0),
    ]
    await new Promise<void>((resolve, reject) => sock.send([Buffer.concat(msgs)], { port: 0 }, (err?: Error) => (err ? reject(err) : resolve())))
    await waitFor('the last request\'s ACK', () => got.some((m) => m.type === NLMSG_ERROR && m.seq === 100 + last), { timeoutMs: 5000 })
    return got
  } finally {
    sock.close()
  }
}

test('NLM_F_ECHO on the probe brings back the NEWGEN alone; on BATCH_BEGIN nothing; on a real first request its object too', async (t) => {
  const ns = makeNetns(cleanupFor(t), 'cinch-t-echo')
  const netns = nsPath(ns)
  const table = new NftTable({ family: 'inet', name: 'cinch', netns })
  await table.runCommands([{ ...T, kind: 'table', verb: 'add' }])
  const probe = encodeCommand({ ...T, kind: 'table', verb: 'add' })[0]!
  const newChains = (from: number) => chains(200, from).map((c) => ({ m: encodeCommand(c)[0]!, flags: 0 }))
  const kinds = (ms: NlMessage[]) => {
    const newgen = ms.filter((m) => m.type === ((NFNL_SUBSYS.NFTABLES << 8) | NFT_MSG_NEWGEN))
    return { newgen: newgen.length, newgenSeq: newgen.map((m) => m.seq), objects: ms.filter((m) => m.type !== NLMSG_ERROR && m.type >> 8 === NFNL_SUBSYS.NFTABLES && m.type !== ((NFNL_SUBSYS.NFTABLES << 8) | NFT_MSG_NEWGEN)).length }
  }

  const g0 = await readGeneration({ netns })
  const withProbe = kinds(await exchange(netns, [{ m: probe, flags: NLM_F.ECHO }, ...newChains(0)]))
  t.deepEqual(withProbe, { newgen: 1, newgenSeq: [101], objects: 0 }, 'the probe: the NEWGEN, none of the 200 chains')
  t.is(await readGeneration({ netns }), g0 + 1)

  t.deepEqual(kinds(await exchange(netns, newChains(200), NLM_F.ECHO)), { newgen: 0, newgenSeq: [], objects: 0 }, 'BEGIN\'s flag is never read')

  const [firstChain, ...rest] = newChains(400)
  t.deepEqual(kinds(await exchange(netns, [{ ...firstChain!, flags: NLM_F.ECHO }, ...rest])), { newgen: 1, newgenSeq: [101], objects: 1 }, 'a real first request: its own object echoed too')
})

// The probe is `add table`, which makes a missing table: a diff of new objects (chains, rules,
// sets) then commits into it, empty. The probe's own NEWTABLE is echoed only then, and the batch
// says so (the applier replaces the tables whole on it: applier.test.ts).
test('a batch whose table was deleted says that its probe made it anew; one on an existing table does not', async (t) => {
  const ns = makeNetns(cleanupFor(t), 'cinch-t-gen')
  const netns = nsPath(ns)
  const table = new NftTable({ family: 'inet', name: 'cinch', netns })
  // (kernelMs, the batch's round trip, is in every answer)
  const keys = (r: object) => Object.keys(r).filter((k) => k !== 'kernelMs').sort()
  t.deepEqual(keys(await table.runCommands([{ ...T, kind: 'table', verb: 'add' }, ...chains(1)])), ['genId', 'tableCreated'], 'the first batch makes it')
  t.deepEqual(keys(await table.runCommands(chains(1, 1))), ['genId'])
  execFileSync('ip', ['netns', 'exec', ns, NFT, 'delete', 'table', 'inet', 'cinch'])
  const r = await table.runCommands(chains(1, 2))
  t.true(r.tableCreated)
  t.true(await tableExists({ family: 'inet', name: 'cinch' }, { netns }), 'made anew, holding one chain')
})
