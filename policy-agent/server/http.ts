// The agent's HTTP endpoints: /metrics (Prometheus), /healthz (the process serves), /readyz
// (this node can start pods: see readiness()), /status (JSON for `cinch status`), /flows (flow
// records as JSON lines for `cinch flows`: flows.ts).
//
// Exposure: by default the server listens on loopback only (--metrics-addr 127.0.0.1:9476). The
// DaemonSet probes it there (httpGet host 127.0.0.1: kubelet runs in the host's network namespace
// and so does this hostNetwork pod), which works on IPv4, IPv6 and dual-stack nodes alike (Linux
// always has 127.0.0.1 on lo), and keeps /status (every local pod's name and addresses) and
// /metrics (an `nft -j list` per scrape) off the node's addresses, where every pod could reach them.
// Opt in to scraping with --metrics-addr 0.0.0.0:9476 or [::]:9476 (both still answer on loopback).
import { createServer, type Server } from 'node:http'
import type { AgentMetrics } from './metrics.js'
import { FLOWS_PATH, handleFlows, type FlowsEndpointOptions } from './flows.js'
import type { FlowRecorderStatus } from '../flows/recorder.js'
import type { FailedClosed } from '../compile/ir.js'

export interface AgentStatus {
  ready: boolean
  /** Why not ready, for /readyz and `cinch status`. */
  notReady?: string
  node: string
  lastSync?: { at: string; durationMs: number; mode: string; reason: string }
  lastError?: { at: string; message: string }
  localPods: { namespace: string; name: string; ips: string[] }[]
  invalidPolicies: { policy: string; reason: string }[]
  /** local pods' directions that fail closed: their policies add up to more than one pod, or the node's pods, may cost */
  failedClosed?: FailedClosed[]
  /** what the local pods' policies add up to (open chains, cost.ts units), against --max-node-policy-cost */
  nodePolicyCost?: { used: number; max: number }
  sourceProblems: { where: string; reason: string }[]
  /**
   * ClusterNetworkPolicies that apply but not as written (fail-closed rules, unsupported
   * domainNames), and same-tier same-priority policies whose order cinch chose (by name).
   */
  clusterNetworkPolicies?: { warnings: { policy: string; warning: string }[]; overlaps: string[] }
  /** flow records: whether the nflog group is read (EPERM: another socket holds it), events lost */
  flowLogs?: FlowRecorderStatus & { clusterWide: boolean; problems: { where: string; reason: string }[] }
}

export interface HttpServerOptions {
  /** host:port, e.g. 127.0.0.1:9476; [::1]:9476 for IPv6. */
  addr: string
  metrics: AgentMetrics
  status: () => AgentStatus
  /**
   * /readyz alone (kubelet asks every few seconds): status() builds reports over the whole
   * cluster (annotation problems, ClusterNetworkPolicy overlaps) that a probe must not pay for.
   */
  ready: () => Pick<AgentStatus, 'ready' | 'notReady'>
  /** GET /flows; absent: 404 */
  flows?: FlowsEndpointOptions
}

/**
 * Ready means "this node can start pods": the first policy sync is in the kernel AND (with the
 * overlay on) the node has a pod CIDR and its conflist is written. Either alone is not enough: a
 * node without a pod CIDR has no conflist, and kubelet would keep every pod there ContainerCreating.
 */
export function readiness(firstSyncDone: boolean, node?: { ready: boolean; reason?: string }): Pick<AgentStatus, 'ready' | 'notReady'> {
  if (!firstSyncDone) return { ready: false, notReady: 'first policy sync not in the kernel yet' }
  if (node && !node.ready) return { ready: false, notReady: node.reason ?? 'node network not set up yet' }
  return { ready: true }
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
        const s = opts.ready()
        res.writeHead(s.ready ? 200 : 503, { 'content-type': 'text/plain' }).end(s.ready ? 'ready\n' : `not ready: ${s.notReady ?? 'first sync not applied yet'}\n`)
      } else if (path === FLOWS_PATH && opts.flows) {
        handleFlows(req, res, opts.flows)
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
