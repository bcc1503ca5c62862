// The declarations a full replace of a table needs beyond a diff's (commands.ts): the table itself,
// base chains, verdict maps, limits, and the set keys of the bridge table (ifname, ifname . addr,
// `typeof iifname . @th,64,128`). Encoded as nft 1.0.6 sends them for the policy renderer's
// renderFull text (strace of its sendmsg; full-netlink.test.ts holds the bytes). Pure.
//
//   table inet t / delete table inet t   NEWTABLE (flags 0: nft sends no CREATE) name, flags 0 / DELTABLE name
//   chain c { type filter hook H priority P; policy accept; }
//                                        NEWCHAIN CREATE  table, name, type "filter", policy accept,
//                                        hook { number, priority } (filter: 0 in inet, -200 in bridge)
//   map m { type ipv4_addr : verdict; }  NEWSET CREATE  flags MAP, key, data type verdict (0xffffff00)
//                                        and length 0, id, userdata (key and data byte order, data interval 0)
//   limit l { rate N/second burst B packets; }   NEWOBJ CREATE  type 4, { rate u64, unit 1 s, burst, type pkts, flags 0 }
import { attr, be32, nested, str, u32 } from '../net/tlv.js'
import { UnsupportedElements, type KeyPart } from './elements.js'

// include/uapi/linux/netfilter/nf_tables.h
export const NFT_MSG_TABLE = { NEW: 0, DEL: 2 } as const
const TABLE = { NAME: 1, FLAGS: 2 } as const
const CHAIN = { NAME: 3, HOOK: 4, POLICY: 5, TYPE: 7 } as const
const HOOK = { NUM: 1, PRIORITY: 2 } as const
const NF_ACCEPT = 1
/** include/uapi/linux/netfilter.h nf_inet_hooks (the bridge family numbers its hooks the same). */
const HOOK_NUM = { prerouting: 0, input: 1, forward: 2, output: 3, postrouting: 4 } as const
export type HookName = keyof typeof HOOK_NUM
/** nft's `filter` priority: NF_IP_PRI_FILTER (0) in inet, NF_BR_PRI_FILTER_BRIDGED (-200) in bridge. */
const FILTER_PRIORITY: Record<string, number> = { inet: 0, bridge: -200 }
const PRIORITY = /^filter(?: ([+-]) (0|[1-9][0-9]{0,3}))?$/

/** A table's name attribute, as every message on it carries first. */
export const tableAttr = (name: string): Buffer => attr(TABLE.NAME, str(name))

export function encodeTable(verb: 'add' | 'delete' | 'probe', name: string): { msg: number; flags: number; attrs: Buffer } {
  if (verb === 'delete') return { msg: NFT_MSG_TABLE.DEL, flags: 0, attrs: tableAttr(name) }
  // `add table` with the name alone: without NFTA_TABLE_FLAGS the kernel changes nothing of an
  // existing table (nf_tables_updtable returns at once), where flags 0 would wake a dormant one.
  if (verb === 'probe') return { msg: NFT_MSG_TABLE.NEW, flags: 0, attrs: tableAttr(name) }
  return { msg: NFT_MSG_TABLE.NEW, flags: 0, attrs: Buffer.concat([tableAttr(name), attr(TABLE.FLAGS, be32(0))]) }
}

/** A base chain's attributes after table and name: `type filter hook <hook> priority <p>; policy accept;`. */
export function baseChainAttrs(family: string, hook: string, priority: string): Buffer {
  const num = HOOK_NUM[hook as HookName]
  const m = PRIORITY.exec(priority)
  const base = FILTER_PRIORITY[family]
  if (num === undefined || !m || base === undefined) throw new UnsupportedElements(`base chain: hook ${hook} priority ${priority} in ${family} is not encoded`)
  const prio = base + (m[1] === '-' ? -1 : 1) * Number(m[2] ?? 0)
  return Buffer.concat([
    attr(CHAIN.TYPE, str('filter')), attr(CHAIN.POLICY, be32(NF_ACCEPT)),
    nested(CHAIN.HOOK, attr(HOOK.NUM, be32(num)), attr(HOOK.PRIORITY, be32(prio))),
  ])
}

// Sets (NFTA_SET_*) and their userdata (libnftnl's NFTNL_UDATA_SET_*).
const SET = { DATA_TYPE: 6, DATA_LEN: 7 } as const
export const NFT_SET_MAP = 0x8
const NFT_DATA_VERDICT = 0xffffff00
const UDATA_SET = { KEYBYTEORDER: 0, DATABYTEORDER: 1, KEY_TYPEOF: 3, DATA_INTERVAL: 6 } as const
const udata = (type: number, value: Buffer) => Buffer.concat([Buffer.from([type, value.length]), value])
const BYTEORDER = { HOST: 1, BIG_ENDIAN: 2 } as const

/** A verdict map's data attributes (after the key) and its userdata's byte order part. */
export const verdictMapData = (): Buffer => Buffer.concat([attr(SET.DATA_TYPE, be32(NFT_DATA_VERDICT)), attr(SET.DATA_LEN, be32(0))])
export const verdictMapUserdata = (): Buffer =>
  Buffer.concat([udata(UDATA_SET.KEYBYTEORDER, u32(BYTEORDER.BIG_ENDIAN)), udata(UDATA_SET.DATABYTEORDER, u32(0)), udata(UDATA_SET.DATA_INTERVAL, u32(0))])

/** nft's datatype ids (src/datatype.h) and sizes of the key parts cinch's sets use. */
export const KEY_TYPE: Partial<Record<KeyPart, [id: number, bytes: number]>> = {
  ipv4_addr: [7, 4], ipv6_addr: [8, 16], inet_proto: [12, 1], inet_service: [13, 2], ifname: [41, 16],
}
/** A single key's byte order as nft records it: strings (ifname) in host order, numbers big-endian. */
export const keyByteOrder = (k: KeyPart): number => (k === 'ifname' ? BYTEORDER.HOST : BYTEORDER.BIG_ENDIAN)

/**
 * `typeof` keys nft writes as datatype ids plus the expressions in userdata; only the one cinch
 * declares (anti-spoofing's neighbour-advert target: the ICMPv6 header's bits 64..191), with the
 * type, length and userdata nft 1.0.6 sent for it.
 */
export const TYPEOF_KEYS: Record<string, { type: number; len: number; udata: Buffer; key: KeyPart[] }> = {
  'iifname . @th,64,128': {
    type: (41 << 6) | 4, // ifname . integer
    len: 32,
    udata: Buffer.from('000400000000034000040d0000000138000e00040900000001060004060000000126000407000000011e000400000000010400000000020403000000030440000000040480000000', 'hex'),
    key: ['ifname', 'raw128'],
  },
}

// Limits (NFTA_LIMIT_*): the flow log budget.
const OBJ = { TABLE: 1, NAME: 2, TYPE: 3, DATA: 4 } as const
const NFT_OBJECT_LIMIT = 4
const LIMIT = { RATE: 1, UNIT: 2, BURST: 3, TYPE: 4, FLAGS: 5 } as const
const NFT_LIMIT_PKTS = 0
const u64be = (n: number) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b }

/** NEWOBJ attributes after the table of `limit <name> { rate <rate>/second burst <burst> packets; }`. */
export function limitAttrs(name: string, rate: number, burst: number): Buffer {
  if (!Number.isSafeInteger(rate) || rate < 1 || !Number.isInteger(burst) || burst < 0 || burst > 0xffffffff) {
    throw new UnsupportedElements(`limit ${name}: rate ${rate} burst ${burst} is not one nft takes as it is`)
  }
  return Buffer.concat([
    attr(OBJ.NAME, str(name)), attr(OBJ.TYPE, be32(NFT_OBJECT_LIMIT)),
    nested(OBJ.DATA, attr(LIMIT.RATE, u64be(rate)), attr(LIMIT.UNIT, u64be(1)), attr(LIMIT.BURST, be32(burst)), attr(LIMIT.TYPE, be32(NFT_LIMIT_PKTS)), attr(LIMIT.FLAGS, be32(0))),
  ])
}
