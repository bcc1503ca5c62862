// metav1.LabelSelector: "The requirements are ANDed." (matchLabels and matchExpressions together);
// "An empty label selector matches all objects. A null label selector matches no objects."
// Compiled once into a predicate; an operator outside In/NotIn/Exists/DoesNotExist is an error.
import type { LabelSelector } from './cluster.js'

export interface Selector {
  /** canonical text, stable across key order, used to name shared sets */
  key: string
  matches(labels: Record<string, string>): boolean
  /** the selector in words, for comments and `cinch explain` */
  words: string
  /** set when the selector is one `key=value` (matchLabels of one key, or `In` of one value) */
  eq?: { key: string; value: string }
}

type Req = { key: string; op: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values: string[] }

const hasOwn = Object.hasOwn

/** Compiles a selector; throws an Error naming the problem when the selector is invalid. */
export function compileSelector(sel: LabelSelector | undefined | null): Selector {
  const reqs: Req[] = []
  for (const [k, v] of Object.entries(sel?.matchLabels ?? {})) reqs.push({ key: k, op: 'In', values: [String(v)] })
  for (const [i, e] of (sel?.matchExpressions ?? []).entries()) {
    const values = (e.values ?? []).map(String).sort()
    switch (e.operator) {
      case 'In': case 'NotIn':
        // LabelSelectorRequirement.values: "If the operator is In or NotIn, the values array must be non-empty."
        if (values.length === 0) throw new Error(`matchExpressions[${i}]: operator ${e.operator} needs values`)
        break
      case 'Exists': case 'DoesNotExist':
        // "If the operator is Exists or DoesNotExist, the values array must be empty."
        if (values.length > 0) throw new Error(`matchExpressions[${i}]: operator ${e.operator} takes no values`)
        break
      default:
        throw new Error(`matchExpressions[${i}]: unknown operator ${JSON.stringify(e.operator)}`)
    }
    if (typeof e.key !== 'string' || e.key === '') throw new Error(`matchExpressions[${i}]: key is missing`)
    reqs.push({ key: e.key, op: e.operator, values })
  }
  reqs.sort((a, b) => (a.key + a.op + a.values.join()).localeCompare(b.key + b.op + b.values.join()))
  // JSON: a manifest's label key or value may hold `,` `;` `(`: as joined text, matchLabels
  // {team: 'a,b'} and `team In (a, b)` were one key, hence one shared set and one memo entry.
  const key = JSON.stringify(reqs.map((r) => [r.key, r.op, r.values]))
  const one = reqs.length === 1 && reqs[0]!.op === 'In' && reqs[0]!.values.length === 1 ? reqs[0]! : undefined
  return {
    key,
    words: reqs.length === 0 ? 'all' : reqs.map(wordsOf).join(' and '),
    matches: matcherOf(reqs),
    ...(one ? { eq: { key: one.key, value: one.values[0]! } } : {}),
  }
}

/**
 * The predicate of the requirements. A first compile tests ~500k pod and namespace label sets at
 * 30k pods, mostly against one `key=value`: that case is one property read and one comparison.
 */
function matcherOf(reqs: Req[]): (labels: Record<string, string>) => boolean {
  if (reqs.length === 0) return () => true
  if (reqs.length === 1) {
    const r = reqs[0]!
    if (r.op === 'In' && r.values.length === 1) {
      const { key } = r, value = r.values[0]!
      return (labels) => labels[key] === value && hasOwn(labels, key)
    }
    return (labels) => test(r, labels)
  }
  return (labels) => {
    for (const r of reqs) if (!test(r, labels)) return false
    return true
  }
}

// A label's value is read first, and whether the key is the object's own only when the value
// would decide: an inherited property (`constructor`, or anything on a prototype) is no label.
function test(r: Req, labels: Record<string, string>): boolean {
  switch (r.op) {
    case 'In': return r.values.includes(labels[r.key]!) && hasOwn(labels, r.key)
    // NotIn matches objects without the key too (apimachinery labels.Requirement.Matches).
    case 'NotIn': return !(r.values.includes(labels[r.key]!) && hasOwn(labels, r.key))
    case 'Exists': return hasOwn(labels, r.key)
    case 'DoesNotExist': return !hasOwn(labels, r.key)
  }
}

function wordsOf(r: Req): string {
  switch (r.op) {
    case 'In': return r.values.length === 1 ? `${r.key}=${r.values[0]}` : `${r.key} in (${r.values.join(', ')})`
    case 'NotIn': return `${r.key} notin (${r.values.join(', ')})`
    case 'Exists': return `has ${r.key}`
    case 'DoesNotExist': return `no ${r.key}`
  }
}
