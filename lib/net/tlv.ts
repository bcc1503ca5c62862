// Netlink attribute (TLV) encoding for the parts the `netlink` package leaves as raw Buffers:
// the kind-specific IFLA_INFO_DATA of IFLA_LINKINFO (veth peer, bridge, vxlan) and nested
// IFLA_PROTINFO, whose NLA_F_NESTED flag the package cannot set (it masks types to 14 bits).
// Layout: include/uapi/linux/netlink.h `struct nlattr { __u16 nla_len; __u16 nla_type; }`,
// payload padded to 4 bytes (NLA_ALIGNTO), nla_len counting header + unpadded payload.
// Netlink uses host byte order; these machines are little-endian (x86-64, arm64).

export const NLA_F_NESTED = 0x8000
const NLA_TYPE_MASK = 0x3fff

/** One attribute: 4-byte header, payload, zero padding to a multiple of 4. */
export function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length
  const out = Buffer.alloc((len + 3) & ~3)
  out.writeUInt16LE(len, 0)
  out.writeUInt16LE(type, 2)
  payload.copy(out, 4)
  return out
}

/** A nested attribute with NLA_F_NESTED set (required by e.g. br_setlink for IFLA_PROTINFO). */
export function nested(type: number, ...children: Buffer[]): Buffer {
  return attr(type | NLA_F_NESTED, Buffer.concat(children))
}

export const u8 = (v: number): Buffer => Buffer.from([v & 0xff])
export function u16(v: number): Buffer { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b }
export function be16(v: number): Buffer { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b }
export function be32(v: number): Buffer { const b = Buffer.alloc(4); b.writeUInt32BE(v >>> 0); return b }
/** `v` as `n` bytes, big-endian (an IPv6 address, a 16-byte key). */
export function beBytes(v: bigint, n: number): Buffer {
  const b = Buffer.alloc(n)
  for (let i = n - 1; i >= 0; i--, v >>= 8n) b[i] = Number(v & 0xffn)
  return b
}
export function u32(v: number): Buffer { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return b }
/** NUL-terminated string (NLA_STRING / NLA_NUL_STRING both accept it). */
export const str = (s: string): Buffer => Buffer.from(s + '\0', 'utf8')

/** Top-level attributes of a buffer, by type (flags stripped); later duplicates win. */
export function parseAttrs(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>()
  let off = 0
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off)
    if (len < 4 || off + len > buf.length) break
    out.set(buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, buf.subarray(off + 4, off + len))
    off += (len + 3) & ~3
  }
  return out
}

export const readStr = (b: Buffer): string => b.toString('utf8').replace(/\0.*$/s, '')

/** struct ifinfomsg (include/uapi/linux/rtnetlink.h), 16 bytes. */
export function ifinfomsg(o: { family?: number; type?: number; index?: number; flags?: number; change?: number } = {}): Buffer {
  const b = Buffer.alloc(16)
  b.writeUInt8(o.family ?? 0, 0)
  b.writeUInt16LE(o.type ?? 0, 2)
  b.writeInt32LE(o.index ?? 0, 4)
  b.writeUInt32LE((o.flags ?? 0) >>> 0, 8)
  b.writeUInt32LE((o.change ?? 0) >>> 0, 12)
  return b
}

// include/uapi/linux/if_link.h
export const IFLA = { ADDRESS: 1, IFNAME: 3, MTU: 4, LINK: 5, MASTER: 10, PROTINFO: 12, LINKINFO: 18, NET_NS_FD: 28 } as const
const IFLA_INFO_KIND = 1
const IFLA_INFO_DATA = 2
const VETH_INFO_PEER = 1 // include/uapi/linux/veth.h
export const IFLA_BRPORT_MODE = 4 // hairpin ("reflective relay") on a bridge port
const VXLAN = { ID: 1, LINK: 3, LOCAL: 4, LEARNING: 7, PORT: 15, LOCAL6: 17 } as const

export interface VethPeer { name: string; netnsFd?: number; mtu?: number; mac?: Buffer }

/** IFLA_LINKINFO payload of a veth whose peer is created with `peer` (in its netns if netnsFd). */
export function vethLinkInfo(peer: VethPeer): Buffer {
  // drivers/net/veth.c veth_newlink: VETH_INFO_PEER = struct ifinfomsg + IFLA_* attributes.
  const attrs = [attr(IFLA.IFNAME, str(peer.name))]
  if (peer.mtu) attrs.push(attr(IFLA.MTU, u32(peer.mtu)))
  if (peer.mac) attrs.push(attr(IFLA.ADDRESS, peer.mac))
  if (peer.netnsFd !== undefined) attrs.push(attr(IFLA.NET_NS_FD, u32(peer.netnsFd)))
  return Buffer.concat([
    attr(IFLA_INFO_KIND, str('veth')),
    nested(IFLA_INFO_DATA, attr(VETH_INFO_PEER, Buffer.concat([ifinfomsg(), ...attrs]))),
  ])
}

/** IFLA_LINKINFO payload of a plain bridge (kernel defaults: STP off, so ports forward at once). */
export const bridgeLinkInfo = (): Buffer => attr(IFLA_INFO_KIND, str('bridge'))

export interface VxlanOpts {
  vni: number
  /** Local (source) address bytes: 4 for IPv4, 16 for IPv6. */
  local?: Buffer
  /** UDP destination port (IANA 4789 unless set). */
  port?: number
  learning?: boolean
  /** Index of the underlay device. */
  link?: number
}

/** IFLA_LINKINFO payload of a vxlan device (drivers/net/vxlan/vxlan_core.c vxlan_nl2conf). */
export function vxlanLinkInfo(o: VxlanOpts): Buffer {
  const data = [attr(VXLAN.ID, u32(o.vni))]
  if (o.link) data.push(attr(VXLAN.LINK, u32(o.link)))
  if (o.local) data.push(attr(o.local.length === 4 ? VXLAN.LOCAL : VXLAN.LOCAL6, o.local))
  data.push(attr(VXLAN.LEARNING, u8(o.learning ? 1 : 0)))
  data.push(attr(VXLAN.PORT, be16(o.port ?? 4789))) // the only big-endian vxlan attribute
  return Buffer.concat([attr(IFLA_INFO_KIND, str('vxlan')), nested(IFLA_INFO_DATA, ...data)])
}

/** The IFLA_INFO_KIND of a link's IFLA_LINKINFO ("veth", "bridge", ...), if any. */
export function linkKind(linkinfo: Buffer | undefined): string | undefined {
  const kind = linkinfo && parseAttrs(linkinfo).get(IFLA_INFO_KIND)
  return kind ? readStr(kind) : undefined
}

/** IFLA_PROTINFO payload (AF_BRIDGE) setting a bridge port's hairpin mode. */
export const hairpinProtinfo = (on: boolean): Buffer => nested(IFLA.PROTINFO, attr(IFLA_BRPORT_MODE, u8(on ? 1 : 0)))
