import { describe, expect, it } from 'vitest'
import { parseVxlanLinkInfo } from './link.js'
import { bridgeLinkInfo, vxlanLinkInfo } from './tlv.js'

describe('parseVxlanLinkInfo', () => {
  it('reads back what vxlanLinkInfo encodes (IPv4 local, big-endian port)', () => {
    const info = vxlanLinkInfo({ vni: 4096, local: Buffer.from([192, 168, 50, 1]), port: 4789, learning: false, link: 3 })
    expect(parseVxlanLinkInfo(info)).toEqual({ kind: 'vxlan', vni: 4096, port: 4789, local: '192.168.50.1', learning: false })
  })
  it('reads an IPv6 local address and learning on', () => {
    const local = Buffer.from('fd500000000000000000000000000001', 'hex')
    expect(parseVxlanLinkInfo(vxlanLinkInfo({ vni: 1, local, port: 8472, learning: true }))).toMatchObject({ local: 'fd50::1', port: 8472, learning: true })
  })
  it('gives only the kind of another device, and nothing without linkinfo', () => {
    expect(parseVxlanLinkInfo(bridgeLinkInfo())).toEqual({ kind: 'bridge' })
    expect(parseVxlanLinkInfo(undefined)).toEqual({})
  })
})
