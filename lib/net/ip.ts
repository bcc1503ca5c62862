// Addresses between CNI's text and netlink's byte buffers (network byte order). Pure. The parsing,
// formatting and CIDR math are lib/ip's; this file only converts to and from bytes.
import { KERNEL, formatIp, mustParseCidr, parseIp, type Family, type Ip } from '../ip/index.js'

/** A CIDR as netlink carries it. */
export interface CidrBytes {
  family: Family
  /** Address bytes (4 or 16), network byte order; host bits kept. */
  addr: Buffer
  prefix: number
}

export function ipToBytes(ip: Ip): Buffer {
  return Buffer.from(ip.value.toString(16).padStart(ip.family === 4 ? 8 : 32, '0'), 'hex')
}

export function bytesToIp(b: Uint8Array): Ip {
  return { family: b.length === 4 ? 4 : 6, value: BigInt('0x0' + Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex')) }
}

/** Bytes of an IPv4 or IPv6 address (::ffff:a.b.c.d stays 16 bytes); throws on anything else. */
export function ipBytes(text: string): Buffer {
  // An IPv6 zone (fe80::1%eth0), as node:net's isIPv6 accepts it: an address has no use for it.
  const zone = typeof text === 'string' ? /%[0-9a-zA-Z\-.:]+$/.exec(text) : null
  const ip = parseIp(zone ? text.slice(0, zone.index) : text, { keepMapped: true })
  if (!ip || (zone && ip.family !== 6)) throw new Error(`not an IP address: ${text}`)
  return ipToBytes(ip)
}

/** Text of address bytes: dotted quad, or RFC 5952 canonical IPv6 (longest zero run as ::). */
export const ipString = (b: Uint8Array): string => formatIp(bytesToIp(b))

/** Parses "10.244.1.5/24" or "fd00::5/64"; a bare address gets the full-length prefix. */
export function parseCidrBytes(s: string): CidrBytes {
  const p = mustParseCidr(s, KERNEL)
  return { family: p.ip.family, addr: ipToBytes(p.ip), prefix: p.cidr.prefix }
}

export const formatCidrBytes = (c: CidrBytes): string => `${ipString(c.addr)}/${c.prefix}`

export const macString = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':')

export function macBytes(s: string): Buffer {
  if (!/^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$/i.test(s)) throw new Error(`not a MAC address: ${s}`)
  return Buffer.from(s.replace(/[:-]/g, ''), 'hex')
}
