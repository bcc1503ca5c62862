// The filter of `cinch flows` and GET /flows: one parser for both, so the CLI's flags and the
// endpoint's query mean the same. Strict: an unknown parameter or a malformed value is an error.
import type { FlowRecord } from './aggregate.js'
import type { Verdict } from './events.js'

export interface FlowFilter {
  /** `ns/pod`: the record's source pod */
  from?: string
  to?: string
  verdict?: Verdict
}

const VERDICTS: Record<string, Verdict> = { allowed: 'allowed', denied: 'denied', audit: 'audit' }
// RFC 1123 label (namespace) / subdomain (pod), as the API server admits them.
const POD_REF = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/
const KNOWN = new Set(['from', 'to', 'verdict', 'follow'])

/** Parses `from`, `to`, `verdict` (and accepts `follow`); throws naming the parameter. */
export function parseFlowFilter(params: URLSearchParams): FlowFilter {
  const f: FlowFilter = {}
  for (const k of new Set(params.keys())) {
    if (!KNOWN.has(k)) throw new Error(`unknown parameter ${JSON.stringify(k.slice(0, 40))}`)
    if (params.getAll(k).length > 1) throw new Error(`${k} given more than once`)
  }
  for (const k of ['from', 'to'] as const) {
    const v = params.get(k)
    if (v === null) continue
    if (!POD_REF.test(v)) throw new Error(`${k} must be NS/POD, got ${JSON.stringify(v.slice(0, 80))}`)
    f[k] = v
  }
  const v = params.get('verdict')
  if (v !== null) {
    if (!Object.prototype.hasOwnProperty.call(VERDICTS, v)) throw new Error(`verdict must be allowed, denied or audit, got ${JSON.stringify(v.slice(0, 40))}`)
    f.verdict = VERDICTS[v]
  }
  return f
}

export function matchesFilter(r: FlowRecord, f: FlowFilter): boolean {
  return (!f.from || r.src.pod === f.from) && (!f.to || r.dst.pod === f.to) && (!f.verdict || r.verdict === f.verdict)
}

/** The query string of a filter (the CLI's side). */
export function filterQuery(f: FlowFilter & { follow?: boolean }): string {
  const p = new URLSearchParams()
  if (f.from) p.set('from', f.from)
  if (f.to) p.set('to', f.to)
  if (f.verdict) p.set('verdict', f.verdict)
  if (f.follow) p.set('follow', '1')
  const s = p.toString()
  return s ? `?${s}` : ''
}
