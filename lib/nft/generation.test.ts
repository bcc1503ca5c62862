// decodeGeneration reads NFTA_GEN_ID of an nf_tables NEWGEN only (the kernel's own layout:
// nf_tables_fill_gen_info), and nothing from any other or a malformed message; nextGeneration
// skips 0 at the wrap as nf_tables_commit does.
import { describe, expect, it } from 'vitest'
import { encodeNfnl, parseMessages, NFNL_SUBSYS, type NlMessage } from '../net/nfnetlink.js'
import { attr, be32, str } from '../net/tlv.js'
import { decodeGeneration, nextGeneration, noteCommit, noteOwnCommits, ownCommit, NFT_MSG_GETGEN, NFT_MSG_NEWGEN } from './generation.js'

/** A NEWGEN as the kernel sends it: id, the committing process's pid and name. */
function newgen(id: number, o: { subsys?: number; msg?: number; attrs?: Buffer } = {}): NlMessage {
  const attrs = o.attrs ?? Buffer.concat([attr(1, be32(id)), attr(2, be32(4242)), attr(3, str('nft'))])
  const [m] = parseMessages(encodeNfnl({ subsys: o.subsys ?? NFNL_SUBSYS.NFTABLES, msg: o.msg ?? NFT_MSG_NEWGEN, family: 0, attrs }, 7, 0))
  return m as NlMessage
}

describe('decodeGeneration', () => {
  it('reads the id of a NEWGEN', () => {
    expect(decodeGeneration(newgen(1))).toBe(1)
    expect(decodeGeneration(newgen(0xfffffffe))).toBe(0xfffffffe)
  })
  it('reads nothing from another message or a malformed one', () => {
    expect(decodeGeneration(newgen(5, { msg: NFT_MSG_GETGEN }))).toBeUndefined()
    expect(decodeGeneration(newgen(5, { subsys: NFNL_SUBSYS.CTNETLINK }))).toBeUndefined()
    expect(decodeGeneration(newgen(5, { attrs: attr(2, be32(5)) }))).toBeUndefined() // no id
    expect(decodeGeneration(newgen(5, { attrs: attr(1, Buffer.from([1, 2])) }))).toBeUndefined() // an id of 2 bytes
    expect(decodeGeneration({ type: (NFNL_SUBSYS.NFTABLES << 8) | NFT_MSG_NEWGEN, flags: 0, seq: 1, pid: 0, payload: Buffer.alloc(2) })).toBeUndefined()
  })
})

describe('nextGeneration', () => {
  it('is +1, and 1 after the last (0 is never an id)', () => {
    expect(nextGeneration(1)).toBe(2)
    expect(nextGeneration(0xfffffffe)).toBe(0xffffffff)
    expect(nextGeneration(0xffffffff)).toBe(1)
  })
})

describe('own commits', () => {
  it('are noted only once the process asks, and the oldest go past 256', () => {
    noteCommit(5, ['inet cinch-nat'])
    expect(ownCommit(5)).toBeUndefined()
    noteOwnCommits()
    noteCommit(5, ['inet cinch-nat'])
    expect(ownCommit(5)).toEqual(['inet cinch-nat'])
    for (let g = 6; g < 6 + 256; g++) noteCommit(g, ['inet x'])
    expect(ownCommit(5)).toBeUndefined()
    expect(ownCommit(6)).toEqual(['inet x'])
  })
})
