// IP address and CIDR math on bigints, IPv4 and IPv6 alike. Pure: no I/O, imports nothing.
// Addresses are formatted as Go's net.IP.String() does (RFC 5952 4.2 for IPv6), because cinch-ipam's
// store file names are addresses and host-local must find the same names for the same addresses;
// the same single text form lets the policy compiler compare addresses however they were spelled.
// (Not the `ip-cidr` package: it costs a plugin 12-30 ms to load, measured.)

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

/**
 * How text is read. The default is Go's net.ParseIP / net.ParseCIDR (what host-local accepts).
 * The options exist because each caller kept the reading its input needs; see LENIENT and KERNEL.
 */
export interface ParseOptions {
  /**
   * Text written by hand (NetworkPolicy manifests, the netpol suite): blanks around it, IPv4 octets
   * with leading zeros ("010" is 10), and for parseIp a `/len` suffix, which is ignored.
   */
  lenient?: boolean
  /**
   * Keep ::ffff:a.b.c.d as the IPv6 address it is (netlink sends its 16 bytes). Default: it becomes
   * IPv4, as Go's To4() makes it, so that it gets host-local's IPv4 file name.
   */
  keepMapped?: boolean
  /** parseCidr: a bare address is a host CIDR (/32, /128), as iproute2 reads one. */
  bareIsHost?: boolean
}

/** The policy side: hand-written text, every address compared as the family it was written in. */
export const LENIENT: Readonly<ParseOptions> = Object.freeze({ lenient: true, keepMapped: true })
/** Addresses bound for the kernel (lib/net, the bridge plugin, the overlay): exact family, bare = host. */
export const KERNEL: Readonly<ParseOptions> = Object.freeze({ keepMapped: true, bareIsHost: true })

export const bitsOf = (family: Family): number => (family === 4 ? 32 : 128)

const V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/

function parseV4(s: string, leadingZeros: boolean): bigint | null {
  const m = V4.exec(s)
  if (!m) return null
  let v = 0n
  for (let i = 1; i <= 4; i++) {
    // Go's ParseIP rejects leading zeros ("010"), which could mean octal elsewhere.
    if (!leadingZeros && m[i].length > 1 && m[i][0] === '0') return null
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

function parseV6(s: string, leadingZeros: boolean): bigint | null {
  let tail4: bigint | null = null
  let body = s
  // An embedded IPv4 tail (::ffff:1.2.3.4) counts as two groups.
  const lastColon = s.lastIndexOf(':')
  if (s.includes('.')) {
    tail4 = parseV4(s.slice(lastColon + 1), leadingZeros)
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

/** Parses a textual address; null when it is not one (see ParseOptions for what is accepted). */
export function parseIp(s: string, o: ParseOptions = {}): Ip | null {
  if (o.lenient) s = s.split('/')[0]!.trim()
  else if (typeof s !== 'string') return null
  const v4 = parseV4(s, !!o.lenient)
  if (v4 !== null) return { family: 4, value: v4 }
  if (!s.includes(':')) return null
  const v6 = parseV6(s, !!o.lenient)
  if (v6 === null) return null
  if (!o.keepMapped && v6 >> 32n === 0xffffn) return { family: 4, value: v6 & 0xffffffffn }
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

/** The one text form of an address, or null when it is not one. */
export function canonicalIp(s: string, o: ParseOptions = {}): string | null {
  const ip = parseIp(s, o)
  return ip ? formatIp(ip) : null
}

export function maskOf(family: Family, prefix: number): bigint {
  const bits = BigInt(bitsOf(family))
  return ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(prefix))) - 1n)
}

/**
 * Parses "addr/prefix"; the address keeps its host bits in `ip`, `cidr.network` has them cleared
 * (the netpol suite writes `<podIP>/4` and means the /4 containing it: shared/netpol placeholders).
 */
export function parseCidr(s: string, o: ParseOptions = {}): { ip: Ip; cidr: Cidr } | null {
  if (o.lenient) s = s.trim()
  else if (typeof s !== 'string') return null
  const slash = s.indexOf('/')
  if (slash < 0 && !o.bareIsHost) return null
  const ip = parseIp(slash < 0 ? s : s.slice(0, slash), o)
  if (!ip) return null
  const p = slash < 0 ? String(bitsOf(ip.family)) : s.slice(slash + 1)
  if (!/^\d{1,3}$/.test(p)) return null
  const prefix = Number(p)
  if (prefix > bitsOf(ip.family)) return null
  return { ip, cidr: { family: ip.family, prefix, network: ip.value & maskOf(ip.family, prefix) } }
}

/** parseCidr for text that must be a CIDR: throws `not a valid CIDR: <s>` instead of returning null. */
export function mustParseCidr(s: string, o: ParseOptions = {}): { ip: Ip; cidr: Cidr } {
  const p = parseCidr(s, o)
  if (!p) throw new Error(`not a valid CIDR: ${s}`)
  return p
}

export function formatCidr(c: Cidr): string {
  return `${formatIp({ family: c.family, value: c.network })}/${c.prefix}`
}

export function cidrContains(c: Cidr, ip: Ip): boolean {
  return ip.family === c.family && (ip.value & maskOf(c.family, c.prefix)) === c.network
}

/** True when `inner` lies inside `outer` (equal counts). */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.family === outer.family && inner.prefix >= outer.prefix &&
    cidrContains(outer, { family: inner.family, value: inner.network })
}

/** The first address after the network address (the reference bridge's gateway when IPAM names none). */
export function firstHost(c: Cidr): Ip {
  return { family: c.family, value: (c.network + 1n) & maskOf(c.family, bitsOf(c.family)) }
}

/** The last address of the block (the IPv4 broadcast address). */
export function lastInCidr(c: Cidr): bigint {
  return c.network | ((1n << BigInt(bitsOf(c.family) - c.prefix)) - 1n)
}

export const sameIp = (a: Ip, b: Ip): boolean => a.family === b.family && a.value === b.value
