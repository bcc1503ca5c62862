// Raw objects from the Kubernetes API: one page of a list, and a watch as a stream of events, over
// node:http(s) with the KubeConfig's TLS, proxy and credentials applied to every request (an exec
// plugin's or a service account's token is re-read as it rotates). Lists of built-in kinds are
// asked for as protobuf, JSON as the fallback: the server answers protobuf for built-in kinds and
// JSON for CRDs (and older servers), so the body is read by its Content-Type. A protobuf list is
// decoded into the shape its JSON has (kube-protobuf.ts), building only what convert.ts reads:
// at 30k pods, 131 MB of JSON to parse become ~60 MB of protobuf mostly skipped. Watches stay JSON
// (one small object per event). No typed client: its list
// deserializer renames fields (`from` -> `_from`) that the watch path keeps raw, and objects must
// read one way whatever their path (convert.ts).
import http from 'node:http'
import https from 'node:https'
import type { KubeConfig } from '@kubernetes/client-node'
import type { Kind } from './convert.js'
import { decodeList, decodeStatus, isProtobuf, PROTOBUF_KINDS, PROTOBUF_TYPE } from './kube-protobuf.js'
import { parseApiJson } from './json-keys.js'

/** A request the API server refused: `code` is the HTTP status (or a watch ERROR event's). */
export class ApiError extends Error {
  constructor(message: string, readonly code: number, readonly reason?: string, readonly retryAfterMs?: number) {
    super(message)
  }
}

export const isGone = (err: unknown) => err instanceof ApiError && err.code === 410
/**
 * 504 "Too large resource version": the version asked for is past the server's own history (etcd
 * restored from a backup, or a version of another etcd). kube-apiserver answers so after waiting
 * up to 3 s for its watch cache, and again at every retry until its history passes that version,
 * whose events in between it then never sends. The message is apimachinery's
 * NewTooLargeResourceVersionError (client-go's IsTooLargeResourceVersion reads it too).
 */
export const isTooLargeResourceVersion = (err: unknown) => err instanceof ApiError && err.code === 504 && /too large resource version/i.test(err.message)
/** 404: the resource is unknown to the server (a CRD that is not installed). */
export const isNotFound = (err: unknown) => err instanceof ApiError && err.code === 404

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'
  object: unknown
}

export interface ListPage {
  items: unknown[]
  resourceVersion: string
  continue?: string
  /**
   * How many items the pages after this one hold (the server's estimate, for a paged list without
   * a selector); absent when the server does not say or says something no count can be.
   */
  remainingItemCount?: number
}

/** What a reflector needs of the API; kube-http's is the real one. */
export interface KubeApi {
  /** One page of the collection at `path`, whose items are of `kind`. */
  listPage(path: string, query: Record<string, string>, kind: Kind): Promise<ListPage>
  /** Resolves when the server ends the stream; rejects on a refused request or a broken stream. */
  watch(path: string, query: Record<string, string>, onEvent: (e: WatchEvent) => void, opts: { signal: AbortSignal; idleMs: number; onOpen?: () => void }): Promise<void>
}

// How long an idle connection is kept for the next request: under the idle timeouts servers use
// (Node's 5 s; Go's servers longer), so a request rarely meets a connection the server is closing.
const IDLE_CONNECTION_MS = 4000

/**
 * The connections of one API, kept alive between requests. client-node's agent for a direct
 * connection is a plain http(s).Agent without keepAlive, so every list page and watch opened a
 * new TCP connection (and TLS handshake): at 30k pods and policies, 270 of them at start.
 * The TLS settings (CA, client certificate, skip-verify) stay on each request's options, as
 * applyToHTTPSOptions sets them, and an Agent keeps a pool per distinct set (its getName), so a
 * rotated client certificate gets new connections. Proxy agents are kept as they are.
 */
function keepAliveAgents() {
  const opts = { keepAlive: true, timeout: IDLE_CONNECTION_MS }
  const pools = { http: new http.Agent(opts), https: new https.Agent(opts) }
  return (agent: unknown): http.Agent | undefined => {
    const c = (agent as object | undefined)?.constructor
    return c === http.Agent ? pools.http : c === https.Agent ? pools.https : undefined
  }
}

// One list page of 500 ~4 KB pods is 2 MB; one object is at most etcd's 1.5 MB request limit.
const MAX_PAGE_BYTES = 256 << 20
const MAX_EVENT_BYTES = 16 << 20

export function kubeApi(kc: KubeConfig): KubeApi {
  const pooled = keepAliveAgents()
  const open = async (path: string, query: Record<string, string>, accept: string, signal?: AbortSignal) => {
    const cluster = kc.getCurrentCluster()
    if (!cluster) throw new Error('the kubeconfig has no current cluster')
    // The server URL may carry a path prefix (an API proxy): append, do not resolve.
    const url = new URL(cluster.server.replace(/\/+$/, '') + path)
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v)
    const opts: https.RequestOptions = { method: 'GET', headers: { Accept: accept } }
    await kc.applyToHTTPSOptions(opts) // CA, client cert, skipTLSVerify, token, proxy agent
    const agent = pooled(opts.agent)
    if (agent) opts.agent = agent
    return new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = (url.protocol === 'http:' ? http : https).request(url, { ...opts, signal }, resolve)
      req.on('error', reject)
      // A watch can be quiet for minutes: keepalive notices a peer that vanished without a FIN.
      req.on('socket', (s) => s.setKeepAlive(true, 30_000))
      req.end()
    })
  }

  return {
    async listPage(path, query, kind) {
      const res = await open(path, query, PROTOBUF_KINDS.has(kind) ? `${PROTOBUF_TYPE}, application/json` : 'application/json')
      const body = await readBody(res, MAX_PAGE_BYTES)
      if (res.statusCode !== 200) throw apiError(res, body)
      let list: { items?: unknown; metadata?: { resourceVersion?: unknown; continue?: unknown; remainingItemCount?: unknown } }
      if (isProtobuf(res.headers['content-type'])) {
        // Asked for by kind: a protobuf answer for a kind not asked as protobuf is refused too.
        if (!PROTOBUF_KINDS.has(kind)) throw new Error(`${path}: a protobuf list of ${kind}, which is asked for as JSON`)
        const { items, ...metadata } = decodeList(body, kind)
        list = { items, metadata }
      } else {
        list = parseApiJson(body.toString('utf8')) as typeof list
      }
      if (!list || !Array.isArray(list.items)) throw new Error(`${path}: the list has no items`)
      const rv = list.metadata?.resourceVersion
      if (typeof rv !== 'string' || !rv) throw new Error(`${path}: the list has no metadata.resourceVersion`)
      const cont = list.metadata?.continue
      // A hint only (when to compile ahead: reflector.ts), so a value that is no count is dropped, not an error.
      const left = list.metadata?.remainingItemCount
      const remaining = Number.isSafeInteger(left) && (left as number) >= 0 ? { remainingItemCount: left as number } : {}
      return { items: list.items, resourceVersion: rv, ...(typeof cont === 'string' && cont ? { continue: cont, ...remaining } : {}) }
    },

    async watch(path, query, onEvent, { signal, idleMs, onOpen }) {
      const res = await open(path, { ...query, watch: 'true' }, 'application/json', signal)
      if (res.statusCode !== 200) throw apiError(res, await readBody(res, 1 << 20))
      onOpen?.()
      // No byte for idleMs (the server's timeoutSeconds plus a margin): the stream is dead.
      res.setTimeout(idleMs, () => res.destroy(new Error(`watch ${path}: nothing received for ${idleMs} ms`)))
      await new Promise<void>((resolve, reject) => {
        let pending: Buffer[] = []
        let pendingBytes = 0
        const fail = (err: Error) => (res.destroy(), reject(err))
        res.on('data', (chunk: Buffer) => {
          let start = 0
          for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
            pending.push(chunk.subarray(start, nl))
            const line = Buffer.concat(pending).toString('utf8')
            pending = []
            pendingBytes = 0
            start = nl + 1
            if (!line.trim()) continue
            let e: WatchEvent
            try {
              e = parseApiJson(line) as WatchEvent
            } catch {
              return fail(new Error(`watch ${path}: an event is not JSON`))
            }
            try {
              onEvent(e)
            } catch (err) {
              return fail(err as Error)
            }
          }
          pendingBytes += chunk.length - start
          if (pendingBytes > MAX_EVENT_BYTES) return fail(new Error(`watch ${path}: an event is over ${MAX_EVENT_BYTES} bytes`))
          if (start < chunk.length) pending.push(chunk.subarray(start))
        })
        res.on('end', resolve)
        res.on('error', reject)
        res.on('close', () => (res.complete ? resolve() : reject(new Error(`watch ${path}: the connection was reset`))))
      })
    },
  }
}

function readBody(res: http.IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    res.on('data', (c: Buffer) => {
      size += c.length
      if (size > max) return void res.destroy(new Error(`response over ${max} bytes`))
      chunks.push(c)
    })
    res.on('end', () => resolve(Buffer.concat(chunks)))
    res.on('error', reject)
  })
}

/** The API's Status object, when the body is one, names the reason; Retry-After comes with 429/503. */
function apiError(res: http.IncomingMessage, body: Buffer): ApiError {
  let message = `HTTP ${res.statusCode}`
  let reason: string | undefined
  try {
    // A server that negotiated protobuf writes its Status in protobuf too.
    const s = isProtobuf(res.headers['content-type']) ? decodeStatus(body) : JSON.parse(body.toString('utf8'))
    if (typeof s?.message === 'string') message += `: ${s.message.slice(0, 500)}`
    if (typeof s?.reason === 'string') reason = s.reason
  } catch { /* not a Status */ }
  const after = Number(res.headers['retry-after'])
  return new ApiError(message, res.statusCode ?? 0, reason, Number.isFinite(after) && after >= 0 ? Math.min(after, 600) * 1000 : undefined)
}

/** A watch ERROR event's Status as an ApiError (410 Gone: the resourceVersion is too old). */
export function statusError(object: unknown): ApiError {
  const s = (object ?? {}) as { code?: unknown; message?: unknown; reason?: unknown }
  const code = typeof s.code === 'number' ? s.code : 500
  return new ApiError(`watch ERROR ${code}${typeof s.message === 'string' ? `: ${s.message.slice(0, 500)}` : ''}`, code, typeof s.reason === 'string' ? s.reason : undefined)
}
