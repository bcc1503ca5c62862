// IP address and CIDR math on bigints, IPv4 and IPv6 alike. Pure: no I/O.
// Addresses are formatted as Go's net.IP.String() does (RFC 5952 for IPv6), because the store's
// file names are addresses and host-local must find the same names for the same addresses.

export type Family = 4 | 6

export interface Ip {
  family: Family
  value: bigint
}

export interface Cidr {
  family: Family
  /** The network address (host bits cleared). */
  network: bigint
  prefix: number
}

export const bitsOf = (family: Family): number => (family === 4 ? 32 : 128)

const V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/

function parseV4(s: string): bigint | null {
  const m = V4.exec(s)
  if (!m) return null
  let v = 0n
  for (let i = 1; i <= 4; i++) {
    // Go's ParseIP rejects leading zeros ("010"), which could mean octal elsewhere.
    if (m[i].length > 1 && m[i][0] === '0') return null
    const n = Number(m[i])
    if (n > 255) return null
    v = (v << 8n) | BigInt(n)
  }
  return v
}

function parseGroups(part: string): bigint[] | null {
  if (part === '') return []
  const out: bigint[] = []
  for (const g of part.split(':')) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null
    out.push(BigInt('0x' + g))
  }
  return out
}

function parseV6(s: string): bigint | null {
  let tail4: bigint | null = null
  let body = s
  // An embedded IPv4 tail (::ffff:1.2.3.4) counts as two groups.
  const lastColon = s.lastIndexOf(':')
  if (s.includes('.')) {
    tail4 = parseV4(s.slice(lastColon + 1))
    if (tail4 === null) return null
    body = s.slice(0, lastColon + 1) + '0:0'
  }
  const halves = body.split('::')
  if (halves.length > 2) return null
  let groups: bigint[]
  if (halves.length === 2) {
    const head = parseGroups(halves[0])
    const tail = parseGroups(halves[1])
    if (!head || !tail || head.length + tail.length > 7) return null
    groups = [...head, ...Array<bigint>(8 - head.length - tail.length).fill(0n), ...tail]
  } else {
    const all = parseGroups(body)
    if (!all || all.length !== 8) return null
    groups = all
  }
  let v = groups.reduce((acc, g) => (acc << 16n) | g, 0n)
  if (tail4 !== null) v = (v & ~0xffffffffn) | tail4
  return v
}

/** Parses a textual address; null when it is not one. IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes IPv4, as Go's To4 does. */
export function parseIp(s: string): Ip | null {
  if (typeof s !== 'string') return null
  const v4 = parseV4(s)
  if (v4 !== null) return { family: 4, value: v4 }
  if (!s.includes(':')) return null
  const v6 = parseV6(s)
  if (v6 === null) return null
  if (v6 >> 32n === 0xffffn) return { family: 4, value: v6 & 0xffffffffn }
  return { family: 6, value: v6 }
}

export function formatIp(ip: Ip): string {
  if (ip.family === 4) {
    const v = ip.value
    return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.')
  }
  const groups: number[] = []
  for (let i = 7; i >= 0; i--) groups.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn))
  // RFC 5952 4.2: compress the longest run of two or more zero groups, the first on a tie.
  let bestAt = -1
  let bestLen = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) { bestAt = i; bestLen = j - i }
    i = j
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':')
  if (bestAt < 0) return hex(groups)
  return hex(groups.slice(0, bestAt)) + '::' + hex(groups.slice(bestAt + bestLen))
}

export function maskOf(family: Family, prefix: number): bigint {
  const bits = BigInt(bitsOf(family))
  return ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(prefix))) - 1n)
}

/** Parses "addr/prefix"; the address keeps its host bits in `ip`, `cidr.network` has them cleared. */
export function parseCidr(s: string): { ip: Ip; cidr: Cidr } | null {
  if (typeof s !== 'string') return null
  const slash = s.indexOf('/')
  if (slash < 0) return null
  const ip = parseIp(s.slice(0, slash))
  const p = s.slice(slash + 1)
  if (!ip || !/^\d{1,3}$/.test(p)) return null
  const prefix = Number(p)
  if (prefix > bitsOf(ip.family)) return null
  return { ip, cidr: { family: ip.family, prefix, network: ip.value & maskOf(ip.family, prefix) } }
}

export function formatCidr(c: Cidr): string {
  return `${formatIp({ family: c.family, value: c.network })}/${c.prefix}`
}

export function cidrContains(c: Cidr, ip: Ip): boolean {
  return ip.family === c.family && (ip.value & maskOf(c.family, c.prefix)) === c.network
}

/** The last address of the block (the IPv4 broadcast address). */
export function lastInCidr(c: Cidr): bigint {
  return c.network | ((1n << BigInt(bitsOf(c.family) - c.prefix)) - 1n)
}

export const sameIp = (a: Ip, b: Ip): boolean => a.family === b.family && a.value === b.value
