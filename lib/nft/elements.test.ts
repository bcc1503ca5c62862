// Element commands: their text, and their netlink encoding byte for byte as nft 1.0.6 sends the
// same command (the expected keys are `nft --debug=netlink` / strace output of that command).
import { describe, expect, it } from 'vitest'
import { NFT_MSG_DELSETELEM, NFT_MSG_NEWSETELEM, UnsupportedElements, elementCommandText, encodeElementCommand, type ElementCommand } from './elements.js'
import { parseAttrs } from '../net/tlv.js'

const cmd = (c: Partial<ElementCommand>): ElementCommand => ({ verb: 'add', family: 'inet', table: 't', set: 's', key: ['ipv4_addr'], elements: ['10.0.0.1'], ...c })

/** The key bytes (and verdict chain) of each element of the first message. */
function decoded(c: ElementCommand): { key: string; chain?: string; code?: number }[] {
  const [m] = encodeElementCommand(c)
  const list = parseAttrs(m!.attrs).get(3)!
  const out: { key: string; chain?: string; code?: number }[] = []
  for (let off = 0; off < list.length;) {
    const len = list.readUInt16LE(off)
    const el = parseAttrs(list.subarray(off + 4, off + len))
    const key = parseAttrs(el.get(1)!).get(1)!.toString('hex')
    const data = el.get(2)
    if (data) {
      const v = parseAttrs(parseAttrs(data).get(2)!)
      out.push({ key, code: v.get(1)!.readInt32BE(0), chain: v.get(2)!.toString().replace(/\0+$/, '') })
    } else out.push({ key })
    off += (len + 3) & ~3
  }
  return out
}

describe('element commands', () => {
  it('render as the nft line the text path sends', () => {
    expect(elementCommandText(cmd({ verb: 'delete', family: 'bridge', set: 'veths', key: ['ifname'], elements: ['"a"', '"b"'] }))).toBe('delete element bridge t veths { "a", "b" }')
  })

  it.each([
    ['ipv4_addr', ['ipv4_addr'], '10.0.0.1', '0a000001'],
    ['ipv6_addr', ['ipv6_addr'], 'fd00::1', 'fd000000000000000000000000000001'],
    // concatenations: each part padded to 4 bytes; the protocol one byte, the port big-endian
    ['addr . proto . port', ['ipv4_addr', 'inet_proto', 'inet_service'], '10.0.0.1 . tcp . 80', '0a000001' + '06000000' + '00500000'],
    ['ifname', ['ifname'], '"cinchabc"', Buffer.from('cinchabc').toString('hex').padEnd(32, '0')],
    ['ifname . ipv4_addr', ['ifname', 'ipv4_addr'], '"cinchabc" . 10.0.0.1', Buffer.from('cinchabc').toString('hex').padEnd(32, '0') + '0a000001'],
    ['ifname . raw128', ['ifname', 'raw128'], '"cinchabc" . 0xfd000000000000000000000000000001', Buffer.from('cinchabc').toString('hex').padEnd(32, '0') + 'fd000000000000000000000000000001'],
  ] as const)('encode a %s key as nft does', (_, key, text, hex) => {
    expect(decoded(cmd({ key: [...key], elements: [text] }))).toEqual([{ key: hex }])
  })

  it('encode a verdict map element as jump <chain>; a deletion names the key only', () => {
    expect(decoded(cmd({ verdict: true, elements: ['10.0.0.2 : jump c1'] }))).toEqual([{ key: '0a000002', code: -3, chain: 'c1' }])
    expect(decoded(cmd({ verb: 'delete', verdict: true, elements: ['10.0.0.2'] }))).toEqual([{ key: '0a000002' }])
  })

  it('use nft flags: add is NEWSETELEM with NLM_F_CREATE (no EXCL), delete is DELSETELEM; family inet 1, bridge 7', () => {
    expect(encodeElementCommand(cmd({}))[0]).toMatchObject({ msg: NFT_MSG_NEWSETELEM, flags: 0x400, family: 1 })
    expect(encodeElementCommand(cmd({ verb: 'delete', family: 'bridge' }))[0]).toMatchObject({ msg: NFT_MSG_DELSETELEM, flags: 0, family: 7 })
  })

  it('split many elements over messages of bounded size', () => {
    const elements = Array.from({ length: 3000 }, (_, i) => `10.${i >> 8}.${i & 255}.1`)
    const msgs = encodeElementCommand(cmd({ elements }))
    expect(msgs.length).toBeGreaterThan(1)
    expect(msgs.every((m) => m.attrs.length < 0xffff)).toBe(true)
    expect(msgs.reduce((n, m) => n + decodedCount(m.attrs), 0)).toBe(3000)
  })

  it.each([
    ['an interval set', cmd({ interval: true })],
    ['a v6 address in a v4 set', cmd({ elements: ['fd00::1'] })],
    ['a prefix', cmd({ elements: ['10.0.0.0/8'] })],
    ['a port range', cmd({ key: ['ipv4_addr', 'inet_proto', 'inet_service'], elements: ['10.0.0.1 . tcp . 80-90'] })],
    ['an unknown protocol', cmd({ key: ['ipv4_addr', 'inet_proto', 'inet_service'], elements: ['10.0.0.1 . gre . 80'] })],
    ['a wildcard ifname', cmd({ key: ['ifname'], elements: ['"cinch*"'] })],
    ['a 16-byte ifname', cmd({ key: ['ifname'], elements: ['"abcdefghijklmnop"'] })],
    ['a map element without a jump', cmd({ verdict: true, elements: ['10.0.0.1 : accept'] })],
    ['too few key parts', cmd({ key: ['ifname', 'ipv4_addr'], elements: ['"a"'] })],
  ])('refuse %s (nft writes it instead)', (_, c) => {
    expect(() => encodeElementCommand(c)).toThrow(UnsupportedElements)
  })
})

function decodedCount(attrs: Buffer): number {
  const list = parseAttrs(attrs).get(3)!
  let n = 0
  for (let off = 0; off < list.length; n++) off += (list.readUInt16LE(off) + 3) & ~3
  return n
}

describe('IPv4 keys', () => {
  // The fast path must take exactly the canonical text formatIp writes, and nothing else.
  it('reads every canonical address as parseIp does, and refuses every other text', async () => {
    const { formatIp, parseIp } = await import('../ip/index.js')
    const texts = ['0.0.0.0', '255.255.255.255', '10.0.0.1', '1.2.3.4', '010.0.0.1', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.02.3.4', ' 1.2.3.4', '1.2.3.4 ', '::1', '1.2.3.-1']
    for (let i = 0; i < 2000; i++) texts.push([0, 0, 0, 0].map(() => String(Math.floor(Math.random() * 300))).join('.'))
    for (const t of texts) {
      const a = parseIp(t)
      const canonical = !!a && a.family === 4 && formatIp(a) === t
      const c: ElementCommand = cmd({ elements: [t] })
      if (canonical) expect(decoded(c)[0]!.key).toBe(a!.value.toString(16).padStart(8, '0'))
      else expect(() => encodeElementCommand(c), t).toThrow(UnsupportedElements)
    }
  })
})

describe('IPv6 keys', () => {
  // canonicalV6 takes exactly formatIp's text (RFC 5952) and gives parseIp's bytes; anything else
  // goes to parseIp as before. Random addresses with zero runs of every length and place.
  it('agrees with parseIp + formatIp on canonical texts and refuses the rest', async () => {
    const { formatIp, parseIp } = await import('../ip/index.js')
    const { canonicalV6 } = await import('./elements.js')
    const texts = ['::', '::1', '1::', 'fd00::1', '1:0:0:1:0:0:0:1', '1:0:0:0:1:0:0:1', '1::1:0:0:0:1', '1:0:0:1::1', '0:1:0:1:0:1:0:1', '::ffff:1.2.3.4', 'FD00::1', 'fd00::01', 'fd00:::1', 'fd00::1::2', '1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:8', '1::2:3:4:5:6:7', '1:0:2:3:4:5:6:7', '1:', ':1', ':::', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8:', 'fd00::1:', '12345::1', 'g::1', '1.2.3.4', '1::2::', '::0:1', '0::1', '', ':']
    for (let i = 0; i < 5000; i++) {
      const g = Array.from({ length: 8 }, () => (Math.random() < 0.5 ? 0 : Math.floor(Math.random() * 65536)))
      const v = g.reduce((a, x) => (a << 16n) | BigInt(x), 0n)
      const t = formatIp({ family: 6, value: v })
      texts.push(t, g.map((x) => x.toString(16)).join(':'), t.replace('::', ':0::'), t.toUpperCase())
    }
    let fast = 0
    for (const t of texts) {
      const a = parseIp(t)
      const canonical = !!a && a.family === 6 && formatIp(a) === t
      const b = canonicalV6(t)
      if (b) fast++
      if (b) expect(canonical, t).toBe(true)
      if (b) expect(b.toString('hex'), t).toBe(a!.value.toString(16).padStart(32, '0'))
      if (canonical && !t.includes('.')) expect(b, t).toBeDefined()
    }
    expect(fast).toBeGreaterThan(5000)
  })
})

describe('IPv4 keys', () => {
  // The fast path of address sets takes exactly the canonical dotted quad; anything else is the
  // general path's (which refuses it): the same bytes or the same refusal either way.
  it('encodes canonical quads as parseIp does and refuses the rest', async () => {
    const { parseIp } = await import('../ip/index.js')
    const texts = ['0.0.0.0', '255.255.255.255', '10.0.0.1', '1.2.3.4', '01.2.3.4', '1.2.3.04', '256.1.1.1', '1.2.3', '1.2.3.4.5', '1..3.4', '.1.2.3', '1.2.3.4.', '1.2.3.4 ', 'a.b.c.d', '1.2.3.1000', '1.2.3.255', '199.200.249.250', '300.0.0.0', '1.2.3.-1', '']
    for (let i = 0; i < 3000; i++) texts.push(Array.from({ length: 4 }, () => String(Math.floor(Math.random() * 300))).join('.'))
    for (const t of texts) {
      const a = parseIp(t)
      const canonical = !!a && a.family === 4 && /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*)){3}$/.test(t)
      const encode = () => encodeElementCommand(cmd({ table: 'cinch', set: 's4', elements: ['10.9.9.9', t, '10.9.9.8'] }))[0]!.attrs
      if (!canonical) { expect(encode, t).toThrow(UnsupportedElements); continue }
      const attrs = encode()
      // The second element's key: after the list header (table, set, ELEMENTS nest) and one element.
      const key = attrs.subarray(attrs.length - 2 * 16 + 12, attrs.length - 16)
      expect(key.toString('hex'), t).toBe(a!.value.toString(16).padStart(8, '0'))
    }
  })
})

describe('element messages byte for byte', () => {
  // strace of `nft -f` (sendmsg) for these lines, over sets s4 s6 t4 s4x (its element 10.0.0.1);
  // nft also names the set by the id its cache gave it (NFTA_SET_ELEM_LIST_SET_ID, read by the
  // kernel only when no set has the name): left out of the comparison.
  it.each([
    ['add element inet cinch s4 { 10.0.0.1, 10.0.0.2 }', cmd({ table: 'cinch', set: 's4', elements: ['10.0.0.1', '10.0.0.2'] }),
      '0a00010063696e63680000000700020073340000080004000000000124000380100001800c000180080001000a000001100002800c000180080001000a000002'],
    ['add element inet cinch s6 { fd00::1, fd00::2 }', cmd({ table: 'cinch', set: 's6', key: ['ipv6_addr'], elements: ['fd00::1', 'fd00::2'] }),
      '0a00010063696e6368000000070002007336000008000400000000023c0003801c0001801800018014000100fd0000000000000000000000000000011c0002801800018014000100fd000000000000000000000000000002'],
    ['add element inet cinch t4 { 10.0.0.1 . tcp . 80 }', cmd({ table: 'cinch', set: 't4', key: ['ipv4_addr', 'inet_proto', 'inet_service'], elements: ['10.0.0.1 . tcp . 80'] }),
      '0a00010063696e636800000007000200743400000800040000000003' + '1c0003801800018014000180100001000a0000010600000000500000'],
    ['delete element inet cinch s4x { 10.0.0.1 }', cmd({ verb: 'delete', table: 'cinch', set: 's4x', elements: ['10.0.0.1'] }),
      '0a00010063696e6368000000080002007334780014000380100001800c000180080001000a000001'],
  ] as [string, ElementCommand, string][])('%s', (line, c, hex) => {
    expect(elementCommandText(c)).toBe(line)
    const [m, ...rest] = encodeElementCommand(c)
    expect(rest).toEqual([])
    const withoutSetId = (b: Buffer) => {
      const out: Buffer[] = []
      for (let off = 0; off + 4 <= b.length;) {
        const len = b.readUInt16LE(off), next = off + ((len + 3) & ~3)
        if ((b.readUInt16LE(off + 2) & 0x3fff) !== 4) out.push(b.subarray(off, next))
        off = next
      }
      return Buffer.concat(out).toString('hex')
    }
    expect(m!.attrs.toString('hex')).toBe(withoutSetId(Buffer.from(hex, 'hex')))
  })
})
