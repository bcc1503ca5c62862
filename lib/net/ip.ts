// IP address and CIDR codecs between CNI's strings and netlink's byte buffers. Pure.
import { isIPv4, isIPv6 } from 'node:net'

export interface Cidr {
  family: 4 | 6
  /** Address bytes (4 or 16), network byte order, as netlink carries them. */
  addr: Buffer
  prefix: number
}

/** Bytes of an IPv4 or IPv6 address; throws on anything else. */
export function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number))
  if (!isIPv6(ip)) throw new Error(`not an IP address: ${ip}`)
  let s = ip.replace(/%.*$/, '')
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s)
  if (v4) { // ::ffff:1.2.3.4
    const b = ipBytes(v4[1])
    s = s.slice(0, -v4[1].length) + b.readUInt16BE(0).toString(16) + ':' + b.readUInt16BE(2).toString(16)
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined]
  const h = head ? head.split(':') : []
  const t = tail ? tail.split(':') : []
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t]
  const out = Buffer.alloc(16)
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2))
  return out
}

/** Text of address bytes: dotted quad, or RFC 5952 canonical IPv6 (longest zero run as ::). */
export function ipString(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join('.')
  const g: number[] = []
  for (let i = 0; i < 16; i += 2) g.push((b[i] << 8) | b[i + 1])
  let best = -1, bestLen = 1
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && g[j] === 0) j++
    if (j - i > bestLen) { best = i; bestLen = j - i }
    i = j
  }
  const hx = (a: number[]) => a.map((x) => x.toString(16)).join(':')
  return best < 0 ? hx(g) : `${hx(g.slice(0, best))}::${hx(g.slice(best + bestLen))}`
}

/** Parses "10.244.1.5/24" or "fd00::5/64"; a bare address gets the full-length prefix. */
export function parseCidr(s: string): Cidr {
  const [ip, p] = s.split('/')
  const addr = ipBytes(ip)
  const family = addr.length === 4 ? 4 : 6
  const max = family === 4 ? 32 : 128
  const prefix = p === undefined ? max : Number(p)
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (p !== undefined && !/^\d+$/.test(p))) {
    throw new Error(`not a valid CIDR: ${s}`)
  }
  return { family, addr, prefix }
}

export const formatCidr = (c: Cidr): string => `${ipString(c.addr)}/${c.prefix}`

/** The address with its host bits cleared. */
export function networkOf(c: Cidr): Cidr {
  const addr = Buffer.from(c.addr)
  for (let i = 0; i < addr.length; i++) {
    const bits = Math.min(8, Math.max(0, c.prefix - i * 8))
    addr[i] &= (0xff << (8 - bits)) & 0xff
  }
  return { family: c.family, addr, prefix: c.prefix }
}

/** True when `ip` lies inside the subnet `net`. */
export function contains(net: Cidr, ip: Buffer): boolean {
  if (ip.length !== net.addr.length) return false
  return networkOf({ ...net, addr: ip }).addr.equals(networkOf(net).addr)
}

/** First address after the network address: the reference bridge's gateway when IPAM names none. */
export function firstHost(c: Cidr): Buffer {
  const addr = networkOf(c).addr
  for (let i = addr.length - 1; i >= 0; i--) { if (++addr[i] <= 0xff) break; addr[i] = 0 }
  return addr
}

export const macString = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':')

export function macBytes(s: string): Buffer {
  if (!/^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$/i.test(s)) throw new Error(`not a MAC address: ${s}`)
  return Buffer.from(s.replace(/[:-]/g, ''), 'hex')
}
