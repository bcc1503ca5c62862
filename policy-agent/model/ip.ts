// IPv4/IPv6 addresses and CIDRs as bigints: exact containment tests and one canonical text form
// (RFC 5952 for IPv6), so that addresses compare equal in the IR whatever their spelling.

export type Family = 4 | 6

export interface Addr { family: Family; value: bigint }
export interface Cidr { family: Family; base: bigint; prefix: number }

const bits = (f: Family): number => (f === 4 ? 32 : 128)

/** Parses a bare address (a `/len` suffix is stripped); null when it is not one. */
export function parseAddr(text: string): Addr | null {
  const s = text.split('/')[0]!.trim()
  if (s.includes(':')) return parseV6(s)
  const parts = s.split('.')
  if (parts.length !== 4) return null
  let v = 0n
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null
    v = (v << 8n) | BigInt(p)
  }
  return { family: 4, value: v }
}

function parseV6(s: string): Addr | null {
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s)
  if (v4) {
    const a = parseAddr(v4[2]!)
    if (!a) return null
    return parseV6(`${v4[1]}${(a.value >> 16n).toString(16)}:${(a.value & 0xffffn).toString(16)}`)
  }
  const text = s
  const halves = text.split('::')
  if (halves.length > 2) return null
  const group = (h: string): bigint[] | null => {
    if (h === '') return []
    const out: bigint[] = []
    for (const g of h.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null
      out.push(BigInt('0x' + g))
    }
    return out
  }
  const head = group(halves[0]!)
  const rest = halves.length === 2 ? group(halves[1]!) : []
  if (!head || !rest) return null
  const given = head.length + rest.length
  let groups: bigint[]
  if (halves.length === 2) {
    if (given > 7) return null
    groups = [...head, ...Array<bigint>(8 - given).fill(0n), ...rest]
  } else {
    if (given !== 8) return null
    groups = head
  }
  let v = 0n
  for (const g of groups) v = (v << 16n) | g
  return { family: 6, value: v }
}

export function formatAddr(a: Addr): string {
  if (a.family === 4) {
    const v = a.value
    return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join('.')
  }
  const g: number[] = []
  for (let i = 7; i >= 0; i--) g.push(Number((a.value >> BigInt(i * 16)) & 0xffffn))
  // RFC 5952 4.2: compress the longest run (>= 2) of zero groups, the first one on a tie.
  let best = -1, bestLen = 1
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && g[j] === 0) j++
    if (j - i > bestLen) { best = i; bestLen = j - i }
    i = j
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':')
  if (best < 0) return hex(g)
  return hex(g.slice(0, best)) + '::' + hex(g.slice(best + bestLen))
}

/** Canonical text of an address, or null when it is not one. */
export function canonicalAddr(text: string): string | null {
  const a = parseAddr(text)
  return a ? formatAddr(a) : null
}

/**
 * Parses `addr/len`. Host bits are masked: the netpol suite writes `<podIP>/4` and means the /4
 * containing it (shared/netpol notes.placeholders). Null when the text is not a CIDR.
 */
export function parseCidr(text: string): Cidr | null {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text.trim())
  if (!m) return null
  const a = parseAddr(m[1]!)
  const prefix = Number(m[2])
  if (!a || prefix > bits(a.family)) return null
  return { family: a.family, base: a.value & mask(a.family, prefix), prefix }
}

function mask(f: Family, prefix: number): bigint {
  const b = BigInt(bits(f))
  return ((1n << b) - 1n) ^ ((1n << (b - BigInt(prefix))) - 1n)
}

export function formatCidr(c: Cidr): string {
  return `${formatAddr({ family: c.family, value: c.base })}/${c.prefix}`
}

export function cidrContains(c: Cidr, a: Addr): boolean {
  return c.family === a.family && (a.value & mask(c.family, c.prefix)) === c.base
}

/** True when `inner` lies inside `outer` (equal counts). */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.family === outer.family && inner.prefix >= outer.prefix &&
    cidrContains(outer, { family: inner.family, value: inner.base })
}
