// Is an address text already in the one form formatIp (index.ts) gives it? Then it can be used as
// it is: the policy agent reads the addresses of every pod in the cluster (60k at 30k pods), and
// parseIp + formatIp (BigInt arithmetic) cost most of that. False means "not sure": the caller
// canonicalises the slow way. The API server writes pod addresses canonically.

import { LENIENT, canonicalIp } from './index.js'

/**
 * `s` as formatIp writes it (LENIENT: a prefix or zone is dropped): `s` itself when it already is,
 * with no parse; null when it is no address.
 */
export function canonicalAddress(s: string): string | null {
  return isCanonicalV4(s) || isCanonicalV6(s) ? s : canonicalIp(s, LENIENT)
}

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)'
const V4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`)

export function isCanonicalV4(s: string): boolean {
  return V4.test(s)
}

/**
 * RFC 5952 as formatIp writes it: lowercase, no leading zeros, `::` for the longest run (first on a
 * tie) of 2+ zero groups. One pass over the characters: a first compile asks for every pod's
 * address (30k at 30k pods), where regular expressions and splits cost ~1.4 us each.
 */
export function isCanonicalV6(s: string): boolean {
  const n = s.length
  if (n < 2 || n > 39) return false
  let groups = 0 // groups read, both sides of `::`
  let gapAt = -1 // groups before `::`; -1: none yet
  let zeros = 0, longestLeft = 0, longestRight = 0 // runs of zero groups on each side of `::`
  let lastZero = false
  let i = 0
  if (s.charCodeAt(0) === COLON) {
    if (s.charCodeAt(1) !== COLON) return false
    gapAt = 0
    i = 2
  }
  while (i < n) {
    const c = s.charCodeAt(i)
    let zero: boolean
    if (c === ZERO) {
      zero = true
      i++
    } else {
      if (!(c >= ONE && c <= NINE) && !(c >= LOWER_A && c <= LOWER_F)) return false
      zero = false
      const end = Math.min(n, i + 4)
      for (i++; i < end; i++) {
        const d = s.charCodeAt(i)
        if (!(d >= ZERO && d <= NINE) && !(d >= LOWER_A && d <= LOWER_F)) break
      }
    }
    // The group right after `::` must not be a zero: `::` stands for the whole run.
    if (zero && gapAt === groups) return false
    groups++
    zeros = zero ? zeros + 1 : 0
    if (gapAt < 0) longestLeft = Math.max(longestLeft, zeros)
    else longestRight = Math.max(longestRight, zeros)
    lastZero = zero
    if (i === n) break
    if (s.charCodeAt(i) !== COLON) return false
    i++
    if (i === n) return false // a lone `:` at the end
    if (s.charCodeAt(i) === COLON) {
      // Nor the group right before it.
      if (gapAt >= 0 || lastZero) return false
      gapAt = groups
      zeros = 0
      i++
    }
  }
  if (gapAt < 0) return groups === 8 && longestLeft < 2
  const run = 8 - groups
  return run >= 2 && longestLeft < run && longestRight <= run
}

const COLON = 58, ZERO = 48, ONE = 49, NINE = 57, LOWER_A = 97, LOWER_F = 102
