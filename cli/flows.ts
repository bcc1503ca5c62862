// `cinch flows`: the flow records of a running agent (GET /flows on its --metrics-addr), as text
// or JSON lines; --follow keeps printing as records are flushed (every interval, 15 s by default).
import type { FlowRecord } from '../policy-agent/flows/aggregate.js'
import { filterQuery, parseFlowFilter, type FlowFilter } from '../policy-agent/flows/filter.js'
import type { TraceHit } from '../policy-agent/flows/events.js'
import { parseFlags, UsageError } from './args.js'
import { DEFAULT_METRICS_ADDR } from '../lib/state/defaults.js'

export const FLOWS_USAGE = `  flows     flow records of the running agent: who talked to whom, and which policy decided
              [--from NS/POD] [--to NS/POD] [--verdict denied|allowed|audit] [--follow] [--json] [--metrics-addr A]
`

/** The filter the flags ask for, checked as the agent checks it (one parser for both). */
export function flagsFilter(f: { from?: string; to?: string; verdict?: string }): FlowFilter {
  const p = new URLSearchParams()
  for (const k of ['from', 'to', 'verdict'] as const) if (f[k] !== undefined) p.set(k, f[k]!)
  try {
    return parseFlowFilter(p)
  } catch (err) {
    throw new UsageError(`--${(err as Error).message}`)
  }
}

const who = (e: FlowRecord['src']) => e.pod ?? e.addr

function hitText(h: TraceHit): string {
  const tier = h.tier === 'networkpolicy' ? '' : h.tier === 'audit' ? '' : `${h.tier} `
  if (h.unresolved) return `${tier}${h.action} (policy ${h.unresolved})`
  if (h.policy !== undefined) return `${tier}${h.action} by ${h.policy} rule ${h.rule}`
  const ps = h.policies?.join(', ') ?? '?'
  // The chain failed closed: no policy's rule was even looked at; their sum is what denied (over
  // the pod's bound, or the node's, which closes the costliest namespace's first: `cinch status` says which).
  const closed = h.failedClosed ? `the pod fails closed, its policies cost more than the agent's bound (--max-pod-policy-cost or --max-node-policy-cost; cinch status says which) (${ps})` : undefined
  if (h.action === 'would-deny') return `would deny: ${closed ?? ps}`
  if (h.action === 'deny') return `${tier}deny: ${closed ?? `isolated by ${ps}, no rule allows`}`
  return `${tier}${h.action}: end of ${ps}`
}

/** One record as a line: time, endpoints, port, direction, verdict, count, trace. */
export function recordText(r: FlowRecord): string {
  const port = r.dport ? `${r.proto.toUpperCase()}/${r.dport}` : r.proto.toUpperCase()
  const verdict = r.verdict === 'audit' ? 'AUDIT' : r.verdict.toUpperCase()
  return `${r.lastSeen} ${who(r.src)} -> ${who(r.dst)} ${port} ${r.direction} ${verdict} x${r.count}  ${r.trace.map(hitText).join(' -> ')}\n`
}

export async function flows(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const f = parseFlags(argv, {
    from: { type: 'string' }, to: { type: 'string' }, verdict: { type: 'string' },
    follow: { type: 'boolean' }, json: { type: 'boolean' }, 'metrics-addr': { type: 'string' },
  })
  if (f.help) return (out.write(FLOWS_USAGE), 0)
  const filter = flagsFilter(f)
  const url = `http://${f['metrics-addr'] ?? DEFAULT_METRICS_ADDR}/flows${filterQuery({ ...filter, follow: f.follow })}`
  let res: Response
  try {
    res = await fetch(url)
  } catch (err) {
    throw new Error(`no agent answers at ${url} (is \`cinch agent\` running, with this --metrics-addr?)`, { cause: err })
  }
  if (!res.ok || !res.body) throw new Error(`${url}: HTTP ${res.status} ${(await res.text()).trim().slice(0, 200)}`)
  let rest = ''
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    rest += Buffer.from(chunk).toString('utf8')
    const lines = rest.split('\n')
    rest = lines.pop()!
    for (const l of lines) if (l) out.write(f.json ? l + '\n' : lineText(l))
  }
  if (rest) out.write(f.json ? rest + '\n' : lineText(rest))
  return 0
}

function lineText(l: string): string {
  const r = JSON.parse(l) as FlowRecord & { error?: string }
  return r.error ? `cinch flows: ${r.error}\n` : recordText(r)
}
