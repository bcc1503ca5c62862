// One rule's nft text as the nf_tables expressions nft 1.0.6 sends for it (NFTA_RULE_EXPRESSIONS
// and NFTA_RULE_USERDATA), for the small vocabulary the policy renderer writes in pod chains
// (policy-agent/render/rules.ts ruleText/chainRules). The TEXT is the input: the same string the
// nft path would send is parsed here by a strict grammar, so the two paths cannot drift; anything
// outside the grammar throws UnsupportedElements before anything is sent, and the caller sends
// the text through nft instead. Pure.
//
// What nft emits, read from `nft --debug=netlink` and strace of its sendmsg (rule-netlink.test.ts
// holds the bytes), in an inet table:
//   meta nfproto ipv4            meta load nfproto => reg 1; cmp eq reg 1 0x02
//   ip saddr @s                  (meta nfproto dependency, first network match only)
//                                payload load 4b @ network header + 12 => reg 1; lookup reg 1 set s
//   ip daddr . meta l4proto . th dport @t
//                                payload => reg 1; meta load l4proto => reg 9 (ip6: 2);
//                                payload load 2b @ transport header + 2 => reg 10 (ip6: 13); lookup
//   meta l4proto tcp             meta load l4proto => reg 1; cmp eq reg 1 0x06
//   th dport 53 / 80-90 / @p     payload => reg 1; cmp eq / cmp gte + cmp lte / lookup
//   meta l4proto { tcp, udp }    an anonymous set (below) of inet_proto; meta => reg 1; lookup
//   meta l4proto . th dport { tcp . 80, udp . 53 }
//                                an anonymous set of inet_proto . inet_service; meta => reg 1,
//                                payload => reg 9; lookup. With any range in it (`tcp . 80-90`):
//                                an interval concatenation (start and end key per element), and
//                                nft converts the protocol's register first (byteorder hton 1/2)
//   counter name "c"             objref type 1 name c (the name without a NUL)
//   ct state new                 ct load state => reg 1; bitwise reg 1 & 0x08 (host order) ^ 0;
//                                cmp neq reg 1 0 (flow logs' log rules, flows/nft.ts)
//   limit name "l"               objref type 4 name l
//   log group 3 snaplen 128 prefix "p"   log prefix "p\0", group (be16), snaplen (be32)
//   accept drop return goto/jump immediate reg 0 <verdict> [chain]
//   comment "x"                  userdata: type 0 (NFTNL_UDATA_RULE_COMMENT), length, "x\0"
// Layouts: include/uapi/linux/netfilter/nf_tables.h; attribute numbers below.
import { attr, be32, nested, str } from '../net/tlv.js'
import { UnsupportedElements } from './elements.js'
import { checkName } from './syntax.js'

const LIST_ELEM = 1
const EXPR = { NAME: 1, DATA: 2 } as const
const META = { DREG: 1, KEY: 2 } as const
const META_KEY = { NFPROTO: 15, L4PROTO: 16 } as const
const CMP = { SREG: 1, OP: 2, DATA: 3 } as const
const CMP_OP = { EQ: 0, LTE: 3, GTE: 5 } as const
const PAYLOAD = { DREG: 1, BASE: 2, OFFSET: 3, LEN: 4 } as const
const BASE = { NETWORK: 1, TRANSPORT: 2 } as const
const LOOKUP = { SET: 1, SREG: 2, SET_ID: 4 } as const
const OBJREF = { TYPE: 1, NAME: 2 } as const
const NFT_OBJECT_COUNTER = 1
const NFT_OBJECT_LIMIT = 4
const LOG = { GROUP: 1, PREFIX: 2, SNAPLEN: 3 } as const
const IMMEDIATE = { DREG: 1, DATA: 2 } as const
const DATA = { VALUE: 1, VERDICT: 2 } as const
const VERDICT = { CODE: 1, CHAIN: 2 } as const
const VERDICT_CODE: Record<string, number> = { drop: 0, accept: 1, jump: -3, goto: -4, return: -5 }
const NFT_REG_VERDICT = 0
const NFT_REG_1 = 1
const NFT_REG32_00 = 8
const NFPROTO = { ip: 2, ip6: 10 } as const
const L4PROTO: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 }
const UDATA_RULE_COMMENT = 0
/** Printable ASCII without `"` and `\` (syntax.ts COMMENT), at most 128 bytes (COMMENT_MAX). */
const COMMENT = /^[\x20\x21\x23-\x5b\x5d-\x7e]{0,128}$/
const PORT = /^(0|[1-9][0-9]{0,4})$/


export function expr(name: string, ...data: Buffer[]): Buffer {
  return nested(LIST_ELEM, attr(EXPR.NAME, str(name)), nested(EXPR.DATA, ...data))
}
// The same few expressions recur in every rule (a policy create rewrites tens of them): each is
// built once. Buffers handed out here are only ever copied (Buffer.concat), never written.
const built = new Map<string, Buffer>()
const once = (key: string, make: () => Buffer): Buffer => {
  let b = built.get(key)
  if (!b) built.set(key, (b = make()))
  return b
}
const meta = (key: number, dreg: number) => once(`meta ${key} ${dreg}`, () => expr('meta', attr(META.KEY, be32(key)), attr(META.DREG, be32(dreg))))
const cmp = (op: number, data: Buffer) => once(`cmp ${op} ${data.toString('hex')}`, () => expr('cmp', attr(CMP.SREG, be32(NFT_REG_1)), attr(CMP.OP, be32(op)), nested(CMP.DATA, attr(DATA.VALUE, data))))
const payload = (dreg: number, base: number, offset: number, len: number) =>
  once(`payload ${dreg} ${base} ${offset} ${len}`, () => expr('payload', attr(PAYLOAD.DREG, be32(dreg)), attr(PAYLOAD.BASE, be32(base)), attr(PAYLOAD.OFFSET, be32(offset)), attr(PAYLOAD.LEN, be32(len))))
// nft sends the set's transaction id beside its name; the kernel reads it only when the name is
// not found (a set added earlier in the same batch is found by name), so 0 here.
const lookup = (set: string) => expr('lookup', attr(LOOKUP.SREG, be32(NFT_REG_1)), attr(LOOKUP.SET, str(set)), attr(LOOKUP.SET_ID, be32(0)))
// ct state new: the state bits are in host order (NF_CT_STATE_BIT(IP_CT_NEW) = 8); nft masks
// them (bitwise, length 4) and compares the result with 0.
const CT_STATE_NEW = Buffer.concat([
  expr('ct', attr(2 /* NFTA_CT_KEY */, be32(0 /* NFT_CT_STATE */)), attr(1 /* NFTA_CT_DREG */, be32(NFT_REG_1))),
  expr('bitwise', attr(1 /* SREG */, be32(NFT_REG_1)), attr(2 /* DREG */, be32(NFT_REG_1)), attr(3 /* LEN */, be32(4)),
    nested(4 /* MASK */, attr(DATA.VALUE, Buffer.from([8, 0, 0, 0]))), nested(5 /* XOR */, attr(DATA.VALUE, Buffer.alloc(4)))),
  expr('cmp', attr(CMP.SREG, be32(NFT_REG_1)), attr(CMP.OP, be32(1 /* NFT_CMP_NEQ */)), nested(CMP.DATA, attr(DATA.VALUE, Buffer.alloc(4)))),
])
const port = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b }

/**
 * The register nft names for a concatenation's part starting `words` 32-bit words into it: a
 * 16-byte register (NFT_REG_1..4) when it starts on one, else a 4-byte one (NFT_REG32_00 + n).
 */
const concatReg = (words: number) => (words % 4 === 0 ? NFT_REG_1 + words / 4 : NFT_REG32_00 + words)

/** Address payloads: [offset, length] in the network header. */
const ADDR: Record<'ip' | 'ip6', Record<'saddr' | 'daddr', [number, number]>> = {
  ip: { saddr: [12, 4], daddr: [16, 4] },
  ip6: { saddr: [8, 16], daddr: [24, 16] },
}

/**
 * An anonymous set a rule looks up (`{ ... }` in its text): nft adds it in the same batch, before
 * the rule, as `__set%d` (the kernel picks the number) and names it by transaction id.
 */
export interface AnonymousSet {
  /** NEWSET attributes after the table: name, flags, key type and length, id, desc, userdata. */
  set: Buffer
  /** NEWSETELEM attributes after the table: set name, set id, the elements. */
  elements: Buffer
}

export interface EncodedRule {
  expressions: Buffer
  /** NFTA_RULE_USERDATA, when the rule has a comment. */
  userdata?: Buffer
  /** Anonymous sets to add (in this order) before the rule. */
  sets: AnonymousSet[]
}

// One token of the grammar each, anchored where the previous one ended (sticky).
const T = {
  nfproto: /meta nfproto (ipv4|ipv6)(?= |$)/y,
  tuple: /(ip6?) daddr \. meta l4proto \. th dport @(\S+)(?= |$)/y,
  addr: /(ip6?) (saddr|daddr) @(\S+)(?= |$)/y,
  l4proto: /meta l4proto (tcp|udp|sctp)(?= |$)/y,
  dport: /th dport (\d+)(?:-(\d+))?(?= |$)/y,
  dportSet: /th dport @(\S+)(?= |$)/y,
  l4set: /meta l4proto \{ ([a-z, ]+) \}(?= |$)/y,
  l4dportSet: /meta l4proto \. th dport \{ ([a-z0-9 .,-]+) \}(?= |$)/y,
  counter: /counter name "([^"]*)"(?= |$)/y,
  ctNew: /ct state new(?= |$)/y,
  limit: /limit name "([^"]*)"(?= |$)/y,
  log: /log group (0|[1-9][0-9]{0,4}) snaplen (0|[1-9][0-9]{0,9}) prefix "([A-Za-z0-9:._-]{1,127})"(?= |$)/y,
  verdict: /(accept|drop|return)(?= |$)/y,
  chainVerdict: /(goto|jump) (\S+)(?= |$)/y,
  comment: /comment "([^"]*)"$/y,
}

/**
 * Encodes `rule` (the text after `add rule <family> <table> <chain> `) of a chain in an inet
 * table. `ctx.setId`: the batch's last set transaction id (anonymous sets take the next ones).
 */
export function encodeRule(rule: string, ctx: { setId: number } = { setId: 0 }): EncodedRule {
  const unsupported = (why: string) => new UnsupportedElements(`rule ${JSON.stringify(rule.slice(0, 120))}: ${why}`)
  const name = (what: string, s: string) => {
    try {
      return checkName(what, s)
    } catch {
      throw unsupported(`${what} ${JSON.stringify(s)} is not a plain name`)
    }
  }
  const out: Buffer[] = []
  let pos = 0
  let family: 'ip' | 'ip6' | undefined // the network protocol the rule has matched (nft's context)
  let l4: string | undefined
  // Where a token may come: matches, then a counter, then the verdict, then the comment.
  let stage = 0
  let verdict = false
  let logged = false // a log rule (flow logs) ends without a verdict
  let ctNew = false
  let userdata: Buffer | undefined
  const sets: AnonymousSet[] = []
  const take = (re: RegExp): RegExpExecArray | null => {
    re.lastIndex = pos
    const m = re.exec(rule)
    if (m) pos = re.lastIndex
    return m
  }
  const network = (f: 'ip' | 'ip6') => {
    if (stage > 0 || l4 !== undefined || ctNew) throw unsupported('a network match after a transport match or statement')
    if (family === undefined) out.push(meta(META_KEY.NFPROTO, NFT_REG_1), cmp(CMP_OP.EQ, Buffer.from([NFPROTO[f]])))
    else if (family !== f) throw unsupported('ip and ip6 in one rule')
    family = f
  }
  while (pos < rule.length) {
    if (pos > 0) {
      if (rule[pos] !== ' ') throw unsupported(`expected a blank at ${pos}`)
      pos++
    }
    let m: RegExpExecArray | null
    if ((m = take(T.nfproto))) {
      if (family !== undefined || stage > 0 || l4 !== undefined || ctNew) throw unsupported('meta nfproto after another match')
      const f = m[1] === 'ipv4' ? 'ip' : 'ip6'
      out.push(meta(META_KEY.NFPROTO, NFT_REG_1), cmp(CMP_OP.EQ, Buffer.from([NFPROTO[f]])))
      family = f
    } else if ((m = take(T.tuple))) {
      const f = m[1] as 'ip' | 'ip6'
      network(f)
      const [off, len] = ADDR[f].daddr
      const words = len / 4
      out.push(payload(NFT_REG_1, BASE.NETWORK, off, len), meta(META_KEY.L4PROTO, concatReg(words)), payload(concatReg(words + 1), BASE.TRANSPORT, 2, 2), lookup(name('set', m[2]!)))
    } else if ((m = take(T.addr))) {
      const f = m[1] as 'ip' | 'ip6'
      network(f)
      const [off, len] = ADDR[f][m[2] as 'saddr' | 'daddr']
      out.push(payload(NFT_REG_1, BASE.NETWORK, off, len), lookup(name('set', m[3]!)))
    } else if ((m = take(T.l4proto))) {
      if (l4 !== undefined || stage > 0 || ctNew) throw unsupported('a second meta l4proto, or one after a statement')
      l4 = m[1]!
      out.push(meta(META_KEY.L4PROTO, NFT_REG_1), cmp(CMP_OP.EQ, Buffer.from([L4PROTO[l4]!])))
    } else if ((m = take(T.l4set))) {
      if (l4 !== undefined || stage > 0 || ctNew) throw unsupported('a second meta l4proto, or one after a statement')
      l4 = 'done'
      const protos = m[1]!.split(', ')
      if (protos.length < 2 || new Set(protos).size !== protos.length || protos.some((p) => L4PROTO[p] === undefined)) throw unsupported('a protocol set nft would read otherwise')
      const id = ++ctx.setId
      sets.push(anonymousSet({ id, keyType: KEY.INET_PROTO, keyLen: 1, flags: SET_F.ANONYMOUS | SET_F.CONSTANT, udata: UDATA_L4PROTO, elements: protos.map((p) => ({ key: Buffer.from([L4PROTO[p]!]) })) }))
      out.push(meta(META_KEY.L4PROTO, NFT_REG_1), anonymousLookup(id))
    } else if ((m = take(T.l4dportSet))) {
      if (l4 !== undefined || stage > 0 || ctNew) throw unsupported('a second meta l4proto, or one after a statement')
      l4 = 'done'
      const elements = portElements(m[1]!)
      if (!elements) throw unsupported('a protocol . port set nft would read, merge or refuse otherwise')
      const interval = elements.some((e) => e.range)
      // Ranges that touch (80-89, 90-99) might be joined by nft's interval code: nft's then.
      if (interval && elements.some((a) => elements.some((b) => a !== b && a.proto === b.proto && a.to + 1 === b.from))) throw unsupported('adjacent port ranges')
      const id = ++ctx.setId
      const key = (proto: number, port: number) => { const b = Buffer.alloc(8); b[0] = proto; b.writeUInt16BE(port, 4); return b }
      const els = elements.map((e) => ({ key: key(e.proto, e.from), ...(interval ? { keyEnd: key(e.proto, e.to) } : {}) }))
      const keyType = (KEY.INET_PROTO << 6) | KEY.INET_SERVICE
      sets.push(interval
        ? anonymousSet({ id, keyType, keyLen: 8, flags: SET_F.ANONYMOUS | SET_F.CONSTANT | SET_F.INTERVAL | SET_F.CONCAT, fields: [1, 2], udata: UDATA_PROTO_PORT_INTERVAL, elements: els })
        : anonymousSet({ id, keyType, keyLen: 8, flags: SET_F.ANONYMOUS | SET_F.CONSTANT, udata: UDATA_PROTO_PORT, elements: els }))
      out.push(meta(META_KEY.L4PROTO, NFT_REG_1))
      // nft 1.0.6 converts the protocol's register before an interval lookup (byteorder hton, len 1, size 2).
      if (interval) out.push(expr('byteorder', attr(BYTEORDER.SREG, be32(NFT_REG_1)), attr(BYTEORDER.DREG, be32(NFT_REG_1)), attr(BYTEORDER.OP, be32(NFT_BYTEORDER_HTON)), attr(BYTEORDER.LEN, be32(1)), attr(BYTEORDER.SIZE, be32(2))))
      out.push(payload(concatReg(1), BASE.TRANSPORT, 2, 2), anonymousLookup(id))
    } else if ((m = take(T.dportSet)) || (m = take(T.dport))) {
      // Only right after `meta l4proto X` (what the renderer writes): nft adds no dependency then.
      if (l4 === undefined || l4 === 'done' || stage > 0) throw unsupported('th dport without a meta l4proto right before it')
      l4 = 'done'
      out.push(payload(NFT_REG_1, BASE.TRANSPORT, 2, 2))
      if (m.length === 2) out.push(lookup(name('set', m[1]!)))
      else {
        if (!PORT.test(m[1]!) || (m[2] !== undefined && !PORT.test(m[2]))) throw unsupported('a port that is not a plain decimal')
        const from = Number(m[1]), to = m[2] === undefined ? undefined : Number(m[2])
        if (from > 65535 || (to !== undefined && (to > 65535 || to <= from))) throw unsupported('a port or range nft would refuse or rewrite')
        if (to === undefined) out.push(cmp(CMP_OP.EQ, port(from)))
        else out.push(cmp(CMP_OP.GTE, port(from)), cmp(CMP_OP.LTE, port(to)))
      }
    } else if ((m = take(T.ctNew))) {
      if (stage > 0 || ctNew) throw unsupported('ct state after a statement')
      ctNew = true
      out.push(CT_STATE_NEW)
    } else if ((m = take(T.counter))) {
      if (stage > 1) throw unsupported('a counter after the verdict')
      stage = 1
      // libnftnl puts this name without its NUL (mnl_attr_put_str), unlike the others.
      out.push(expr('objref', attr(OBJREF.TYPE, be32(NFT_OBJECT_COUNTER)), attr(OBJREF.NAME, Buffer.from(name('counter', m[1]!), 'latin1'))))
    } else if ((m = take(T.limit))) {
      if (stage > 1) throw unsupported('a limit after the verdict')
      stage = 1
      out.push(expr('objref', attr(OBJREF.TYPE, be32(NFT_OBJECT_LIMIT)), attr(OBJREF.NAME, Buffer.from(name('limit', m[1]!), 'latin1'))))
    } else if ((m = take(T.log))) {
      if (stage > 1) throw unsupported('a log after the verdict')
      const group = Number(m[1]), snaplen = Number(m[2])
      if (group > 65535 || snaplen > 0xffffffff) throw unsupported('a log group or snaplen out of range')
      stage = 1
      logged = true
      const g = Buffer.alloc(2)
      g.writeUInt16BE(group)
      out.push(expr('log', attr(LOG.PREFIX, str(m[3]!)), attr(LOG.GROUP, g), attr(LOG.SNAPLEN, be32(snaplen))))
    } else if ((m = take(T.verdict)) || (m = take(T.chainVerdict))) {
      if (stage > 1) throw unsupported('a second verdict')
      stage = 2
      verdict = true
      const chain = m[2] === undefined ? undefined : name('chain', m[2])
      const verdictOf = () => {
        const code = [attr(VERDICT.CODE, be32(VERDICT_CODE[m![1]!]!))]
        if (chain !== undefined) code.push(attr(VERDICT.CHAIN, str(chain)))
        return expr('immediate', attr(IMMEDIATE.DREG, be32(NFT_REG_VERDICT)), nested(IMMEDIATE.DATA, nested(DATA.VERDICT, ...code)))
      }
      out.push(chain === undefined ? once(`verdict ${m[1]}`, verdictOf) : verdictOf())
    } else if ((m = take(T.comment))) {
      if (!COMMENT.test(m[1]!)) throw unsupported('a comment nft would read otherwise')
      const text = Buffer.from(m[1]! + '\0', 'latin1')
      userdata = Buffer.concat([Buffer.from([UDATA_RULE_COMMENT, text.length]), text])
      stage = 3
    } else throw unsupported(`nothing this encoder knows at ${pos}: ${JSON.stringify(rule.slice(pos, pos + 40))}`)
  }
  // A rule that only matches is not one the renderer writes: it ends in a verdict, or logs.
  if (!verdict && !logged) throw unsupported('no verdict and no log')
  return { expressions: Buffer.concat(out), ...(userdata ? { userdata } : {}), sets }
}

// Anonymous sets (include/uapi/linux/netfilter/nf_tables.h; nft 1.0.6 src/mnl.c mnl_nft_set_add).
const SET_F = { ANONYMOUS: 0x1, CONSTANT: 0x2, INTERVAL: 0x4, CONCAT: 0x80 } as const
const SET = { NAME: 2, FLAGS: 3, KEY_TYPE: 4, KEY_LEN: 5, DESC: 9, ID: 10, USERDATA: 13 } as const
const SET_DESC = { SIZE: 1, CONCAT: 2 } as const
const SET_FIELD_LEN = 1
const ELEM_LIST = { SET: 2, ELEMENTS: 3, SET_ID: 4 } as const
const ELEM = { KEY: 1, KEY_END: 10 } as const
const KEY = { INET_PROTO: 12, INET_SERVICE: 13 } as const
const BYTEORDER = { SREG: 1, DREG: 2, OP: 3, LEN: 4, SIZE: 5 } as const
const NFT_BYTEORDER_HTON = 1
const ANONYMOUS_NAME = '__set%d'
// The set userdata nft 1.0.6 writes for these three keys (strace of its sendmsg): key byte order,
// [merge elements,] and the key's typeof (the `meta l4proto` and `th dport` expressions).
const UDATA_L4PROTO = Buffer.from('000401000000030e0004090000000106000410000000', 'hex')
const UDATA_PROTO_PORT = Buffer.from('000400000000032e00040d0000000126000e00040900000001060004100000000114000407000000010c00040b000000010402000000', 'hex')
const UDATA_PROTO_PORT_INTERVAL = Buffer.from('000400000000020401000000030800040d0000000100', 'hex')

export function anonymousSet(o: { id: number; keyType: number; keyLen: number; flags: number; fields?: number[]; udata: Buffer; elements: { key: Buffer; keyEnd?: Buffer }[] }): AnonymousSet {
  const desc = [attr(SET_DESC.SIZE, be32(o.elements.length))]
  if (o.fields) desc.push(nested(SET_DESC.CONCAT, ...o.fields.map((f) => nested(LIST_ELEM, attr(SET_FIELD_LEN, be32(f))))))
  const set = Buffer.concat([attr(SET.NAME, str(ANONYMOUS_NAME)), attr(SET.FLAGS, be32(o.flags)), attr(SET.KEY_TYPE, be32(o.keyType)), attr(SET.KEY_LEN, be32(o.keyLen)), attr(SET.ID, be32(o.id)), nested(SET.DESC, ...desc), attr(SET.USERDATA, o.udata)])
  // libnftnl numbers the elements' nests 1, 2, 3... (the kernel reads any type there).
  const els = o.elements.map((e, i) => nested(i + 1, nested(ELEM.KEY, attr(DATA.VALUE, e.key)), ...(e.keyEnd ? [nested(ELEM.KEY_END, attr(DATA.VALUE, e.keyEnd))] : [])))
  return { set, elements: Buffer.concat([attr(ELEM_LIST.SET, str(ANONYMOUS_NAME)), attr(ELEM_LIST.SET_ID, be32(o.id)), nested(ELEM_LIST.ELEMENTS, ...els)]) }
}

/** A lookup of the anonymous set with transaction id `id` (the kernel finds it by id, not by its name template). */
export const anonymousLookup = (id: number) => expr('lookup', attr(LOOKUP.SREG, be32(NFT_REG_1)), attr(LOOKUP.SET, str(ANONYMOUS_NAME)), attr(LOOKUP.SET_ID, be32(id)))

/**
 * `tcp . 80, udp . 53-60` as elements, or undefined when nft might read them otherwise: only
 * tcp/udp/sctp, decimal ports, ranges low-high, no element twice and no two ranges of one
 * protocol overlapping (nft would refuse them; it never merges an anonymous set's elements).
 */
function portElements(text: string): { proto: number; from: number; to: number; range: boolean }[] | undefined {
  const out: { proto: number; from: number; to: number; range: boolean }[] = []
  for (const part of text.split(', ')) {
    const m = /^(tcp|udp|sctp) \. (0|[1-9][0-9]{0,4})(?:-(0|[1-9][0-9]{0,4}))?$/.exec(part)
    if (!m) return undefined
    const from = Number(m[2]), to = m[3] === undefined ? from : Number(m[3])
    if (from > 65535 || to > 65535 || (m[3] !== undefined && to <= from)) return undefined
    out.push({ proto: L4PROTO[m[1]!]!, from, to, range: m[3] !== undefined })
  }
  if (out.length < 2) return undefined
  for (let i = 0; i < out.length; i++) {
    for (let j = i + 1; j < out.length; j++) {
      const a = out[i]!, b = out[j]!
      if (a.proto === b.proto && a.from <= b.to && b.from <= a.to) return undefined
    }
  }
  return out
}
