// The conntrack codec against what conntrack(8) 1.4.7 really sent and received on this kernel
// (6.18), captured with `strace -e trace=sendto,recvmsg -e read=3 -e write=3,4 conntrack ...` in a
// scratch netns after `conntrack -I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1000 --dport 53 -u ASSURED`
// and `conntrack -I -p tcp -s fd00::1 -d fd00::2 --sport 40000 --dport 80 --state TIME_WAIT -u SEEN_REPLY`.
import { describe, expect, it } from 'vitest'
import { CTA, IPPROTO, IPS, TCP_CONNTRACK, ctDeleteRequest, ctDumpRequest, encodeTuple, parseCtEntry } from './conntrack.js'
import { encodeNfnl, NLM_F, parseMessages } from './nfnetlink.js'
import { AF_INET, AF_INET6 } from './rtnl.js'

const bytes = (hexdump: string) => Buffer.from(hexdump.replace(/\s+/g, ''), 'hex')
const hex = (b: Buffer) => b.toString('hex')

// `conntrack -L -f ipv6`: the request, then the one entry the kernel answered (288 bytes).
const DUMP_V6_REQUEST = bytes('14000000 0101 0103 58c80e6b 00000000 0a000000')
const DUMP_V6_ENTRY = bytes(`
  20 01 00 00 00 01 22 00  58 c8 0e 6b 9d 09 00 00  0a 00 00 00 4c 00 01 80  2c 00 01 80 14 00 03 00
  fd 00 00 00 00 00 00 00  00 00 00 00 00 00 00 01  14 00 04 00 fd 00 00 00  00 00 00 00 00 00 00 00
  00 00 00 02 1c 00 02 80  05 00 01 00 06 00 00 00  06 00 02 00 9c 40 00 00  06 00 03 00 00 50 00 00
  4c 00 02 80 2c 00 01 80  14 00 03 00 fd 00 00 00  00 00 00 00 00 00 00 00  00 00 00 02 14 00 04 00
  fd 00 00 00 00 00 00 00  00 00 00 00 00 00 00 01  1c 00 02 80 05 00 01 00  06 00 00 00 06 00 02 00
  00 50 00 00 06 00 03 00  9c 40 00 00 08 00 03 00  00 00 00 0a 08 00 08 00  00 00 00 00 08 00 0c 00
  a6 13 5a 8d 08 00 0b 00  00 00 00 01 08 00 07 00  00 00 00 63 30 00 04 80  2c 00 01 80 05 00 01 00
  07 00 00 00 05 00 02 00  00 00 00 00 05 00 03 00  00 00 00 00 06 00 04 00  0e 00 00 00 06 00 05 00
  0e 00 00 00 1c 00 18 80  08 00 01 00 00 00 00 00  08 00 02 00 00 00 00 00  08 00 03 00 00 00 00 00`)
const DUMP_DONE = bytes('14000000 0300 0200 58c80e6b 9d090000 00000000')
// `conntrack -D -f ipv4 -p udp --sport 1000`: the delete's header, nfgenmsg and CTA_TUPLE_ORIG.
const DELETE_V4_HEAD = bytes('b0000000 0201 0500 58c80e6b 00000000 02000000')
const DELETE_V4_TUPLE_ORIG = bytes(`
  34 00 01 80 14 00 01 80 08 00 01 00 0a 00 00 01 08 00 02 00 0a 00 00 02 1c 00 02 80
  05 00 01 00 11 00 00 00 06 00 02 00 03 e8 00 00 06 00 03 00 00 35 00 00`)
const SEQ = 0x6b0ec858

describe('ctDumpRequest', () => {
  it('is the GET|DUMP request conntrack -L sends', () => {
    expect(hex(encodeNfnl(ctDumpRequest(AF_INET6), SEQ, NLM_F.DUMP))).toBe(hex(DUMP_V6_REQUEST))
  })
})

describe('parseCtEntry', () => {
  it('reads a kernel dump entry: both tuples, status, TCP state, id (conntrack -o id: 2786286221)', () => {
    const [m, ...rest] = parseMessages(DUMP_V6_ENTRY)
    expect(rest).toEqual([])
    expect(parseCtEntry(m!)).toEqual({
      family: 6,
      orig: { src: 'fd00::1', dst: 'fd00::2', proto: IPPROTO.TCP, sport: 40000, dport: 80 },
      reply: { src: 'fd00::2', dst: 'fd00::1', proto: IPPROTO.TCP, sport: 80, dport: 40000 },
      status: IPS.SEEN_REPLY | 0x8 /* IPS_CONFIRMED */,
      state: TCP_CONNTRACK.TIME_WAIT,
      id: 2786286221,
    })
  })

  it('skips NLMSG_DONE, and a message cut short yields nothing rather than garbage', () => {
    expect(parseMessages(DUMP_DONE).map(parseCtEntry)).toEqual([undefined])
    expect(parseMessages(DUMP_V6_ENTRY.subarray(0, 100))).toEqual([])
    // A tuple without its addresses (a hostile or future kernel): not an entry.
    const cut = Buffer.from(DUMP_V6_ENTRY)
    cut.writeUInt16LE(0x7f, 24 + 4 + 2) // CTA_TUPLE_IP -> an unknown attribute type
    expect(parseCtEntry(parseMessages(cut)[0]!)).toBeUndefined()
  })
})

describe('ctDeleteRequest', () => {
  const entry = {
    family: 4 as const,
    orig: { src: '10.0.0.1', dst: '10.0.0.2', proto: IPPROTO.UDP, sport: 1000, dport: 53 },
    reply: { src: '10.0.0.2', dst: '10.0.0.1', proto: IPPROTO.UDP, sport: 53, dport: 1000 },
    status: 0xc,
  }

  it('encodes the original tuple exactly as conntrack -D does', () => {
    expect(hex(encodeTuple(CTA.TUPLE_ORIG, 4, entry.orig))).toBe(hex(DELETE_V4_TUPLE_ORIG))
  })

  it('is a DELETE for the entry\'s family, with the tuple, then the id and zone that pin it', () => {
    const msg = encodeNfnl(ctDeleteRequest({ ...entry, id: 3680654946, zone: 7 }), SEQ, NLM_F.ACK)
    // conntrack's header differs only in length (it also sends reply tuple, status, timeout, mark).
    expect(hex(msg.subarray(4, 20))).toBe(hex(DELETE_V4_HEAD.subarray(4, 20)))
    expect(msg.readUInt32LE(0)).toBe(msg.length)
    expect(hex(msg.subarray(20, 20 + 52))).toBe(hex(DELETE_V4_TUPLE_ORIG))
    expect(hex(msg.subarray(72))).toBe('08000c00' + 'db625662' /* 3680654946 */ + '06001200' + '0007' + '0000')
    expect(ctDeleteRequest({ ...entry, family: 6, orig: { ...entry.orig, src: 'fd00::1', dst: 'fd00::2' } }).family).toBe(AF_INET6)
  })
})
