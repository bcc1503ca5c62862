// nfnetlink's framing: requests as one datagram, as the kernel walks it (NLMSG_ALIGN'ed messages).
import { describe, expect, it } from 'vitest'
import { encodeNfnl, encodeNfnlDatagram, NLM_F, parseMessages } from './nfnetlink.js'

describe('encodeNfnlDatagram', () => {
  it('writes each request at its aligned offset, the padding zeroed, as encodeNfnl writes it alone', () => {
    const reqs = [
      { subsys: 10, msg: 0x10, family: 0, resId: 10 },
      { subsys: 10, msg: 3, family: 1, flags: 0x400, attrs: Buffer.from([1, 2, 3]) }, // 23 bytes: padded to 24
      { subsys: 10, msg: 6, family: 1, attrs: Buffer.from([9, 9, 9, 9, 9, 9, 9, 9]) },
    ]
    // Padding from garbage: the buffer is allocUnsafe'd, so make the pool dirty first.
    Buffer.allocUnsafe(2048).fill(0xff) // under half the pool: taken from it
    const b = encodeNfnlDatagram(reqs, [7, 8, 9], [0, NLM_F.ACK, NLM_F.ACK | NLM_F.ECHO])
    expect(b.length).toBe(20 + 24 + 28)
    expect(b.subarray(20 + 23, 20 + 24)).toEqual(Buffer.from([0]))
    const ms = parseMessages(b)
    expect(ms.map((m) => [m.type, m.flags, m.seq, m.payload.length])).toEqual([
      [(10 << 8) | 0x10, NLM_F.REQUEST, 7, 4],
      [(10 << 8) | 3, NLM_F.REQUEST | NLM_F.ACK | 0x400, 8, 7],
      [(10 << 8) | 6, NLM_F.REQUEST | NLM_F.ACK | NLM_F.ECHO, 9, 12],
    ])
    expect(ms[1]!.payload.subarray(4)).toEqual(Buffer.from([1, 2, 3]))
    expect(b.readUInt16BE(18)).toBe(10) // res_id, big-endian
    // Each message is the bytes encodeNfnl gives it alone.
    expect(b.subarray(20, 44)).toEqual(encodeNfnl(reqs[1]!, 8, NLM_F.ACK))
  })
})
