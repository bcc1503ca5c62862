// Element commands (`add element` / `delete element` on an existing set or map) as data: one
// value gives both the nft text line and the nf_tables netlink messages of the same change, so the
// two ways of sending it (elements-netlink.ts, or nft's text path) cannot drift apart. Pure.
//
// Keys are encoded as nft 1.0.6 encodes them (checked against `nft --debug=netlink` and strace of
// its sendmsg): addresses in network order (4 / 16 bytes), inet_proto 1 byte, inet_service 2 bytes
// big-endian, ifname 16 bytes NUL-padded (IFNAMSIZ), raw 128-bit payload keys big-endian; in a
// concatenation each part is padded to a 4-byte register (NFT_REG32_SIZE). Messages follow
// include/uapi/linux/netfilter/nf_tables.h.
import { formatIp, parseIp } from '../ip/index.js'
import { NLA_F_NESTED, attr, beBytes, nested, str } from '../net/tlv.js'
import { checkName, type NftFamily } from './syntax.js'

/**
 * One part of a set's key. `raw128`: 128 raw payload bits written `0x` + 32 hex digits (a set
 * declared `typeof ... @th,64,128`).
 */
export type KeyPart = 'ipv4_addr' | 'ipv6_addr' | 'inet_proto' | 'inet_service' | 'ifname' | 'raw128'

export interface ElementCommand {
  verb: 'add' | 'delete'
  family: NftFamily
  table: string
  set: string
  /** The set's key type; several parts: a concatenation (`ifname . ipv4_addr`). */
  key: KeyPart[]
  /** `flags interval` sets: elements are ranges (start and end elements in the kernel). */
  interval?: boolean
  /** A verdict map: an added element is `<key> : jump <chain>` (a deleted one names its key only). */
  verdict?: boolean
  /** Each element as nft text: `10.0.0.1`, `"veth0" . 10.0.0.1`, `10.0.0.1 : jump pod-ingress-a-b`. */
  elements: string[]
}

/** The command as one line of an nft script. */
export function elementCommandText(c: ElementCommand): string {
  return `${c.verb} element ${c.family} ${c.table} ${c.set} { ${c.elements.join(', ')} }`
}

// include/uapi/linux/netfilter/nfnetlink.h, nf_tables.h, netfilter.h
export const NFT_MSG_NEWSETELEM = 12
export const NFT_MSG_DELSETELEM = 14
const NLM_F_CREATE = 0x400
const SET_ELEM_LIST = { TABLE: 1, SET: 2, ELEMENTS: 3 } as const
const NFTA_LIST_ELEM = 1
const SET_ELEM = { KEY: 1, DATA: 2 } as const
const NFTA_DATA = { VALUE: 1, VERDICT: 2 } as const
const NFTA_VERDICT = { CODE: 1, CHAIN: 2 } as const
const NFT_JUMP = -3
export const NFPROTO: Record<NftFamily, number> = { inet: 1, ip: 2, arp: 3, netdev: 5, bridge: 7, ip6: 10 }
const IFNAMSIZ = 16
const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 }
const IFNAME = /^"([a-zA-Z0-9_.-]{1,15})"$/
const DEC = /^(0|[1-9][0-9]{0,4})$/
const CHAIN = /^[a-zA-Z_][a-zA-Z0-9_.-]{0,254}$/
const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
const V4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`)

/** One nf_tables message: the nlmsghdr's message type and flags, the nfgenmsg family, attributes. */
export interface NftMessage { msg: number; flags: number; family: number; attrs: Buffer }

export class UnsupportedElements extends Error {}

/**
 * The netlink messages of `c`: one per at most `maxBytes` of elements (a nested attribute's length
 * is 16 bits). Throws UnsupportedElements for what this encoder does not write (interval sets, an
 * element it cannot parse): the caller sends such commands as nft text instead.
 */
export function encodeElementCommand(c: ElementCommand, maxBytes = 32 * 1024): NftMessage[] {
  if (c.interval) throw new UnsupportedElements(`set ${c.set}: interval sets need nft's start/end elements`)
  checkName('table', c.table)
  checkName('set', c.set)
  if (c.key.length === 0) throw new UnsupportedElements(`set ${c.set}: no key type`)
  const head = Buffer.concat([attr(SET_ELEM_LIST.TABLE, str(c.table)), attr(SET_ELEM_LIST.SET, str(c.set))])
  const addrBytes = c.key.length === 1 && !c.verdict ? ADDR_BYTES[c.key[0]!] : undefined
  if (addrBytes !== undefined) return encodeAddressElements(c, head, addrBytes, maxBytes)
  const out: NftMessage[] = []
  let batch: Buffer[] = [], size = 0
  const flush = () => {
    if (!batch.length) return
    // libnftnl numbers the elements' nests 1, 2, ... in each message (the kernel reads any type).
    batch.forEach((el, i) => el.writeUInt16LE((i + 1) | NLA_F_NESTED, 2))
    out.push({
      msg: c.verb === 'add' ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
      // `add element` as nft sends it: CREATE without EXCL (an element already there is no error).
      flags: c.verb === 'add' ? NLM_F_CREATE : 0,
      family: NFPROTO[c.family],
      attrs: Buffer.concat([head, nested(SET_ELEM_LIST.ELEMENTS, ...batch)]),
    })
    batch = []
    size = 0
  }
  for (const e of c.elements) {
    const el = encodeElement(c, e)
    if (size + el.length > maxBytes) flush()
    batch.push(el)
    size += el.length
  }
  flush()
  return out
}

const ADDR_BYTES: Partial<Record<KeyPart, number>> = { ipv4_addr: 4, ipv6_addr: 16 }

/**
 * The messages of a plain address set's elements (a new peer set: hundreds of them), each
 * message written into one buffer: the same bytes as the general path (LIST_ELEM { KEY { VALUE
 * <key> } } per element, numbered 1, 2, ... in each message, as many per message as fit
 * `maxBytes`), without its four allocations per element. A text the fast parsers do not take
 * goes through encodeElement, which encodes it the same way or throws the same error.
 */
function encodeAddressElements(c: ElementCommand, head: Buffer, keyBytes: number, maxBytes: number): NftMessage[] {
  const elSize = 12 + keyBytes // LIST_ELEM, KEY and VALUE headers, the key (4 or 16: no padding)
  const perMessage = Math.max(1, Math.floor(maxBytes / elSize))
  const out: NftMessage[] = []
  for (let first = 0; first < c.elements.length; first += perMessage) {
    const n = Math.min(perMessage, c.elements.length - first)
    const b = Buffer.allocUnsafe(head.length + 4 + n * elSize) // every byte is written below
    head.copy(b, 0)
    b.writeUInt16LE(4 + n * elSize, head.length)
    b.writeUInt16LE(SET_ELEM_LIST.ELEMENTS | NLA_F_NESTED, head.length + 2)
    // The 12 header bytes of every element are the same but for its number (bytes 2-3).
    const template = Buffer.alloc(12)
    template.writeUInt16LE(elSize, 0)
    template.writeUInt16LE(elSize - 4, 4)
    template.writeUInt16LE(SET_ELEM.KEY | NLA_F_NESTED, 6)
    template.writeUInt16LE(4 + keyBytes, 8)
    template.writeUInt16LE(NFTA_DATA.VALUE, 10)
    for (let i = 0, off = head.length + 4; i < n; i++, off += elSize) {
      const text = c.elements[first + i]!
      for (let k = 0; k < 12; k++) b[off + k] = template[k]! // (Buffer.copy costs more for 12 bytes)
      const nest = (i + 1) | NLA_F_NESTED
      b[off + 2] = nest & 0xff
      b[off + 3] = nest >> 8
      if (!(keyBytes === 4 ? canonicalV4Into(text, b, off + 12) : keyBytes === 16 && canonicalV6Into(text, b, off + 12))) {
        // Not the canonical text: the general path's key (or its error), the same layout.
        encodeElement(c, text).copy(b, off + 12, 12)
      }
    }
    out.push({ msg: c.verb === 'add' ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM, flags: c.verb === 'add' ? NLM_F_CREATE : 0, family: NFPROTO[c.family], attrs: b })
  }
  return out
}

function encodeElement(c: ElementCommand, text: string): Buffer {
  let keyText = text, chain: string | undefined
  if (c.verdict && c.verb === 'add') {
    const m = /^(.*) : jump (\S+)$/.exec(text)
    if (!m || !CHAIN.test(m[2]!)) throw new UnsupportedElements(`set ${c.set}: ${JSON.stringify(text.slice(0, 80))} is not "<key> : jump <chain>"`)
    keyText = m[1]!
    chain = m[2]!
  }
  const parts = keyText.split(' . ')
  if (parts.length !== c.key.length) throw new UnsupportedElements(`set ${c.set}: ${JSON.stringify(text.slice(0, 80))} does not have ${c.key.length} key part(s)`)
  const concat = c.key.length > 1
  const key = Buffer.concat(parts.map((p, i) => {
    const b = encodeKeyPart(c.key[i]!, p, c.set)
    return concat && b.length % 4 ? Buffer.concat([b, Buffer.alloc(4 - (b.length % 4))]) : b
  }))
  // A plain element (most of a diff's bytes: a new peer set holds hundreds) in one allocation:
  // LIST_ELEM { KEY { VALUE <key> } }, what the nested attr() calls below would build.
  if (chain === undefined) return plainElement(key)
  const children = [nested(SET_ELEM.KEY, attr(NFTA_DATA.VALUE, key))]
  {
    const code = Buffer.alloc(4)
    code.writeInt32BE(NFT_JUMP)
    children.push(nested(SET_ELEM.DATA, nested(NFTA_DATA.VERDICT, attr(NFTA_VERDICT.CODE, code), attr(NFTA_VERDICT.CHAIN, str(chain)))))
  }
  return nested(NFTA_LIST_ELEM, ...children)
}

/**
 * The 16 bytes of `text` when it is an IPv6 address written as RFC 5952 says (lowercase, no
 * leading zeros, `::` for the longest run of two or more zero groups, the first of equal runs;
 * no dotted tail), without parseIp's BigInts; undefined otherwise (then parseIp decides).
 */
export function canonicalV6(text: string): Buffer | undefined {
  const b = Buffer.allocUnsafe(16) // from Node's pool: every byte is written
  return canonicalV6Into(text, b, 0) ? b : undefined
}

/**
 * The 4 bytes of a dotted quad as formatIp writes it (no leading zeros, each part 0-255: what V4
 * matches), written into `b` at `offset`; false otherwise (some bytes may be written: the caller
 * writes the key again, or refuses it). One pass, no regexp: a full replace has tens of thousands.
 */
function canonicalV4Into(text: string, b: Buffer, offset: number): boolean {
  const n = text.length
  if (n < 7 || n > 15) return false
  let part = 0, v = 0, digits = 0
  for (let i = 0; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : 46
    if (c >= 48 && c <= 57) {
      if (digits === 1 && v === 0) return false // a leading zero
      v = v * 10 + c - 48
      if (++digits > 3 || v > 255) return false
    } else if (c === 46 && digits > 0 && part < 4) {
      if (i < n && part === 3) return false // a fifth part
      b[offset + part++] = v
      v = 0
      digits = 0
    } else return false
  }
  return part === 4
}

const groups = new Int32Array(8) // canonicalV6Into's scratch (synchronous: never shared)

/**
 * canonicalV6, written into `b` at `offset`; false (nothing written) when not canonical. One pass
 * over the characters, no strings or regexps: a full replace encodes every pod address of the
 * cluster (tens of thousands at 30k pods), and the split-and-test version was half of its CPU.
 */
function canonicalV6Into(text: string, b: Buffer, offset: number): boolean {
  const n = text.length
  if (n < 2 || n > 39) return false
  let count = 0, gapAt = -1, i = 0
  if (text.charCodeAt(0) === 58) { // a leading `::`
    if (text.charCodeAt(1) !== 58) return false
    gapAt = 0
    i = 2
  }
  while (i < n) {
    // A group: 1-4 lowercase hex digits, no leading zero (RFC 5952 4.1).
    const first = i
    let v = 0
    for (; i < n; i++) {
      const c = text.charCodeAt(i)
      if (c >= 48 && c <= 57) v = v * 16 + c - 48
      else if (c >= 97 && c <= 102) v = v * 16 + c - 87
      else break
    }
    const len = i - first
    if (len === 0 || len > 4 || (len > 1 && text.charCodeAt(first) === 48) || count === 8) return false
    groups[count++] = v
    if (i === n) break
    if (text.charCodeAt(i++) !== 58) return false // a dotted tail, or anything else
    if (i === n) return false // one trailing colon
    if (text.charCodeAt(i) === 58) {
      if (gapAt !== -1) return false
      gapAt = count
      i++
    }
  }
  // With a `::`, at most 6 groups written (it stands for two or more); without, all 8.
  if (gapAt === -1 ? count !== 8 : count > 6) return false
  // The groups after the `::` move to the end, zeros in between (in place; no closure: this runs
  // per address).
  const gap = 8 - count
  if (gapAt !== -1) {
    for (let k = count - 1; k >= gapAt; k--) groups[k + gap] = groups[k]!
    for (let k = gapAt; k < gapAt + gap; k++) groups[k] = 0
  }
  // Where RFC 5952 puts the `::`: the longest run of zero groups (at least two), the first of equals.
  let best = -1, bestLen = 1
  for (let k = 0; k < 8;) {
    if (groups[k] !== 0) { k++; continue }
    let j = k
    while (j < 8 && groups[j] === 0) j++
    if (j - k > bestLen) { best = k; bestLen = j - k }
    k = j
  }
  if (gapAt === -1 ? best !== -1 : best !== gapAt || bestLen !== gap) return false
  for (let k = 0; k < 8; k++) { b[offset + 2 * k] = groups[k]! >> 8; b[offset + 2 * k + 1] = groups[k]! & 0xff }
  return true
}

function plainElement(key: Buffer): Buffer {
  const value = 4 + key.length
  const size = 4 + ((value + 3) & ~3) // the KEY nest: its header and the padded VALUE
  // From Node's pool (no ArrayBuffer per element): headers and key written, the padding zeroed.
  const b = Buffer.allocUnsafe(4 + size)
  b.fill(0, 12 + key.length)
  b.writeUInt16LE(4 + size, 0)
  b.writeUInt16LE(NFTA_LIST_ELEM | NLA_F_NESTED, 2)
  b.writeUInt16LE(size, 4)
  b.writeUInt16LE(SET_ELEM.KEY | NLA_F_NESTED, 6)
  b.writeUInt16LE(value, 8)
  b.writeUInt16LE(NFTA_DATA.VALUE, 10)
  key.copy(b, 12)
  return b
}

function encodeKeyPart(type: KeyPart, text: string, set: string): Buffer {
  const bad = () => new UnsupportedElements(`set ${set}: ${JSON.stringify(text.slice(0, 80))} is not a ${type}`)
  switch (type) {
    case 'ipv4_addr': {
      // The canonical dotted quad (what formatIp writes: no leading zeros), without parseIp's
      // BigInts: a new peer set holds hundreds of these (issue 14).
      const m = V4.exec(text)
      if (!m) throw bad()
      return Buffer.from([Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])])
    }
    case 'ipv6_addr': {
      // Only the canonical text (what the compiler writes): nothing nft might read otherwise.
      const fast = canonicalV6(text)
      if (fast) return fast
      const a = parseIp(text)
      if (!a || a.family !== 6 || formatIp(a) !== text) throw bad()
      return beBytes(a.value, 16)
    }
    case 'inet_proto': {
      const n = PROTOCOLS[text] ?? (DEC.test(text) ? Number(text) : NaN)
      if (!(n >= 0 && n <= 255)) throw bad()
      return Buffer.from([n])
    }
    case 'inet_service': {
      if (!DEC.test(text) || Number(text) > 65535) throw bad()
      const b = Buffer.alloc(2)
      b.writeUInt16BE(Number(text))
      return b
    }
    case 'ifname': {
      const m = IFNAME.exec(text)
      if (!m) throw bad()
      const b = Buffer.alloc(IFNAMSIZ)
      b.write(m[1]!, 'latin1')
      return b
    }
    case 'raw128': {
      if (!/^0x[0-9a-f]{32}$/.test(text)) throw bad()
      return Buffer.from(text.slice(2), 'hex')
    }
    default:
      throw bad()
  }
}

