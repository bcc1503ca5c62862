import { describe, expect, it } from 'vitest'
import { attr, bridgeLinkInfo, hairpinProtinfo, linkKind, parseAttrs, vethLinkInfo, vxlanLinkInfo } from './tlv.js'

const hex = (b: Buffer) => b.toString('hex')

describe('attr', () => {
  it('pads the payload to 4 bytes but counts only header + payload in nla_len', () => {
    expect(hex(attr(3, Buffer.from('eth0\0')))).toBe('0900' + '0300' + '6574683000' + '000000')
  })
  it('adds no padding to an aligned payload', () => {
    expect(hex(attr(4, Buffer.from([0xdc, 0x05, 0, 0])))).toBe('0800' + '0400' + 'dc050000')
  })
})

describe('vethLinkInfo', () => {
  it('encodes kind veth and a peer ifinfomsg with name, mtu and netns fd', () => {
    const got = vethLinkInfo({ name: 'eth0', netnsFd: 7, mtu: 1500 })
    const expected =
      '0900' + '0100' + '7665746800' + '000000' + // IFLA_INFO_KIND "veth\0"
      '3400' + '0280' + // IFLA_INFO_DATA | NLA_F_NESTED, len 4 + 48
      '3000' + '0100' + // VETH_INFO_PEER, len 4 + 16 + 12 + 8 + 8
      '00'.repeat(16) + // struct ifinfomsg, all zero
      '0900' + '0300' + '6574683000' + '000000' + // IFLA_IFNAME "eth0\0"
      '0800' + '0400' + 'dc050000' + // IFLA_MTU 1500
      '0800' + '1c00' + '07000000' // IFLA_NET_NS_FD 7
    expect(hex(got)).toBe(expected)
  })
  it('carries a requested MAC as IFLA_ADDRESS', () => {
    const mac = Buffer.from('0a580af40105', 'hex')
    const peer = parseAttrs(parseAttrs(vethLinkInfo({ name: 'e', mac })).get(2)!).get(1)!
    expect(hex(parseAttrs(peer.subarray(16)).get(1)!)).toBe('0a580af40105')
  })
})

describe('vxlanLinkInfo', () => {
  it('encodes VNI, local IPv4, learning off and the port in network byte order', () => {
    const got = vxlanLinkInfo({ vni: 42, local: Buffer.from([192, 168, 1, 2]), port: 8472 })
    const expected =
      '0a00' + '0100' + '7678' + '6c616e00' + '0000' + // IFLA_INFO_KIND "vxlan\0"
      '2400' + '0280' + // IFLA_INFO_DATA nested, len 4 + 32
      '0800' + '0100' + '2a000000' + // IFLA_VXLAN_ID 42
      '0800' + '0400' + 'c0a80102' + // IFLA_VXLAN_LOCAL 192.168.1.2
      '0500' + '0700' + '00' + '000000' + // IFLA_VXLAN_LEARNING 0
      '0600' + '0f00' + '2118' + '0000' // IFLA_VXLAN_PORT 8472 big-endian
    expect(hex(got)).toBe(expected)
  })
  it('uses IFLA_VXLAN_LOCAL6 for an IPv6 local address', () => {
    const data = parseAttrs(parseAttrs(vxlanLinkInfo({ vni: 1, local: Buffer.alloc(16, 1) })).get(2)!)
    expect(data.get(17)?.length).toBe(16)
    expect(data.has(4)).toBe(false)
  })
})

describe('hairpinProtinfo', () => {
  it('nests IFLA_BRPORT_MODE under IFLA_PROTINFO with NLA_F_NESTED', () => {
    expect(hex(hairpinProtinfo(true))).toBe('0c00' + '0c80' + '0500' + '0400' + '01' + '000000')
  })
})

describe('linkKind', () => {
  it('reads the kind back from an IFLA_LINKINFO payload', () => {
    expect(linkKind(bridgeLinkInfo())).toBe('bridge')
    expect(linkKind(vethLinkInfo({ name: 'x' }))).toBe('veth')
    expect(linkKind(undefined)).toBeUndefined()
  })
})
