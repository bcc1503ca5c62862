// What a table holds, read straight from nf_tables over netlink: its named counters with their
// values, how many rules it has, and how many elements its sets and maps hold. For /metrics, which
// reports what the kernel enforces, on every scrape.
//
// Why not `nft -j list table`: nft 1.0.6 fetches and prints everything first, every rule and every
// element of every set. At 30k pods / 30k policies that is 280 ms for the table and still 160 ms for
// `list counters` (its cache fetch), on the agent's event loop, every scrape. Here the kernel dumps
// the counters (a few hundred objects), the rules are counted without being decoded, and elements
// are counted per set without being decoded.
//
// Message and attribute numbers: include/uapi/linux/netfilter/nf_tables.h.
import { NFNL_SUBSYS, NetlinkError, NfnlSocket, parseNfgen, type NlMessage } from '../net/nfnetlink.js'
import { withNetns } from '../net/netns.js'
import { attr, be32, parseAttrs, readStr, str } from '../net/tlv.js'
import { NFPROTO } from './elements.js'
import type { NftFamily } from './syntax.js'

const NFT_MSG_GETRULE = 7
const NFT_MSG_GETSET = 10
const NFT_MSG_GETSETELEM = 13
const NFT_MSG_GETOBJ = 19
const NFTA_RULE_TABLE = 1
const NFTA_SET_TABLE = 1
const NFTA_SET_NAME = 2
const NFTA_SET_FLAGS = 3
const NFT_SET_INTERVAL = 0x4
const NFTA_SET_ELEM_LIST_TABLE = 1
const NFTA_SET_ELEM_LIST_SET = 2
const NFTA_SET_ELEM_LIST_ELEMENTS = 3
const NFTA_SET_ELEM_FLAGS = 3
const NFT_SET_ELEM_INTERVAL_END = 0x1
const NFTA_OBJ_TABLE = 1
const NFTA_OBJ_NAME = 2
const NFTA_OBJ_TYPE = 3
const NFTA_OBJ_DATA = 4
const NFT_OBJECT_COUNTER = 1
const NFTA_COUNTER_BYTES = 1
const NFTA_COUNTER_PACKETS = 2
const ENOENT = 2

export interface TableRef {
  family: NftFamily
  name: string
  /** A path under /var/run/netns; the calling thread's namespace when absent. */
  netns?: string
}

export interface TableFigures {
  rules: number
  /** Elements of every set and map, an interval counted once (as nft lists it). */
  setElements: number
  counters: { name: string; packets: number; bytes: number }[]
}

/** The table's figures; a table that does not exist has none (all zero). */
export function readTableFigures(t: TableRef): Promise<TableFigures> {
  if (t.netns) return read(t)
  // One dump at a time on the kept socket: the kernel refuses a second while one runs (EBUSY).
  const next = ownQueue.then(() => read(t))
  ownQueue = next.catch(() => undefined)
  return next
}
let ownQueue: Promise<unknown> = Promise.resolve()

async function read(t: TableRef): Promise<TableFigures> {
  const own = !t.netns
  let mine: NfnlSocket | undefined
  // A dump that ends in an error closes its socket (NfnlSocket.dump), so each dump takes a live one.
  const sock = (): NfnlSocket => {
    if (own) return ownSocket()
    if (!mine || mine.closed) mine = withNetns(t.netns!, () => new NfnlSocket())
    return mine
  }
  try {
    const family = NFPROTO[t.family]
    const figures: TableFigures = { rules: 0, setElements: 0, counters: [] }
    await dump(sock, NFT_MSG_GETOBJ, family, Buffer.concat([attr(NFTA_OBJ_TABLE, str(t.name)), attr(NFTA_OBJ_TYPE, be32(NFT_OBJECT_COUNTER))]), (a) => {
      const data = a.get(NFTA_OBJ_DATA), name = a.get(NFTA_OBJ_NAME)
      if (!data || !name || readStr(a.get(NFTA_OBJ_TABLE) ?? Buffer.alloc(0)) !== t.name) return
      const c = parseAttrs(data)
      figures.counters.push({ name: readStr(name), packets: be64(c.get(NFTA_COUNTER_PACKETS)), bytes: be64(c.get(NFTA_COUNTER_BYTES)) })
    })
    await dump(sock, NFT_MSG_GETRULE, family, attr(NFTA_RULE_TABLE, str(t.name)), () => void figures.rules++)
    const sets: { name: string; interval: boolean }[] = []
    await dump(sock, NFT_MSG_GETSET, family, attr(NFTA_SET_TABLE, str(t.name)), (a) => {
      const name = a.get(NFTA_SET_NAME), flags = a.get(NFTA_SET_FLAGS)
      if (name) sets.push({ name: readStr(name), interval: !!flags && flags.length >= 4 && (flags.readUInt32BE(0) & NFT_SET_INTERVAL) !== 0 })
    })
    // Anonymous sets (`{ tcp . 80 }` in a rule) are sets too; nft counts their elements with the
    // rule, not the table's sets: skip them, as its listing does.
    for (const set of sets.filter((s) => !s.name.startsWith('__'))) {
      const req = Buffer.concat([attr(NFTA_SET_ELEM_LIST_TABLE, str(t.name)), attr(NFTA_SET_ELEM_LIST_SET, str(set.name))])
      await dump(sock, NFT_MSG_GETSETELEM, family, req, (a) => {
        const list = a.get(NFTA_SET_ELEM_LIST_ELEMENTS)
        if (list) figures.setElements += countElements(list, set.interval)
      })
    }
    return figures
  } catch (err) {
    if (own) dropOwnSocket()
    throw err
  } finally {
    mine?.close()
  }
}

/**
 * One dump; a table or set that is gone (ENOENT) is an empty dump. The kernel answers a GET with
 * the matching NEW messages (NFT_MSG_NEWRULE for NFT_MSG_GETRULE: one less, in nf_tables.h's order).
 */
async function dump(sock: () => NfnlSocket, msg: number, family: number, attrs: Buffer, each: (a: Map<number, Buffer>) => void): Promise<void> {
  try {
    await sock().dump({ subsys: NFNL_SUBSYS.NFTABLES, msg, family, attrs }, (m: NlMessage) => {
      const g = parseNfgen(m)
      if (g && g.msg === msg - 1) each(parseAttrs(g.attrs))
    })
  } catch (err) {
    if (err instanceof NetlinkError && err.errno === ENOENT) return
    throw err
  }
}

/**
 * Elements in one NFTA_SET_ELEM_LIST_ELEMENTS, without decoding keys. An interval of a plain
 * interval set is two kernel elements, its start and an end flagged INTERVAL_END; counting the
 * starts counts intervals, as nft lists them (concatenated ranges are one element with KEY_END).
 * Only an interval set's elements are looked into for the flag.
 */
function countElements(list: Buffer, interval: boolean): number {
  let n = 0
  let off = 0
  while (off + 4 <= list.length) {
    const len = list.readUInt16LE(off)
    if (len < 4 || off + len > list.length) break
    const flags = interval ? parseAttrs(list.subarray(off + 4, off + len)).get(NFTA_SET_ELEM_FLAGS) : undefined
    if (!flags || flags.length < 4 || (flags.readUInt32BE(0) & NFT_SET_ELEM_INTERVAL_END) === 0) n++
    off += (len + 3) & ~3
  }
  return n
}

function be64(b: Buffer | undefined): number {
  return b && b.length >= 8 ? Number(b.readBigUInt64BE(0)) : 0
}

// One socket for the process's own namespace, kept, and not elements-netlink.ts's: a dump that
// fails closes its socket (NfnlSocket.dump), which would fail a policy batch in flight on it and
// make the applier replace the tables whole because of a scrape. Kept: closing a NETLINK_NETFILTER socket makes
// nf_tables flush its pending destroy work (an RCU grace period after any deletion, by anyone),
// which would block the scrape's event loop turn for 7-8 ms (elements-netlink.ts).
let kept: NfnlSocket | undefined
function ownSocket(): NfnlSocket {
  if (!kept || kept.closed) kept = new NfnlSocket()
  return kept
}
function dropOwnSocket(): void {
  kept?.close()
  kept = undefined
}
