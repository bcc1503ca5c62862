// Ranges and range sets with host-local's semantics (plugins/ipam/host-local/backend/allocator/range.go,
// range_set.go). Pure: no I/O. A range set is a list of ranges of one family; each range set of a
// config yields one address (several sets = dual stack).
import { cidrContains, formatCidr, formatIp, lastInCidr, parseCidr, parseIp, type Cidr, type Family, type Ip } from '../lib/ip/index.js'

export interface Range {
  subnet: Cidr
  /** First allocatable address, inclusive. */
  rangeStart: bigint
  /** Last allocatable address, inclusive. */
  rangeEnd: bigint
  gateway: bigint
}

export type RangeSet = Range[]

export interface RawRange {
  subnet?: string
  rangeStart?: string
  rangeEnd?: string
  gateway?: string
}

/** A config error tied to the field that caused it, e.g. `ipam.ranges[0][0].subnet`. */
export class FieldError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`)
  }
}

const fmt = (family: Family, value: bigint) => formatIp({ family, value })

function parseMember(raw: string, field: string, subnet: Cidr): bigint {
  const ip = parseIp(raw)
  if (!ip) throw new FieldError(field, `${raw} is not a valid IP address`)
  if (!cidrContains(subnet, ip)) throw new FieldError(field, `${raw} is not in subnet ${formatCidr(subnet)}`)
  return ip.value
}

/** Fills in rangeStart, rangeEnd and gateway as host-local's Range.Canonicalize does, naming the field on error. */
export function canonicalizeRange(raw: RawRange, where: string): Range {
  if (typeof raw.subnet !== 'string') throw new FieldError(`${where}.subnet`, 'is required')
  const parsed = parseCidr(raw.subnet)
  if (!parsed) throw new FieldError(`${where}.subnet`, `${raw.subnet} is not a valid CIDR`)
  const subnet = parsed.cidr
  // host-local: "Network %s too small to allocate from" (a /31, /32, /127, /128 has no host address).
  if (subnet.prefix > (subnet.family === 4 ? 30 : 126)) {
    throw new FieldError(`${where}.subnet`, `${raw.subnet} is too small to allocate from`)
  }
  const last = lastInCidr(subnet)
  // host-local: the gateway defaults to the first address after the network address (".1").
  const gateway = raw.gateway === undefined ? subnet.network + 1n : parseMember(raw.gateway, `${where}.gateway`, subnet)
  const rangeStart = raw.rangeStart === undefined ? subnet.network + 1n : parseMember(raw.rangeStart, `${where}.rangeStart`, subnet)
  // host-local: the default end excludes the IPv4 broadcast address; IPv6 has no broadcast.
  const rangeEnd = raw.rangeEnd === undefined ? (subnet.family === 4 ? last - 1n : last) : parseMember(raw.rangeEnd, `${where}.rangeEnd`, subnet)
  if (rangeEnd < rangeStart) {
    throw new FieldError(`${where}.rangeEnd`, `${raw.rangeEnd ?? fmt(subnet.family, rangeEnd)} is before rangeStart ${fmt(subnet.family, rangeStart)}`)
  }
  return { subnet, rangeStart, rangeEnd, gateway }
}

function overlaps(a: Range, b: Range): boolean {
  return a.subnet.family === b.subnet.family && a.rangeStart <= b.rangeEnd && b.rangeStart <= a.rangeEnd
}

/** Canonicalizes every range of a set: one family, no two ranges overlapping (range_set.go). */
export function canonicalizeRangeSet(raw: RawRange[], where: string): RangeSet {
  if (!Array.isArray(raw) || raw.length === 0) throw new FieldError(where, 'a range set needs at least one range')
  const set = raw.map((r, i) => canonicalizeRange(r, `${where}[${i}]`))
  const family = set[0].subnet.family
  set.forEach((r, i) => {
    if (r.subnet.family !== family) throw new FieldError(`${where}[${i}].subnet`, 'mixes IPv4 and IPv6 in one range set (use one range set per family)')
    for (let j = 0; j < i; j++) {
      if (overlaps(set[j], r)) throw new FieldError(`${where}[${i}]`, `overlaps ${where}[${j}] (${rangeToString(set[j])})`)
    }
  })
  return set
}

/** host-local rejects range sets that overlap one another ("range set %d overlaps with %d"). */
export function checkRangeSetsDisjoint(sets: RangeSet[], where: (i: number) => string): void {
  for (let i = 0; i < sets.length; i++) {
    for (let j = 0; j < i; j++) {
      if (sets[i].some((a) => sets[j].some((b) => overlaps(a, b)))) {
        throw new FieldError(where(i), `overlaps ${where(j)} (${rangeSetToString(sets[j])})`)
      }
    }
  }
}

export const rangeFamily = (set: RangeSet): Family => set[0].subnet.family

export function rangeContains(r: Range, ip: Ip): boolean {
  return ip.family === r.subnet.family && ip.value >= r.rangeStart && ip.value <= r.rangeEnd
}

export function rangeFor(set: RangeSet, ip: Ip): Range | undefined {
  return set.find((r) => rangeContains(r, ip))
}

/**
 * Addresses that are never handed out: the network address (IPv6: the subnet-router anycast
 * address, RFC 4291 2.6.1), the gateway, and the IPv4 broadcast address. host-local skips only the
 * gateway; an explicit rangeStart/rangeEnd reaching the others must not hand them out either.
 */
export function isReservedAddress(r: Range, value: bigint): boolean {
  return value === r.subnet.network || value === r.gateway || (r.subnet.family === 4 && value === lastInCidr(r.subnet))
}

/** Number of addresses of the range that can be handed out. */
export function allocatableCount(r: Range): bigint {
  const last = lastInCidr(r.subnet)
  const reserved = new Set([r.subnet.network, r.gateway, ...(r.subnet.family === 4 ? [last] : [])])
  let n = r.rangeEnd - r.rangeStart + 1n
  for (const v of reserved) if (v >= r.rangeStart && v <= r.rangeEnd) n--
  return n
}

export function rangeToString(r: Range): string {
  const f = r.subnet.family
  return `${formatCidr(r.subnet)} ${fmt(f, r.rangeStart)}-${fmt(f, r.rangeEnd)}`
}

export const rangeSetToString = (set: RangeSet): string => set.map(rangeToString).join(', ')
