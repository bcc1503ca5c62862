// Is an address text already in the one form lib/ip's formatIp gives it? Then the compiler can use
// it as it is: the first compile reads the addresses of every pod in the cluster (60k at 30k
// pods), and parseIp + formatIp (BigInt arithmetic) cost most of that. False means "not sure":
// the caller canonicalises the slow way. The API server writes pod addresses canonically.

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)'
const V4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`)
/** Groups of 1-4 lowercase hex digits without leading zeros, separated by ':' (maybe none). */
const GROUPS = /^(?:(?:0|[1-9a-f][0-9a-f]{0,3})(?::(?:0|[1-9a-f][0-9a-f]{0,3}))*)?$/

export function isCanonicalV4(s: string): boolean {
  return V4.test(s)
}

/** RFC 5952 as formatIp writes it: lowercase, no leading zeros, `::` for the longest run (first on a tie) of 2+ zero groups. */
export function isCanonicalV6(s: string): boolean {
  if (s.length > 39) return false
  const at = s.indexOf('::')
  if (at < 0) {
    if (!GROUPS.test(s)) return false
    const groups = s.split(':')
    return groups.length === 8 && longestZeroRun(groups) < 2
  }
  if (s.indexOf('::', at + 1) >= 0) return false
  const leftText = s.slice(0, at), rightText = s.slice(at + 2)
  if (!GROUPS.test(leftText) || !GROUPS.test(rightText)) return false
  const left = leftText ? leftText.split(':') : [], right = rightText ? rightText.split(':') : []
  const run = 8 - left.length - right.length
  // The zero run `::` stands for must be all of its run (no zero group beside it), at least 2
  // groups, longer than any run before it and at least as long as any after it.
  return run >= 2 && left[left.length - 1] !== '0' && right[0] !== '0' && longestZeroRun(left) < run && longestZeroRun(right) <= run
}

function longestZeroRun(groups: string[]): number {
  let best = 0, cur = 0
  for (const g of groups) {
    cur = g === '0' ? cur + 1 : 0
    if (cur > best) best = cur
  }
  return best
}
