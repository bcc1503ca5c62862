// GET /flows on the agent's HTTP server (loopback by default, see http.ts): the recent flow
// records as JSON lines, filtered by `from`, `to`, `verdict`; with `follow=1` the connection
// stays open and each new record follows as it is flushed. `cinch flows` is its client.
// Bounded: at most `maxFollowers` open follows (503 beyond), and a follower whose socket backs up
// past `maxBacklogBytes` is told so in a last line and cut, rather than buffered without end.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FlowRecord } from '../flows/aggregate.js'
import { matchesFilter, parseFlowFilter } from '../flows/filter.js'
import type { FlowRing } from '../flows/ring.js'

export interface FlowsEndpointOptions {
  ring: FlowRing
  maxFollowers?: number
  maxBacklogBytes?: number
}

export const FLOWS_PATH = '/flows'

export function handleFlows(req: IncomingMessage, res: ServerResponse, o: FlowsEndpointOptions): void {
  if (req.method !== 'GET') return void res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET' }).end('method not allowed\n')
  const params = new URL(req.url ?? '/', 'http://agent').searchParams
  let filter
  try {
    filter = parseFlowFilter(params)
  } catch (err) {
    return void res.writeHead(400, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`)
  }
  const follow = params.get('follow')
  if (follow !== null && follow !== '1') return void res.writeHead(400, { 'content-type': 'text/plain' }).end('follow must be 1\n')
  if (follow && o.ring.followers >= (o.maxFollowers ?? 8)) {
    return void res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '5' }).end('too many followers\n')
  }
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' })
  const line = (r: FlowRecord) => JSON.stringify(r) + '\n'
  const recent = o.ring.snapshot().filter((r) => matchesFilter(r, filter)).map(line).join('')
  if (!follow) return void res.end(recent)
  if (recent) res.write(recent)
  const maxBacklog = o.maxBacklogBytes ?? 1 << 20
  const stop = o.ring.follow((r) => {
    if (!matchesFilter(r, filter)) return
    if (res.writableLength > maxBacklog) {
      stop()
      res.end(JSON.stringify({ error: 'this follower fell behind; records were dropped' }) + '\n')
      return
    }
    res.write(line(r))
  })
  res.on('close', stop)
}
