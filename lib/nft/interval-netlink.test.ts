// Interval sets added with their elements in one batch: byte for byte what nft 1.0.6 sends for
// `add set ... { flags interval; }` + `add element ...` (strace of its sendmsg, one run, sets
// numbered 1, 2, ...): NEWSET, then the elements twice (see interval-netlink.ts).
import { describe, expect, it } from 'vitest'
import { commandText, encodeCommand, type EncodeContext, type NftCommand } from './commands.js'
import { UnsupportedElements, type ElementCommand, type KeyPart } from './elements.js'

const GOLDEN: [string, string, [number, number, string][]][] = [
  ['add set inet cinch b1 { type ipv4_addr; flags interval; comment "one"; }', 'add element inet cinch b1 { 10.0.0.0/8, 172.16.0.0-172.16.0.9, 192.168.1.0/24 }', [[9, 0x401, '0a00010063696e6368000000070002006231000008000300000000040800040000000007080005000000000408000a000000000110000d0000040200000007046f6e6500'], [12, 0x401, '0a00010063696e636800000007000200623100000800040000000001940003801800018008000300000000010c0001800800010000000000100002800c000180080001000a0000001800038008000300000000010c000180080001000b000000100004800c00018008000100ac1000001800058008000300000000010c00018008000100ac10000a100006800c00018008000100c0a801001800078008000300000000010c00018008000100c0a80200'], [12, 0x401, '0a00010063696e6368000000070002006231000008000400000000017c000380100001800c000180080001000a0000001800028008000300000000010c000180080001000b000000100003800c00018008000100ac1000001800048008000300000000010c00018008000100ac10000a100005800c00018008000100c0a801001800068008000300000000010c00018008000100c0a80200']]],
  ['add set inet cinch b2 { type ipv4_addr; flags interval; comment "zero"; }', 'add element inet cinch b2 { 0.0.0.0/8, 240.0.0.0/4 }', [[9, 0x401, '0a00010063696e6368000000070002006232000008000300000000040800040000000007080005000000000408000a000000000211000d0000040200000007057a65726f00000000'], [12, 0x401, '0a00010063696e63680000000700020062320000080004000000000248000380100001800c00018008000100000000001800028008000300000000010c00018008000100010000001c0003800c00018008000100f00000000a0006000104010000000000'], [12, 0x401, '0a00010063696e63680000000700020062320000080004000000000248000380100001800c00018008000100000000001800028008000300000000010c00018008000100010000001c0003800c00018008000100f00000000a0006000104010000000000']]],
  ['add set inet cinch b3 { type ipv4_addr; flags interval; comment "all"; }', 'add element inet cinch b3 { 0.0.0.0/0 }', [[9, 0x401, '0a00010063696e6368000000070002006233000008000300000000040800040000000007080005000000000408000a000000000310000d000004020000000704616c6c00'], [12, 0x401, '0a00010063696e636800000007000200623300000800040000000003200003801c0001800c00018008000100000000000a0006000104010000000000'], [12, 0x401, '0a00010063696e636800000007000200623300000800040000000003200003801c0001800c00018008000100000000000a0006000104010000000000']]],
  ['add set inet cinch b4 { type ipv6_addr; flags interval; comment "six"; }', 'add element inet cinch b4 { 2001:db8::/32, fd00::-fd00::ff, ff00::/8 }', [[9, 0x401, '0a00010063696e6368000000070002006234000008000300000000040800040000000008080005000000001008000a000000000410000d00000402000000070473697800'], [12, 0x401, '0a00010063696e636800000007000200623400000800040000000004d00003802400018008000300000000011800018014000100000000000000000000000000000000001c000280180001801400010020010db8000000000000000000000000240003800800030000000001180001801400010020010db90000000000000000000000001c0004801800018014000100fd0000000000000000000000000000002400058008000300000000011800018014000100fd000000000000000000000000000100280006801800018014000100ff0000000000000000000000000000000a0006000104010000000000'], [12, 0x401, '0a00010063696e636800000007000200623400000800040000000004ac0003801c000180180001801400010020010db8000000000000000000000000240002800800030000000001180001801400010020010db90000000000000000000000001c0003801800018014000100fd0000000000000000000000000000002400048008000300000000011800018014000100fd000000000000000000000000000100280005801800018014000100ff0000000000000000000000000000000a0006000104010000000000']]],
  ['add set inet cinch b5 { type inet_service; flags interval; comment "ports"; }', 'add element inet cinch b5 { 80, 1000-2000, 65535 }', [[9, 0x401, '0a00010063696e636800000007000200623500000800030000000004080004000000000d080005000000000208000a000000000512000d000004020000000706706f727473000000'], [12, 0x401, '0a00010063696e636800000007000200623500000800040000000005880003801800018008000300000000010c0001800600010000000000100002800c00018006000100005000001800038008000300000000010c0001800600010000510000100004800c0001800600010003e800001800058008000300000000010c0001800600010007d100001c0006800c00018006000100ffff00000a0006000104010000000000'], [12, 0x401, '0a00010063696e63680000000700020062350000080004000000000570000380100001800c00018006000100005000001800028008000300000000010c0001800600010000510000100003800c0001800600010003e800001800048008000300000000010c0001800600010007d100001c0005800c00018006000100ffff00000a0006000104010000000000']]],
]

function commandsOf(setLine: string, elementLine: string): [NftCommand, ElementCommand] {
  const s = /^add set inet cinch (\S+) \{ type (\S+); flags interval; comment "([^"]*)"; \}$/.exec(setLine)!
  const e = /^add element inet cinch (\S+) \{ (.*) \}$/.exec(elementLine)!
  const key = [s[2]] as KeyPart[]
  return [
    { family: 'inet', table: 'cinch', kind: 'set', verb: 'add', name: s[1]!, key, interval: true, comment: s[3]! },
    { verb: 'add', family: 'inet', table: 'cinch', set: e[1]!, key, interval: true, elements: e[2]!.split(', ') },
  ]
}

describe('interval sets over netlink', () => {
  const ctx: EncodeContext = { setId: 0 }
  it.each(GOLDEN)('%s + %s', (setLine, elementLine, expected) => {
    const [set, els] = commandsOf(setLine, elementLine)
    expect([commandText(set), commandText(els)]).toEqual([setLine, elementLine])
    const got = [...encodeCommand(set, ctx), ...encodeCommand(els, ctx)]
    expect(got.map((m) => [m.msg, m.flags | 1, m.attrs.toString('hex')])).toEqual(expected)
  })

  const fresh = (elements: string[], key: KeyPart = 'ipv4_addr', o: Partial<ElementCommand> = {}) => {
    const c: EncodeContext = { setId: 0 }
    encodeCommand({ family: 'inet', table: 'cinch', kind: 'set', verb: 'add', name: 'b', key: [key], interval: true, comment: 'x' }, c)
    return () => encodeCommand({ verb: 'add', family: 'inet', table: 'cinch', set: 'b', key: [key], interval: true, elements, ...o }, c)
  }
  it.each([
    ['overlapping intervals', fresh(['10.0.0.0/8', '10.1.0.0/16'])],
    ['adjacent intervals (nft may merge them)', fresh(['10.0.0.0/16', '10.1.0.0/16'])],
    ['a prefix with host bits', fresh(['10.0.0.1/8'])],
    ['a non-canonical address', fresh(['10.0.0.01/32'])],
    ['an IPv6 address in an IPv4 set', fresh(['fd00::/8'])],
    ['a reversed range', fresh(['10.0.0.9-10.0.0.1'])],
    ['a port out of range', fresh(['70000'], 'inet_service')],
    ['a delete', fresh(['10.0.0.0/8'], 'ipv4_addr', { verb: 'delete' })],
  ])('refuses %s', (_, encode) => {
    expect(encode).toThrow(UnsupportedElements)
  })

  // The IR lists a set's elements in string order (compile/sets.ts): ports 10, 16, 2 and blocks
  // 10.0.0.0/8, 9.0.0.0/8 are out of numeric order there. nft sorts them (its segtree); so does
  // the encoder, else every full replace with such a set went through nft (UnsupportedElements).
  it.each([
    ['ports in string order', 'inet_service' as KeyPart, ['1000-2000', '65535', '80'], ['80', '1000-2000', '65535']],
    ['blocks in string order', 'ipv4_addr' as KeyPart, ['10.0.0.0/8', '192.168.1.0/24', '8.0.0.0/8'], ['8.0.0.0/8', '10.0.0.0/8', '192.168.1.0/24']],
  ])('encodes %s as the same elements sorted by value', (_, key, unsorted, sorted) => {
    const encode = (elements: string[]) => fresh(elements, key)().map((m) => m.attrs.toString('hex'))
    expect(encode(unsorted)).toEqual(encode(sorted))
  })

  it('refuses elements of an interval set the batch did not add (nft would merge with what the kernel holds)', () => {
    expect(() => encodeCommand({ verb: 'add', family: 'inet', table: 'cinch', set: 'b', key: ['ipv4_addr'], interval: true, elements: ['10.0.0.0/8'] }, { setId: 0 })).toThrow(UnsupportedElements)
  })
})
