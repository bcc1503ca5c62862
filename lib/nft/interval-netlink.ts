// The elements of an interval set (`flags interval`: ipBlock CIDRs, port ranges) ADDED IN THE
// SAME BATCH as the set, as nft 1.0.6 sends them; nothing else about interval sets. Pure.
//
// nft turns intervals into the kernel's start/end elements (its segtree): each interval [a, b]
// is a start element with key a and an end element (flag NFT_SET_ELEM_INTERVAL_END) with key
// b + 1; an interval reaching the last value has no end element, its start carries the element
// userdata "interval open" instead; and when the first interval does not start at 0, an end
// element with key 0 comes first. For `add set` + `add element` in one run, nft sends TWO
// NEWSETELEM messages (strace of its sendmsg, interval-netlink.test.ts holds the bytes): the
// set's elements as declared (with that leading 0 end element) and then the `add element`
// command's own (without it); the kernel takes the second as a repeat. Both name the set by its
// transaction id too. Elements added to an interval set that already exists would make nft read
// the set's elements and merge (no such diff here: a block set's name is the hash of its blocks),
// so only the batch that creates the set is encoded, its intervals sorted by value as nft sorts
// them; anything overlapping, adjacent (nft's merge rules) or larger than one message throws
// UnsupportedElements.
import { formatIp, parseIp } from '../ip/index.js'
import { attr, beBytes, nested, str } from '../net/tlv.js'
import { NFPROTO, NFT_MSG_NEWSETELEM, UnsupportedElements, type ElementCommand, type NftMessage } from './elements.js'

const NLM_F_CREATE = 0x400
const ELEM_LIST = { TABLE: 1, SET: 2, ELEMENTS: 3, SET_ID: 4 } as const
const ELEM = { KEY: 1, FLAGS: 3, USERDATA: 6 } as const
const NFTA_DATA_VALUE = 1
const NFT_SET_ELEM_INTERVAL_END = 1
// libnftnl udata: NFTNL_UDATA_SET_ELEM_FLAGS (1) = NFTNL_SET_ELEM_F_INTERVAL_OPEN (1), host order.
const OPEN = Buffer.from([1, 4, 1, 0, 0, 0])
const MAX_BYTES = 32 * 1024
const PORT = /^(0|[1-9][0-9]{0,4})$/

type Key = 'ipv4_addr' | 'ipv6_addr' | 'inet_service'
const BYTES: Record<Key, number> = { ipv4_addr: 4, ipv6_addr: 16, inet_service: 2 }

/** The NEWSETELEM messages nft sends for `c` right after adding its set (transaction id `setId`). */
export function encodeNewIntervalElements(c: ElementCommand, setId: number): NftMessage[] {
  const bad = (why: string) => new UnsupportedElements(`set ${c.set}: ${why}`)
  const key = c.key.length === 1 ? c.key[0] : undefined
  if (c.verb !== 'add' || c.verdict || (key !== 'ipv4_addr' && key !== 'ipv6_addr' && key !== 'inet_service')) throw bad('only added elements of a new address or port interval set are encoded')
  const bytes = BYTES[key]
  const max = (1n << BigInt(bytes * 8)) - 1n
  const ranges = c.elements.map((e) => parseRange(e, key) ?? (() => { throw bad(`${JSON.stringify(e.slice(0, 80))} is not an interval this encoder reads as nft does`) })())
  // In the kernel's order, as nft's segtree sends them: the IR lists elements in string order
  // ("10" < "80" < "8080" < "9", "10.0.0.0/8" < "9.0.0.0/8"), which is not the numbers' order.
  ranges.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i]![0] <= ranges[i - 1]![1] + 1n) throw bad('intervals unsorted, overlapping or adjacent (nft would merge or refuse them)')
  }
  const value = (v: bigint) => nested(ELEM.KEY, attr(NFTA_DATA_VALUE, beBytes(v, bytes)))
  const flags = attr(ELEM.FLAGS, Buffer.from([0, 0, 0, NFT_SET_ELEM_INTERVAL_END]))
  // Each element's nest is numbered 1, 2, ... in its message (libnftnl).
  const elements = (withZero: boolean): Buffer => {
    const els: Buffer[][] = []
    if (withZero && ranges.length && ranges[0]![0] !== 0n) els.push([flags, value(0n)])
    for (const [lo, hi] of ranges) {
      if (hi === max) els.push([value(lo), attr(ELEM.USERDATA, OPEN)])
      else els.push([value(lo)], [flags, value(hi + 1n)])
    }
    return nested(ELEM_LIST.ELEMENTS, ...els.map((parts, i) => nested(i + 1, ...parts)))
  }
  const head = Buffer.concat([attr(ELEM_LIST.TABLE, str(c.table)), attr(ELEM_LIST.SET, str(c.set)), attr(ELEM_LIST.SET_ID, beBytes(BigInt(setId), 4))])
  const out = [true, false].map((withZero) => ({ msg: NFT_MSG_NEWSETELEM, flags: NLM_F_CREATE, family: NFPROTO[c.family], attrs: Buffer.concat([head, elements(withZero)]) }))
  if (out[0]!.attrs.length > MAX_BYTES) throw bad('more intervals than one message holds')
  return out
}

/** `10.0.0.0/8`, `10.0.0.1-10.0.0.9`, `80`, `1000-2000` as [first, last]; undefined otherwise. */
function parseRange(text: string, key: Key): [bigint, bigint] | undefined {
  if (key === 'inet_service') {
    const [a, b, extra] = text.split('-')
    if (extra !== undefined || !PORT.test(a!) || (b !== undefined && !PORT.test(b))) return undefined
    const lo = BigInt(a!), hi = b === undefined ? lo : BigInt(b)
    return lo <= hi && hi <= 65535n ? [lo, hi] : undefined
  }
  const family = key === 'ipv4_addr' ? 4 : 6
  const bits = family === 4 ? 32 : 128
  const slash = text.split('/')
  if (slash.length === 2) {
    const a = parseIp(slash[0]!)
    if (!a || a.family !== family || formatIp(a) !== slash[0] || !/^(0|[1-9][0-9]{0,2})$/.test(slash[1]!)) return undefined
    const len = Number(slash[1])
    if (len > bits) return undefined
    const size = 1n << BigInt(bits - len)
    // nft refuses a prefix with host bits set; so does this (it would be nft's to say).
    if (a.value % size !== 0n) return undefined
    return [a.value, a.value + size - 1n]
  }
  const dash = text.split('-')
  if (dash.length > 2) return undefined
  const lo = parseIp(dash[0]!), hi = dash.length === 2 ? parseIp(dash[1]!) : lo
  if (!lo || !hi || lo.family !== family || hi.family !== family || lo.value > hi.value) return undefined
  // Only the canonical text (what the compiler writes): nothing nft might read otherwise.
  if (formatIp(lo) !== dash[0] || formatIp(hi) !== dash[dash.length - 1]) return undefined
  return [lo.value, hi.value]
}
