// V8 hashes a string longer than 16,383 characters by its length alone (StringHasher's
// kMaxHashCalcLength): every such string of one length falls in one bucket of a Map or Set (and of
// V8's string table), and each lookup compares it with each of the others. Keyed by tenant text
// (a policy's spec, a selector's), k of them cost ~k²/2 comparisons: 3,000 keys of 20,000
// characters that differ only at their ends took 19 s to put in one Map on Node 24, where 3,000 of
// 16,383 took 89 ms. A text that long keys nothing: it is used by the identity of its object, or
// not shared.

/** The longest string V8 hashes over its whole text. */
export const MAX_HASHED_LENGTH = 16_383

/** Whether `s` may key a Map or Set of tenant text (it is hashed over its whole text). */
export function hashedWhole(s: string): boolean {
  return s.length <= MAX_HASHED_LENGTH
}
