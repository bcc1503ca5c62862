// The agent's HTTP endpoints: /metrics (Prometheus), /healthz (the process serves), /readyz
// (the first sync is in the kernel), /status (JSON for `cinch status`).
import { createServer, type Server } from 'node:http'
import type { AgentMetrics } from './metrics.js'

export interface AgentStatus {
  ready: boolean
  node: string
  lastSync?: { at: string; durationMs: number; mode: string; reason: string }
  lastError?: { at: string; message: string }
  localPods: { namespace: string; name: string; ips: string[] }[]
  invalidPolicies: { policy: string; reason: string }[]
  sourceProblems: { where: string; reason: string }[]
}

export interface HttpServerOptions {
  /** host:port, e.g. 127.0.0.1:9476; [::1]:9476 for IPv6. */
  addr: string
  metrics: AgentMetrics
  status: () => AgentStatus
}

export function parseAddr(addr: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(addr)
  if (!m) throw new Error(`--metrics-addr ${addr}: expected host:port`)
  return { host: m[1] || '0.0.0.0', port: Number(m[2]) }
}

export async function startHttpServer(opts: HttpServerOptions): Promise<Server> {
  const server = createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    try {
      if (path === '/metrics') {
        const body = await opts.metrics.registry.metrics()
        res.writeHead(200, { 'content-type': opts.metrics.registry.contentType }).end(body)
      } else if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n')
      } else if (path === '/readyz') {
        const ready = opts.status().ready
        res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'first sync not applied yet\n')
      } else if (path === '/status') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(opts.status()) + '\n')
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      }
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`)
    }
  })
  const { host, port } = parseAddr(opts.addr)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => (server.off('error', reject), resolve()))
  })
  return server
}
