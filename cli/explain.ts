// `cinch explain`: one connection, judged as the dataplane would (sender's egress AND receiver's
// ingress), with the policies and rules that decide, in words.
import { decide } from '../policy-agent/compile/index.js'
import type { ClusterState } from '../policy-agent/model/cluster.js'
import { UsageError } from './args.js'

type Endpoint = { namespace: string; name: string } | { ip: string }

export function parseEndpoint(flag: string, v: string | undefined): Endpoint {
  if (!v) throw new UsageError(`--${flag} is required (NS/POD or an IP address)`)
  const slash = v.indexOf('/')
  // An IP (v4 or v6, no slash) stands for a peer outside the cluster's pods.
  if (slash === -1) return { ip: v }
  return { namespace: v.slice(0, slash), name: v.slice(slash + 1) }
}

export function parsePort(v: string | undefined): { port: number; protocol: 'TCP' | 'UDP' | 'SCTP' } {
  const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/i.exec(v ?? '')
  if (!m) throw new UsageError('--port must be PORT or PORT/PROTO, e.g. 80/TCP')
  return { port: Number(m[1]), protocol: (m[2]?.toUpperCase() ?? 'TCP') as 'TCP' | 'UDP' | 'SCTP' }
}

const show = (e: Endpoint) => ('ip' in e ? e.ip : `${e.namespace}/${e.name}`)

export function explainText(state: ClusterState, from: Endpoint, to: Endpoint, p: { port: number; protocol: 'TCP' | 'UDP' | 'SCTP' }): { text: string; allowed: boolean } {
  for (const e of [from, to]) {
    if (!('ip' in e) && !state.pods.has(`${e.namespace}/${e.name}`)) throw new Error(`pod ${show(e)} not found in the cluster state`)
  }
  const d = decide(state, { from, to, port: p.port, protocol: p.protocol })
  const verdict = (a: boolean) => (a ? 'allowed' : 'denied')
  const lines = [
    `${show(from)} -> ${show(to)} ${p.port}/${p.protocol}: ${d.allowed ? 'ALLOWED' : 'DENIED'}`,
    `  egress from ${show(from)}: ${verdict(d.egress.allowed)}`,
    ...d.egress.reasons.map((r) => `    - ${r}`),
    `  ingress to ${show(to)}: ${verdict(d.ingress.allowed)}`,
    ...d.ingress.reasons.map((r) => `    - ${r}`),
  ]
  return { text: lines.join('\n') + '\n', allowed: d.allowed }
}
