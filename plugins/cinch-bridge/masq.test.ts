import { describe, expect, it } from 'vitest'
import { readPodIp } from './addressing.js'
import { masqAddRuleset, masqDelRuleset, masqEntries, masqKey, masqNetworkTag, masqueradedIps, parseMasqTable } from './masq.js'

const entries = masqEntries(['10.244.1.5/24', 'fd00:10:244:1::5/64'].map((address) => readPodIp({ address })), 'net/cid1/eth0')

describe('masqKey', () => {
  it('is network/containerId/ifName when that is short and plain', () => {
    expect(masqKey('net', 'cid1', 'eth0')).toBe('net/cid1/eth0')
  })
  // nft refuses comments over 128 bytes ("comment too long"); issue 8.9.
  const long: [string, string, string, string][] = [
    ['a 60-character network name', 'n'.repeat(60), 'c'.repeat(64), 'eth0'],
    ['a 300-character container ID', 'net', 'c'.repeat(300), 'eth0'],
    ['an interface name with nft syntax in it', 'net', 'cid1', 'e"}{;'],
    ['a multibyte interface name', 'net', 'cid1', 'ééééééé'],
  ]
  for (const [name, net, id, ifName] of long) {
    it(`fits nft and stays deterministic for ${name}`, () => {
      const k = masqKey(net, id, ifName)
      expect(Buffer.byteLength(k)).toBeLessThanOrEqual(128)
      expect(k).toMatch(/^[a-zA-Z0-9_.#/-]+$/)
      expect(k.startsWith(`${masqNetworkTag(net)}/`)).toBe(true)
      expect(masqKey(net, id, ifName)).toBe(k)
      expect(masqKey(net, id, ifName + 'x')).not.toBe(k)
      expect(masqAddRuleset(masqEntries([readPodIp({ address: '10.0.0.2/24' })], k))).toContain(`comment "${k}"`)
    })
  }
  it('refuses to write a comment that is not a masqKey into nft text', () => {
    expect(() => masqAddRuleset(masqEntries([readPodIp({ address: '10.0.0.2/24' })], 'x" } flush ruleset'))).toThrow(/not a masqKey/)
  })
})

describe('masqEntries', () => {
  it('splits address and subnet per family', () => {
    expect(entries).toEqual([
      { family: 4, ip: '10.244.1.5', subnet: '10.244.1.0/24', key: 'net/cid1/eth0' },
      { family: 6, ip: 'fd00:10:244:1::5', subnet: 'fd00:10:244:1::/64', key: 'net/cid1/eth0' },
    ])
  })
})

describe('masqAddRuleset', () => {
  const text = masqAddRuleset(entries)
  it('only touches table inet cinch-nat', () => {
    for (const line of text.trim().split('\n')) expect(line).toMatch(/ inet cinch-nat( |$)/)
  })
  it('refills the chain in the same transaction so rules never duplicate', () => {
    expect(text).toContain('flush chain inet cinch-nat postrouting\n')
    expect(text.match(/masquerade/g)).toHaveLength(2)
  })
  it('returns before masquerading for the pod subnet and the cluster CIDRs (pod-to-pod keeps its source)', () => {
    const rules = text.split('\n').filter((l) => l.startsWith('add rule'))
    const firstMasq = rules.findIndex((l) => l.endsWith('masquerade'))
    const returns = rules.map((l, i) => (l.endsWith(' return') ? i : -1)).filter((i) => i >= 0)
    expect(returns).toHaveLength(4)
    expect(Math.max(...returns)).toBeLessThan(firstMasq)
    expect(rules.some((l) => l.includes('ip daddr @cluster-cidrs-v4 return'))).toBe(true)
    expect(rules.some((l) => l.includes('ip6 daddr @cluster-cidrs-v6 return'))).toBe(true)
  })
  it('adds the pod to both sets with its attachment as comment', () => {
    expect(text).toContain('add element inet cinch-nat pods4 { 10.244.1.5 comment "net/cid1/eth0" }')
    expect(text).toContain('add element inet cinch-nat local6 { fd00:10:244:1::5 . fd00:10:244:1::/64 comment "net/cid1/eth0" }')
  })
})

describe('masqDelRuleset', () => {
  it('adds then deletes each element so an absent one is no error', () => {
    const text = masqDelRuleset(entries.slice(0, 1))
    expect(text).toContain('add element inet cinch-nat pods4 { 10.244.1.5 }\ndelete element inet cinch-nat pods4 { 10.244.1.5 }')
    expect(text).toContain('delete element inet cinch-nat local4 { 10.244.1.5 . 10.244.1.0/24 }')
    expect(text).not.toContain('masquerade')
  })
  it('is empty for nothing to delete', () => expect(masqDelRuleset([])).toBe(''))
})

describe('reading the table back', () => {
  // Shape of `nft -j list table inet cinch-nat` (nft 1.0.6).
  const json = { nftables: [
    { metainfo: { version: '1.0.6' } },
    { set: { family: 'inet', name: 'pods4', table: 'cinch-nat', type: 'ipv4_addr', elem: [{ elem: { val: '10.244.1.5', comment: 'net/cid1/eth0' } }, '10.244.1.9'] } },
    { set: { family: 'inet', name: 'local4', table: 'cinch-nat', type: ['ipv4_addr', 'ipv4_addr'], flags: ['interval'],
      elem: [{ elem: { val: { concat: ['10.244.1.5', { prefix: { addr: '10.244.1.0', len: 24 } }] }, comment: 'net/cid1/eth0' } }] } },
  ] }
  it('parseMasqTable', () => {
    expect(parseMasqTable(json)).toEqual([{ family: 4, ip: '10.244.1.5', subnet: '10.244.1.0/24', key: 'net/cid1/eth0' }])
    expect(parseMasqTable(null)).toEqual([])
  })
  it('parseMasqTable keeps only what parses as addresses (it is written into nft text again)', () => {
    const odd = { nftables: [{ set: { name: 'local4', elem: [{ elem: { val: { concat: ['10.0.0.1 } flush ruleset', { prefix: { addr: '10.0.0.0', len: 24 } }] } } }] } }] }
    expect(parseMasqTable(odd)).toEqual([])
  })
  it('masqueradedIps', () => expect([...masqueradedIps(json)]).toEqual(['10.244.1.5', '10.244.1.9']))
})
