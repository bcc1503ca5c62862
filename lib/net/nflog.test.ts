// The nfnetlink_log codec against what this kernel (6.18) really sent. Captured with a python3
// NETLINK_NETFILTER socket that bound the group (copy range 128, qthresh 1) in a scratch netns:
//   OUT_*: `table inet t { chain out { type filter hook output priority 0;
//            ct state new meta l4proto { tcp, udp, icmp, ipv6-icmp } log group 77 snaplen 128
//            prefix "cinch1:enrA:0123456789ab:3" } }`, then socat UDP/TCP and ping over lo, v4 and v6;
//   FWD_*: a router netns between 10.9.1.2 and 10.9.2.2, `chain f { type filter hook forward
//            priority 0; log group 78 snaplen 128 prefix "cinch1:inxD:fedcba987654"; drop }`, a UDP
//            datagram and a raw SCTP INIT from 10.9.1.2.
import { describe, expect, it } from 'vitest'
import { NFULNL_CFG_CMD, NFULNL_CFG_F, nflogBindRequest, nflogPfRequest, nflogUnbindRequest, parseHeaders, parseNflogPacket } from './nflog.js'
import { encodeNfnl, NLM_F, parseMessages } from './nfnetlink.js'

const bytes = (hexdump: string) => Buffer.from(hexdump.replace(/\s+/g, ''), 'hex')
const hex = (b: Buffer) => b.toString('hex')
const one = (b: Buffer) => {
  const ms = parseMessages(b)
  expect(ms).toHaveLength(1)
  return parseNflogPacket(ms[0]!)
}

const OUT_UDP4 = bytes(`
  78000000 00040000 00000000 00000000 0200004d 08000100 08000300 1f000a00
  63696e63 68313a65 6e72413a 30313233 34353637 38396162 3a330000 08000500
  00000001 08000b00 00000000 08000e00 00000000 23000900 4500001f 163b4000
  40112691 7f000001 7f000001 9c4114e9 000bfe1e 68690a00
`)
const OUT_UDP6 = bytes(`
  8c000000 00040000 00000000 00000000 0a00004d 08000100 86dd0300 1f000a00
  63696e63 68313a65 6e72413a 30313233 34353637 38396162 3a330000 08000500
  00000001 08000b00 00000000 08000e00 00000000 37000900 600e2fea 000b1140
  00000000 00000000 00000000 00000001 00000000 00000000 00000000 00000001
  9c4214ea 000b001e 68690a00
`)
const OUT_TCP4 = bytes(`
  94000000 00040000 00000000 00000000 0200004d 08000100 08000300 1f000a00
  63696e63 68313a65 6e72413a 30313233 34353637 38396162 3a330000 08000500
  00000001 08000b00 00000000 08000e00 00000000 40000900 4500003c 4f194000
  4006eda0 7f000001 7f000001 9c431f90 3a7bbc06 00000000 a002ffd7 fe300000
  0204ffd7 0402080a 7df67744 00000000 0103030a
`)
const OUT_TCP6 = bytes(`
  a8000000 00040000 00000000 00000000 0a00004d 08000100 86dd0300 1f000a00
  63696e63 68313a65 6e72413a 30313233 34353637 38396162 3a330000 08000500
  00000001 08000b00 00000000 08000e00 00000000 54000900 60075de5 00280640
  00000000 00000000 00000000 00000001 00000000 00000000 00000000 00000001
  9c441f91 732d847b 00000000 a002ffc4 00300000 0204ffc4 0402080a bd1b7196
  00000000 0103030a
`)
const OUT_ICMP4 = bytes(`
  ac000000 00040000 00000000 00000000 0200004d 08000100 08000300 1f000a00
  63696e63 68313a65 6e72413a 30313233 34353637 38396162 3a330000 08000500
  00000001 08000b00 00000000 08000e00 00000000 58000900 45000054 0ff64000
  40012cb1 7f000001 7f000001 08008d1a 60110001 e1cb0e6b 00000000 50c90b00
  00000000 10111213 14151617 18191a1b 1c1d1e1f 20212223 24252627 28292a2b
  2c2d2e2f 30313233 34353637
`)
const OUT_ICMP6 = bytes(`
  c0000000 00040000 00000000 00000000 0a00004d 08000100 86dd0300 1f000a00
  63696e63 68313a65 6e72413a 30313233 34353637 38396162 3a330000 08000500
  00000001 08000b00 00000000 08000e00 00000000 6c000900 600178ff 00403a40
  00000000 00000000 00000000 00000001 00000000 00000000 00000000 00000001
  80005c97 60120001 e1cb0e6b 00000000 08cf0b00 00000000 10111213 14151617
  18191a1b 1c1d1e1f 20212223 24252627 28292a2b 2c2d2e2f 30313233 34353637
`)
const FWD_UDP4 = bytes(`
  b8000000 00040000 00000000 00000000 0200004e 08000100 08000200 1d000a00
  63696e63 68313a69 6e78443a 66656463 62613938 37363534 00000000 08000400
  00000002 08000500 00000003 10000800 00060000 5e542828 f7620000 06000f00
  00010000 06001100 000e0000 12001000 9a5ced51 48ba5e54 2828f762 08000000
  14000300 00000000 6b0ecbf3 00000000 00069008 23000900 4500001f eb554000
  3f113963 0a090102 0a090202 9c450035 000b1732 68690a00
`)
const FWD_SCTP4 = bytes(`
  cc000000 00040000 00000000 00000000 0200004e 08000100 08000200 1d000a00
  63696e63 68313a69 6e78443a 66656463 62613938 37363534 00000000 08000400
  00000002 08000500 00000003 10000800 00060000 5e542828 f7620000 06000f00
  00010000 06001100 000e0000 12001000 9a5ced51 48ba5e54 2828f762 08000000
  14000300 00000000 6b0ecbf3 00000000 000847c8 38000900 45000034 ad244000
  3f84770c 0a090102 0a090202 9c46270f 00000000 00000000 01000014 11223344
  0000ffff 00010001 55667788
`)

describe('parseNflogPacket + parseHeaders (kernel bytes)', () => {
  const cases: { name: string; msg: Buffer; group: number; family: number; hook: number; prefix: string; dev: object; l34: object }[] = [
    { name: 'UDP over IPv4, output hook', msg: OUT_UDP4, group: 77, family: 2, hook: 3, prefix: 'cinch1:enrA:0123456789ab:3', dev: { outdev: 1 },
      l34: { family: 4, src: '127.0.0.1', dst: '127.0.0.1', proto: 17, sport: 40001, dport: 5353 } },
    { name: 'UDP over IPv6', msg: OUT_UDP6, group: 77, family: 10, hook: 3, prefix: 'cinch1:enrA:0123456789ab:3', dev: { outdev: 1 },
      l34: { family: 6, src: '::1', dst: '::1', proto: 17, sport: 40002, dport: 5354 } },
    { name: 'TCP SYN over IPv4', msg: OUT_TCP4, group: 77, family: 2, hook: 3, prefix: 'cinch1:enrA:0123456789ab:3', dev: { outdev: 1 },
      l34: { family: 4, src: '127.0.0.1', dst: '127.0.0.1', proto: 6, sport: 40003, dport: 8080 } },
    { name: 'TCP SYN over IPv6', msg: OUT_TCP6, group: 77, family: 10, hook: 3, prefix: 'cinch1:enrA:0123456789ab:3', dev: { outdev: 1 },
      l34: { family: 6, src: '::1', dst: '::1', proto: 6, sport: 40004, dport: 8081 } },
    { name: 'ICMP echo request', msg: OUT_ICMP4, group: 77, family: 2, hook: 3, prefix: 'cinch1:enrA:0123456789ab:3', dev: { outdev: 1 },
      l34: { family: 4, src: '127.0.0.1', dst: '127.0.0.1', proto: 1, sport: 0, dport: 0, icmp: { type: 8, code: 0 } } },
    { name: 'ICMPv6 echo request', msg: OUT_ICMP6, group: 77, family: 10, hook: 3, prefix: 'cinch1:enrA:0123456789ab:3', dev: { outdev: 1 },
      l34: { family: 6, src: '::1', dst: '::1', proto: 58, sport: 0, dport: 0, icmp: { type: 128, code: 0 } } },
    { name: 'forwarded UDP: in and out interfaces', msg: FWD_UDP4, group: 78, family: 2, hook: 2, prefix: 'cinch1:inxD:fedcba987654', dev: { indev: 2, outdev: 3 },
      l34: { family: 4, src: '10.9.1.2', dst: '10.9.2.2', proto: 17, sport: 40005, dport: 53 } },
    { name: 'forwarded SCTP INIT', msg: FWD_SCTP4, group: 78, family: 2, hook: 2, prefix: 'cinch1:inxD:fedcba987654', dev: { indev: 2, outdev: 3 },
      l34: { family: 4, src: '10.9.1.2', dst: '10.9.2.2', proto: 132, sport: 40006, dport: 9999 } },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const p = one(c.msg)!
      expect(p).toMatchObject({ group: c.group, family: c.family, hook: c.hook, prefix: c.prefix, ...c.dev })
      expect(p.hwProtocol).toBe(c.family === 2 ? 0x0800 : 0x86dd)
      expect(parseHeaders(p.payload, p.hwProtocol)).toEqual(c.l34)
    })
  }

  it('reads the receive timestamp of a forwarded packet, and no seq without NFULNL_CFG_F_SEQ', () => {
    const p = one(FWD_UDP4)!
    expect(p.timestamp).toEqual({ sec: 0x6b0ecbf3, usec: 0x69008 })
    expect(p.seq).toBeUndefined()
    expect(one(OUT_UDP4)!.timestamp).toBeUndefined()
  })

  it('copies at most the copy range: a 128-byte snap of a longer packet still yields its headers', () => {
    const p = one(OUT_ICMP4)!
    expect(p.payload.length).toBe(0x54) // 84-byte ping, under the range
    expect(parseHeaders(p.payload.subarray(0, 24), 0x0800)).toMatchObject({ proto: 1, icmp: { type: 8, code: 0 } })
  })
})

describe('parseNflogPacket: hostile or foreign messages', () => {
  it('ignores NLMSG_DONE, other subsystems, config messages, and a packet without its header', () => {
    const done = bytes('14000000 0300 0200 00000000 00000000 00000000')
    expect(parseMessages(done).map(parseNflogPacket)).toEqual([undefined])
    const ct = Buffer.from(OUT_UDP4); ct.writeUInt16LE(0x0100, 4) // ctnetlink NEW
    expect(one(ct)).toBeUndefined()
    const cfg = Buffer.from(OUT_UDP4); cfg.writeUInt16LE(0x0401, 4) // NFULNL_MSG_CONFIG
    expect(one(cfg)).toBeUndefined()
    const nohdr = Buffer.from(OUT_UDP4); nohdr.writeUInt16LE(0x7f, 20 + 2) // PACKET_HDR -> unknown type
    expect(one(nohdr)).toBeUndefined()
  })

  it('a message cut short is not read past its end', () => {
    expect(parseMessages(OUT_TCP6.subarray(0, 100))).toEqual([])
    // A payload attribute whose length runs past the message: dropped, not read beyond.
    const long = Buffer.from(OUT_UDP4); long.writeUInt16LE(0xff, 0x54)
    expect(one(long)!.payload.length).toBe(0)
  })
})

describe('parseHeaders: what a copy range or an attacker can cut', () => {
  const v4 = one(OUT_TCP4)!.payload
  const v6 = one(OUT_TCP6)!.payload
  it('no network header: undefined; a cut transport header: ports 0', () => {
    expect(parseHeaders(v4.subarray(0, 19), 0x0800)).toBeUndefined()
    expect(parseHeaders(v6.subarray(0, 39), 0x86dd)).toBeUndefined()
    expect(parseHeaders(v4.subarray(0, 22), 0x0800)).toMatchObject({ proto: 6, sport: 0, dport: 0 })
    expect(parseHeaders(Buffer.alloc(0))).toBeUndefined()
    expect(parseHeaders(Buffer.from([0x11, 0, 0]))).toBeUndefined()
  })
  it('an IHL under 5 words or a version that contradicts the ethertype: undefined', () => {
    const bad = Buffer.from(v4); bad[0] = 0x44
    expect(parseHeaders(bad, 0x0800)).toBeUndefined()
    expect(parseHeaders(v6, 0x0800)).toBeUndefined()
  })
  it('IPv4 options are skipped; a non-first fragment has no ports', () => {
    const opts = Buffer.concat([Buffer.from([0x46]), v4.subarray(1, 20), Buffer.from([1, 1, 1, 0]), v4.subarray(20)])
    expect(parseHeaders(opts, 0x0800)).toMatchObject({ sport: 40003, dport: 8080 })
    const frag = Buffer.from(v4); frag.writeUInt16BE(0x0010, 6)
    expect(parseHeaders(frag, 0x0800)).toMatchObject({ proto: 6, sport: 0, dport: 0 })
  })
  it('IPv6 extension headers are walked (hop-by-hop, fragment), a later fragment has no ports', () => {
    const hbh = Buffer.from([6, 0, 1, 4, 0, 0, 0, 0]) // next TCP, len 0 (8 bytes), PadN
    const withHbh = Buffer.concat([v6.subarray(0, 40), hbh, v6.subarray(40)]); withHbh[6] = 0
    expect(parseHeaders(withHbh, 0x86dd)).toMatchObject({ proto: 6, sport: 40004, dport: 8081 })
    const frag0 = Buffer.from([6, 0, 0, 1, 0, 0, 0, 1]) // offset 0, more fragments
    const first = Buffer.concat([v6.subarray(0, 40), frag0, v6.subarray(40)]); first[6] = 44
    expect(parseHeaders(first, 0x86dd)).toMatchObject({ proto: 6, sport: 40004 })
    const later = Buffer.from(first); later.writeUInt16BE(0x0100, 42)
    expect(parseHeaders(later, 0x86dd)).toMatchObject({ proto: 6, sport: 0, dport: 0 })
    // A chain of extension headers longer than the copy: stops, never reads past the buffer.
    const loop = Buffer.concat([v6.subarray(0, 40), Buffer.alloc(80)]); loop[6] = 0
    expect(parseHeaders(loop, 0x86dd)).toMatchObject({ sport: 0, dport: 0 })
  })
})

describe('config requests', () => {
  it('BIND with copy mode, queue threshold, timeout and flags in one CONFIG message for the group', () => {
    const m = encodeNfnl(nflogBindRequest({ group: 77, copyRange: 128, qthresh: 1, timeoutCs: 0, flags: NFULNL_CFG_F.SEQ }), 1, NLM_F.ACK)
    // nlmsghdr: type NFNL_SUBSYS_ULOG<<8 | NFULNL_MSG_CONFIG, REQUEST|ACK; nfgenmsg AF_UNSPEC v0 res_id be16 77
    expect(hex(m.subarray(4, 8))).toBe('01040500')
    expect(hex(m.subarray(16, 20))).toBe('0000004d')
    expect(hex(m.subarray(20))).toBe([
      '05000100 01000000', // NFULA_CFG_CMD BIND (what the capture script sent, acked 0)
      '0a000200 00000080 02000000', // NFULA_CFG_MODE: be32 128, NFULNL_COPY_PACKET, pad
      '08000500 00000001', // QTHRESH be32 1
      '08000400 00000000', // TIMEOUT be32 0
      '06000600 00010000', // FLAGS be16 NFULNL_CFG_F_SEQ
    ].join('').replace(/\s/g, ''))
  })
  it('copy range 0 asks for metadata only; a group outside 0..65535 is refused before any bytes', () => {
    expect(nflogBindRequest({ group: 1, copyRange: 0 }).attrs!.readUInt8(8 + 4 + 4)).toBe(1)
    expect(() => nflogBindRequest({ group: 65536, copyRange: 0 })).toThrow(/0\.\.65535/)
    expect(() => nflogBindRequest({ group: -1, copyRange: 0 })).toThrow()
    expect(() => nflogBindRequest({ group: 1, copyRange: 1e6 })).toThrow(/copy range/)
  })
  it('UNBIND and PF_BIND carry the command; PF_* name the family, not a group', () => {
    expect(hex(nflogUnbindRequest(77).attrs!)).toBe('0500010002000000')
    const pf = nflogPfRequest(NFULNL_CFG_CMD.PF_UNBIND, 10)
    expect(pf.family).toBe(10)
    expect(pf.resId ?? 0).toBe(0)
    expect(hex(pf.attrs!)).toBe('0500010004000000')
  })
})
