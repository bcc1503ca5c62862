// The rules of cinch's base chains and of its bridge table (policy-agent/render/rules.ts
// baseChains/auditBaseChains/guardChains, render/antispoof.ts) as the expressions nft 1.0.6 sends
// for them. These are a handful of fixed shapes, so the grammar is one pattern per whole rule
// (names of sets, maps and counters are the only variables); anything else is not ours to guess
// and throws UnsupportedElements (the caller sends the text through nft). Pure.
//
// Read from `nft --debug=netlink` and strace of nft's sendmsg for renderFull's text
// (full-netlink.test.ts holds the bytes). What nft adds on its own is kept: the `meta nfproto`
// (inet) and `meta protocol` / ether type (bridge) dependencies, `meta l4proto` before a
// transport match, and its merging of adjacent ARP header matches into two compares.
import { attr, be32, nested, str } from '../net/tlv.js'
import { UnsupportedElements } from './elements.js'
import { anonymousLookup, anonymousSet, expr, type EncodedRule } from './rule-netlink.js'

const META = { DREG: 1, KEY: 2 } as const
const META_KEY = { PROTOCOL: 1, IIFNAME: 6, OIFNAME: 7, NFPROTO: 15, L4PROTO: 16 } as const
const CMP = { SREG: 1, OP: 2, DATA: 3 } as const
const CMP_OP = { EQ: 0, NEQ: 1 } as const
const PAYLOAD = { DREG: 1, BASE: 2, OFFSET: 3, LEN: 4 } as const
const BASE = { LINK: 0, NETWORK: 1, TRANSPORT: 2 } as const
const BITWISE = { SREG: 1, DREG: 2, LEN: 3, MASK: 4, XOR: 5, OP: 6 } as const
const NFT_BITWISE_BOOL = 0
const LOOKUP = { SET: 1, SREG: 2, DREG: 3, SET_ID: 4, FLAGS: 5 } as const
const NFT_LOOKUP_F_INV = 1
const DATA = { VALUE: 1, VERDICT: 2 } as const
const VERDICT_CODE = { drop: 0, accept: 1 } as const
const NFT_JUMP = -3
const OBJREF = { TYPE: 1, NAME: 2 } as const
const NFT_OBJECT_COUNTER = 1
const REG_VERDICT = 0
const REG_1 = 1
const REG_2 = 2
const ETHER = { ip: '0800', ip6: '86dd', arp: '0806' } as const
const NFPROTO = { ip: 2, ip6: 10 } as const
const ICMPV6 = 58
const TCP = 6

const hex = (h: string) => Buffer.from(h, 'hex')
const meta = (key: number, dreg = REG_1) => expr('meta', attr(META.KEY, be32(key)), attr(META.DREG, be32(dreg)))
const cmp = (op: number, data: Buffer) => expr('cmp', attr(CMP.SREG, be32(REG_1)), attr(CMP.OP, be32(op)), nested(CMP.DATA, attr(DATA.VALUE, data)))
const payload = (base: number, offset: number, len: number, dreg = REG_1) =>
  expr('payload', attr(PAYLOAD.DREG, be32(dreg)), attr(PAYLOAD.BASE, be32(base)), attr(PAYLOAD.OFFSET, be32(offset)), attr(PAYLOAD.LEN, be32(len)))
// nft 1.0.6 names the operation (mask-and-xor, the kernel's default) only for a mask written in
// the rule (`tcp flags & ...`, `@th,64,16 & 0xffc0`), not for the ones it derives (ct state, a prefix).
const bitwise = (mask: Buffer, o: { op?: boolean } = {}) =>
  expr('bitwise', attr(BITWISE.SREG, be32(REG_1)), attr(BITWISE.DREG, be32(REG_1)), ...(o.op ? [attr(BITWISE.OP, be32(NFT_BITWISE_BOOL))] : []),
    attr(BITWISE.LEN, be32(mask.length)), nested(BITWISE.MASK, attr(DATA.VALUE, mask)), nested(BITWISE.XOR, attr(DATA.VALUE, Buffer.alloc(mask.length))))
/** A named set or map looked up from reg 1; `dreg` 0: a verdict map (vmap); `inv`: `!= @set`. */
function lookup(set: string, o: { verdict?: boolean; inv?: boolean } = {}): Buffer {
  const parts = [attr(LOOKUP.SREG, be32(REG_1))]
  if (o.verdict) parts.push(attr(LOOKUP.DREG, be32(REG_VERDICT)))
  parts.push(attr(LOOKUP.SET, str(set)), attr(LOOKUP.SET_ID, be32(0)))
  if (o.inv) parts.push(attr(LOOKUP.FLAGS, be32(NFT_LOOKUP_F_INV)))
  return expr('lookup', ...parts)
}
const verdict = (v: keyof typeof VERDICT_CODE) =>
  expr('immediate', attr(1 /* DREG */, be32(REG_VERDICT)), nested(2 /* DATA */, nested(DATA.VERDICT, attr(1 /* CODE */, be32(VERDICT_CODE[v])))))
const jump = (chain: string) =>
  expr('immediate', attr(1 /* DREG */, be32(REG_VERDICT)), nested(2 /* DATA */, nested(DATA.VERDICT, attr(1 /* CODE */, be32(NFT_JUMP)), attr(2 /* CHAIN */, str(chain)))))
// libnftnl puts an objref's name without its NUL.
const counter = (name: string) => expr('objref', attr(OBJREF.TYPE, be32(NFT_OBJECT_COUNTER)), attr(OBJREF.NAME, Buffer.from(name, 'latin1')))
// ct state: the state bits in host order, masked (established 2, related 4, new 8) and compared with 0.
const ctState = (mask: number) => Buffer.concat([
  expr('ct', attr(2 /* KEY */, be32(0 /* NFT_CT_STATE */)), attr(1 /* DREG */, be32(REG_1))),
  bitwise(Buffer.from([mask, 0, 0, 0])), cmp(CMP_OP.NEQ, Buffer.alloc(4)),
])
const u8 = (n: number) => Buffer.from([n])

/** Address payloads: [offset, length] in the network header. */
const ADDR = { ip: { saddr: 12, daddr: 16, len: 4 }, ip6: { saddr: 8, daddr: 24, len: 16 } } as const
const addr = (f: 'ip' | 'ip6', dir: 'saddr' | 'daddr') => payload(BASE.NETWORK, ADDR[f][dir], ADDR[f].len)

// icmpv6 types by name (nft's icmp6_type_tbl), and the anonymous sets' key types and userdata as
// nft 1.0.6 writes them (key byte order, the typeof expression).
const ICMPV6_TYPE: Record<string, number> = {
  'mld-listener-query': 130, 'mld-listener-report': 131, 'nd-router-solicit': 133, 'nd-router-advert': 134,
  'nd-neighbor-solicit': 135, 'nd-neighbor-advert': 136, 'mld2-listener-report': 143,
}
const ICMPV6_SET = { keyType: 29, keyLen: 1, udata: hex('0004020000000314000407000000010c00040e000000010401000000') }
const ETHER_SET = { keyType: 10, keyLen: 2, udata: hex('000402000000030e0004090000000106000401000000') }
const SET_F = { ANONYMOUS: 0x1, CONSTANT: 0x2 } as const

interface Ctx { setId: number }
type Build = (m: RegExpExecArray, ctx: Ctx, out: Buffer[], sets: EncodedRule['sets']) => void

/** `{ a, b }` of icmpv6 type names as an anonymous set, and its lookup from reg 1. */
function icmpv6Types(list: string, ctx: Ctx, sets: EncodedRule['sets']): Buffer {
  const names = list.split(', ')
  if (names.length < 2 || new Set(names).size !== names.length || names.some((n) => ICMPV6_TYPE[n] === undefined)) throw new UnsupportedElements(`icmpv6 type { ${list} }: not a set this encoder reads as nft does`)
  const id = ++ctx.setId
  sets.push(anonymousSet({ id, ...ICMPV6_SET, flags: SET_F.ANONYMOUS | SET_F.CONSTANT, elements: names.map((n) => ({ key: u8(ICMPV6_TYPE[n]!) })) }))
  return anonymousLookup(id)
}

const NAME = '([a-zA-Z_][a-zA-Z0-9_.-]{0,254})'
const ICMP_LIST = '([a-z0-9, -]+)'
const ctNewMidstream = () => Buffer.concat([ctState(8), meta(META_KEY.L4PROTO), cmp(CMP_OP.EQ, u8(TCP)), payload(BASE.TRANSPORT, 13, 1), bitwise(u8(0x17), { op: true }), cmp(CMP_OP.NEQ, u8(0x02))])

/** The inet family's shapes (base chains of `inet cinch`). */
const INET: [RegExp, Build][] = [
  [/^ct state established,related accept$/, (_m, _c, out) => out.push(ctState(6), verdict('accept'))],
  [new RegExp(`^icmpv6 type \\{ ${ICMP_LIST} \\} accept$`), (m, ctx, out, sets) => {
    const look = icmpv6Types(m[1]!, ctx, sets)
    out.push(meta(META_KEY.NFPROTO), cmp(CMP_OP.EQ, u8(NFPROTO.ip6)), meta(META_KEY.L4PROTO), cmp(CMP_OP.EQ, u8(ICMPV6)), payload(BASE.TRANSPORT, 0, 1), look, verdict('accept'))
  }],
  // A TCP packet starting a connection without a SYN: to the chain of the address lookups.
  [new RegExp(`^ct state new tcp flags & \\(fin \\| syn \\| rst \\| ack\\) != syn jump ${NAME}$`), (m, _c, out) => out.push(ctNewMidstream(), jump(m[1]!))],
  // ... which drops it to or from an address in a map.
  [new RegExp(`^(ip6?) (saddr|daddr) @${NAME} drop$`), (m, _c, out) => {
    const f = m[1] as 'ip' | 'ip6'
    out.push(meta(META_KEY.NFPROTO), cmp(CMP_OP.EQ, u8(NFPROTO[f])), addr(f, m[2] as 'saddr' | 'daddr'), lookup(m[3]!), verdict('drop'))
  }],
  [new RegExp(`^(ip6?) (saddr|daddr) vmap @${NAME}$`), (m, _c, out) => {
    const f = m[1] as 'ip' | 'ip6'
    out.push(meta(META_KEY.NFPROTO), cmp(CMP_OP.EQ, u8(NFPROTO[f])), addr(f, m[2] as 'saddr' | 'daddr'), lookup(m[3]!, { verdict: true }))
  }],
]

const etherIs = (p: keyof typeof ETHER) => [meta(META_KEY.PROTOCOL), cmp(CMP_OP.EQ, hex(ETHER[p]))]

/** The bridge family's shapes (`bridge cinch`: anti-spoofing and the fail-closed guard). */
const BRIDGE: [RegExp, Build][] = [
  [new RegExp(`^(iifname|oifname) (!= )?@${NAME} accept$`), (m, _c, out) => {
    out.push(meta(m[1] === 'iifname' ? META_KEY.IIFNAME : META_KEY.OIFNAME), lookup(m[3]!, { inv: !!m[2] }), verdict('accept'))
  }],
  // The guard's head: a frame between two programmed veths.
  [new RegExp(`^iifname @${NAME} oifname @${NAME} accept$`), (m, _c, out) => {
    out.push(meta(META_KEY.IIFNAME), lookup(m[1]!), meta(META_KEY.OIFNAME), lookup(m[2]!), verdict('accept'))
  }],
  // A neighbour advertisement whose target (not link-local) is not the sender's: nft's dependency
  // for `icmpv6 type` here is the Ethernet type read from the link header, not `meta protocol`.
  [new RegExp(`^icmpv6 type nd-neighbor-advert @th,64,16 & 0xffc0 != 0xfe80 iifname \\. @th,64,128 != @${NAME} counter name "${NAME}" drop$`), (m, _c, out) => {
    out.push(
      payload(BASE.LINK, 12, 2), cmp(CMP_OP.EQ, hex(ETHER.ip6)), meta(META_KEY.L4PROTO), cmp(CMP_OP.EQ, u8(ICMPV6)),
      payload(BASE.TRANSPORT, 0, 1), cmp(CMP_OP.EQ, u8(136)),
      payload(BASE.TRANSPORT, 8, 2), bitwise(hex('ffc0'), { op: true }), cmp(CMP_OP.NEQ, hex('fe80')),
      meta(META_KEY.IIFNAME), payload(BASE.TRANSPORT, 8, 16, REG_2), lookup(m[1]!, { inv: true }), counter(m[2]!), verdict('drop'),
    )
  }],
  [new RegExp(`^meta protocol (ip6?) iifname \\. (ip6?) saddr @${NAME} accept$`), (m, _c, out) => {
    const f = m[1] as 'ip' | 'ip6'
    if (m[2] !== f) throw new UnsupportedElements(`rule: meta protocol ${f} with ${m[2]} saddr`)
    out.push(...etherIs(f), meta(META_KEY.IIFNAME), payload(BASE.NETWORK, ADDR[f].saddr, ADDR[f].len, REG_2), lookup(m[3]!), verdict('accept'))
  }],
  // nft merges the four adjacent ARP header fields into two compares (htype . ptype, hlen . plen).
  [new RegExp(`^meta protocol arp arp htype 1 arp ptype ip arp hlen 6 arp plen 4 iifname \\. arp saddr ip @${NAME} accept$`), (m, _c, out) => {
    out.push(
      ...etherIs('arp'), payload(BASE.NETWORK, 0, 4), cmp(CMP_OP.EQ, hex('00010800')), payload(BASE.NETWORK, 4, 2), cmp(CMP_OP.EQ, hex('0604')),
      meta(META_KEY.IIFNAME), payload(BASE.NETWORK, 14, 4, REG_2), lookup(m[1]!), verdict('accept'),
    )
  }],
  [new RegExp(`^ip6 saddr fe80::/10 icmpv6 type \\{ ${ICMP_LIST} \\} accept$`), (m, ctx, out, sets) => {
    const look = icmpv6Types(m[1]!, ctx, sets)
    out.push(...etherIs('ip6'), addr('ip6', 'saddr'), bitwise(hex('ffc0' + '00'.repeat(14))), cmp(CMP_OP.EQ, hex('fe80' + '00'.repeat(14))),
      meta(META_KEY.L4PROTO), cmp(CMP_OP.EQ, u8(ICMPV6)), payload(BASE.TRANSPORT, 0, 1), look, verdict('accept'))
  }],
  [new RegExp(`^ip6 saddr :: icmpv6 type \\{ ${ICMP_LIST} \\} accept$`), (m, ctx, out, sets) => {
    const look = icmpv6Types(m[1]!, ctx, sets)
    out.push(...etherIs('ip6'), addr('ip6', 'saddr'), cmp(CMP_OP.EQ, Buffer.alloc(16)), meta(META_KEY.L4PROTO), cmp(CMP_OP.EQ, u8(ICMPV6)), payload(BASE.TRANSPORT, 0, 1), look, verdict('accept'))
  }],
  [new RegExp(`^counter name "${NAME}" drop$`), (m, _c, out) => out.push(counter(m[1]!), verdict('drop'))],
  // The fail-closed guard: IP on a veth named like ours that is not programmed. nft compares an
  // `ifname*` wildcard as the prefix without NUL.
  [new RegExp(`^meta protocol \\{ ip, ip6 \\} (iifname|oifname) "([a-z0-9]{1,14})\\*" (iifname|oifname) != @${NAME} counter name "${NAME}" drop$`), (m, ctx, out, sets) => {
    if (m[1] !== m[3]) throw new UnsupportedElements(`rule: ${m[1]} and ${m[3]} in one guard`)
    const id = ++ctx.setId
    sets.push(anonymousSet({ id, ...ETHER_SET, flags: SET_F.ANONYMOUS | SET_F.CONSTANT, elements: [{ key: hex(ETHER.ip) }, { key: hex(ETHER.ip6) }] }))
    const dev = m[1] === 'iifname' ? META_KEY.IIFNAME : META_KEY.OIFNAME
    out.push(meta(META_KEY.PROTOCOL), anonymousLookup(id), meta(dev), cmp(CMP_OP.EQ, Buffer.from(m[2]!, 'latin1')), meta(dev), lookup(m[4]!, { inv: true }), counter(m[5]!), verdict('drop'))
  }],
]

/**
 * The expressions of `rule` when it is one of the fixed shapes of `family`'s base chains, else
 * undefined (a pod chain's rule: rule-netlink.ts). NAME is syntax.ts's name rule (nft's scanner).
 */
export function encodeBaseRule(family: 'inet' | 'bridge', rule: string, ctx: Ctx): EncodedRule | undefined {
  for (const [re, build] of family === 'inet' ? INET : BRIDGE) {
    const m = re.exec(rule)
    if (!m) continue
    const out: Buffer[] = [], sets: EncodedRule['sets'] = []
    build(m, ctx, out, sets)
    return { expressions: Buffer.concat(out), sets }
  }
  return undefined
}
