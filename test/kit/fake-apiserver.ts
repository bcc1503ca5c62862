// A fake Kubernetes API server that behaves, for list and watch, as kube-apiserver does: the one
// fake the project allows (../../../shared/STYLE.md "Fake only the Kubernetes API").
//
// - One global resourceVersion, bumped by every create/update/delete the test makes.
// - LIST at cluster scope (/api/v1/pods) and per namespace (/api/v1/namespaces/x/pods), with
//   `metadata.resourceVersion`, `limit` + `continue` pages served from the snapshot of the first
//   page, items without kind/apiVersion (as the real server writes them); 410 Expired for a
//   continue token older than the last compaction.
// - WATCH (`watch=true|1`): from `resourceVersion` N, the events after N, then live ones, as JSON
//   lines (ADDED, MODIFIED, DELETED; BOOKMARK with allowWatchBookmarks); no or "0" resourceVersion:
//   synthetic ADDED for every object first; N older than the last compaction: an ERROR event with
//   Status 410 and the stream ends; `timeoutSeconds` ends the stream cleanly.
// - The test ends streams (`endWatches`: the server closes; `resetWatches`: the connection dies),
//   compacts history (`compact`), sends bookmarks, and injects failures (429 + Retry-After, 500).
// - The ClusterNetworkPolicy CRD path answers 404 unless `clusterNetworkPolicies` is set.
// - Content negotiation: a LIST whose Accept names `application/vnd.kubernetes.protobuf` is answered
//   in protobuf for the built-in kinds (k8s-protobuf.ts: the same objects, managedFields and all),
//   and so are its errors (Status); a CRD (ClusterNetworkPolicy) is always JSON, as on the real
//   server. Each object's bytes are encoded once and kept until it changes, as the real server's
//   watch cache keeps them, so listing 30k pods twice does not encode them twice. Watches are JSON.
// Plain HTTP on 127.0.0.1 (the client needs `insecure-skip-tls-verify`), and optionally also on a
// unix socket, which a process in another network namespace reaches through socat.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomBytes, randomUUID } from 'node:crypto'
import { rmSync } from 'node:fs'
import { KubeConfig } from '@kubernetes/client-node'
import { withNetns } from '../../lib/net/netns.js'
import { encodeObject, encodeStatus, listParts, protobufKinds } from './k8s-protobuf.js'

interface Resource { group: string; version: string; plural: string; kind: string; namespaced: boolean }

const RESOURCES: Resource[] = [
  { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
  { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false },
  { group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false },
  { group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies', kind: 'NetworkPolicy', namespaced: true },
]
const CNP: Resource = { group: 'policy.networking.k8s.io', version: 'v1alpha2', plural: 'clusternetworkpolicies', kind: 'ClusterNetworkPolicy', namespaced: false }

export type Obj = { apiVersion?: string; kind: string; metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown }; [k: string]: unknown }
type EventType = 'ADDED' | 'MODIFIED' | 'DELETED'
interface Event { rv: number; type: EventType; object: Obj }
interface Watcher { res: Resource; namespace?: string; out: ServerResponse; bookmarks: boolean }
export interface Failure { resource?: string; verb?: 'list' | 'watch'; code: number; retryAfterSeconds?: number; times?: number }

export interface FakeApiServerOptions {
  /** Serve /apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies (default: 404, no CRD). */
  clusterNetworkPolicies?: boolean
  /** Also listen on this unix socket path. */
  unixSocket?: string
}

const clone = <T>(v: T): T => structuredClone(v)
const PROTOBUF = 'application/vnd.kubernetes.protobuf'
// An object's protobuf bytes ride on the object itself (stored objects are replaced, never mutated),
// hidden from JSON and structuredClone. Not a WeakMap: with 60k entries its ephemerons made every
// major GC of this process's ~2 GB heap slow enough to double the time a 30k-pod list took.
const ENCODED = Symbol('protobuf')
function encodedOf(kind: string, o: Obj): Uint8Array {
  const held = (o as unknown as Record<symbol, Uint8Array>)[ENCODED]
  if (held) return held
  const bytes = encodeObject(kind, o)
  Object.defineProperty(o, ENCODED, { value: bytes, enumerable: false })
  return bytes
}
const apiVersionOf = (r: Resource) => (r.group ? `${r.group}/${r.version}` : r.version)
const keyOf = (o: Obj) => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name)

export class FakeApiServer {
  #rv = 1000
  #compactedRv = 0
  #resources: Resource[]
  #objects = new Map<string, Map<string, Obj>>() // plural -> key -> object
  #history: Event[] = []
  #watchers = new Set<Watcher>()
  /**
   * performance.now() just after the last watch event was handed to its connection (the bytes
   * leave at the next tick, as Node's http writes them): where a change's latency starts for
   * bench:policy-scale, after this server's own work on the change (clones, resourceVersion,
   * serialization), which a real API server does before its watch sends anything either.
   */
  lastEventWrittenAt = 0
  #continues = new Map<string, { rv: number; items: Obj[]; offset: number }>()
  #failures: Failure[] = []
  #servers: Server[] = []
  /** Every request, in order: `GET /api/v1/pods?limit=500`. */
  readonly requests: string[] = []
  readonly counts = new Map<string, { lists: number; watches: number }>()
  /** Content-Type of each LIST answer, in order (application/json or the protobuf type). */
  readonly listTypes: string[] = []
  /** TCP and unix connections accepted (a client that keeps them alive opens few). */
  connections = 0
  /** Rewrites each protobuf list body before it is sent (a test corrupting the bytes). */
  protobufBody?: (body: Buffer, plural: string) => Buffer
  /** Called before each list page is served (e.g. to compact between two pages). */
  beforeList?: (plural: string, continued: boolean) => void
  /** Rewrites each list page's metadata before it is encoded (a server whose remainingItemCount lies). */
  listMetadata?: (plural: string, metadata: Record<string, unknown>) => void
  url = ''

  private constructor(private readonly opts: FakeApiServerOptions) {
    this.#resources = [...RESOURCES, ...(opts.clusterNetworkPolicies ? [CNP] : [])]
    for (const r of this.#resources) (this.#objects.set(r.plural, new Map()), this.counts.set(r.plural, { lists: 0, watches: 0 }))
  }

  static async start(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const s = new FakeApiServer(opts)
    const tcp = createServer((req, res) => s.#handle(req, res))
    tcp.on('connection', () => s.connections++)
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r))
    s.url = `http://127.0.0.1:${(tcp.address() as AddressInfo).port}`
    s.#servers.push(tcp)
    if (opts.unixSocket) {
      rmSync(opts.unixSocket, { force: true })
      const unix = createServer((req, res) => s.#handle(req, res))
      unix.on('connection', () => s.connections++)
      await new Promise<void>((r) => unix.listen(opts.unixSocket, r))
      s.#servers.push(unix)
    }
    return s
  }

  /**
   * Also listens on `port` of every address in the network namespace at `path` (a client in that
   * namespace, such as an agent under test, reaches http://127.0.0.1:port with no relay process in
   * between); returns that URL. The socket is made while the thread is in the namespace: Node
   * binds a listen without a host synchronously (with a host it would resolve it first, later,
   * back in this namespace).
   */
  async listenInNetns(path: string, port: number): Promise<string> {
    const tcp = createServer((req, res) => this.#handle(req, res))
    tcp.on('connection', () => this.connections++)
    const listening = new Promise<void>((resolve, reject) => (tcp.once('listening', resolve), tcp.once('error', reject)))
    withNetns(path, () => void tcp.listen(port))
    await listening
    this.#servers.push(tcp)
    return `http://127.0.0.1:${port}`
  }

  get resourceVersion(): number {
    return this.#rv
  }

  /** A client configuration for this server (as `kubectl` would read it from a kubeconfig). */
  kubeConfig(server = this.url): KubeConfig {
    const kc = new KubeConfig()
    kc.loadFromString(this.kubeconfigYaml(server))
    return kc
  }

  kubeconfigYaml(server = this.url): string {
    return JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'fake',
      clusters: [{ name: 'fake', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'fake', user: { token: 'fake-token' } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake' } }],
    })
  }

  // ---- objects ---------------------------------------------------------------------------------

  create(o: Obj): Obj {
    const r = this.#resourceOfKind(o.kind)
    const obj = clone(o)
    if (r.namespaced) obj.metadata.namespace ??= 'default'
    const m = this.#objects.get(r.plural)!
    if (m.has(keyOf(obj))) throw new Error(`${r.kind} ${keyOf(obj)} exists`)
    obj.apiVersion = apiVersionOf(r)
    obj.metadata = { uid: randomUUID(), creationTimestamp: new Date().toISOString(), ...obj.metadata }
    return this.#commit(r, 'ADDED', obj)
  }

  update(o: Obj): Obj {
    const r = this.#resourceOfKind(o.kind)
    const obj = clone(o)
    if (r.namespaced) obj.metadata.namespace ??= 'default'
    const old = this.#objects.get(r.plural)!.get(keyOf(obj))
    if (!old) throw new Error(`${r.kind} ${keyOf(obj)} does not exist`)
    obj.apiVersion = apiVersionOf(r)
    obj.metadata = { ...obj.metadata, uid: old.metadata.uid, creationTimestamp: old.metadata.creationTimestamp }
    return this.#commit(r, 'MODIFIED', obj)
  }

  /** Creates or updates. */
  apply(o: Obj): Obj {
    const r = this.#resourceOfKind(o.kind)
    const key = r.namespaced ? `${o.metadata.namespace ?? 'default'}/${o.metadata.name}` : o.metadata.name
    return this.#objects.get(r.plural)!.has(key) ? this.update(o) : this.create(o)
  }

  delete(kind: string, key: string): void {
    const r = this.#resourceOfKind(kind)
    const old = this.#objects.get(r.plural)!.get(key)
    if (!old) throw new Error(`${kind} ${key} does not exist`)
    this.#commit(r, 'DELETED', clone(old))
  }

  get(kind: string, key: string): Obj | undefined {
    return clone(this.#objects.get(this.#resourceOfKind(kind).plural)!.get(key))
  }

  #commit(r: Resource, type: EventType, obj: Obj): Obj {
    obj.metadata.resourceVersion = String(++this.#rv)
    const m = this.#objects.get(r.plural)!
    if (type === 'DELETED') m.delete(keyOf(obj))
    else m.set(keyOf(obj), obj)
    const e: Event = { rv: this.#rv, type, object: clone(obj) }
    this.#history.push(e)
    for (const w of this.#watchers) if (w.res === r && this.#visible(w, e.object)) this.#send(w, e.type, e.object)
    return clone(obj)
  }

  // ---- what the tests do to the server -----------------------------------------------------------

  /**
   * Installs or removes the ClusterNetworkPolicy CRD at run time. Removing it deletes its objects
   * (DELETED events, as the API server's CRD finalizer does), ends its watches, and its path
   * answers 404 again; installing it serves an empty collection.
   */
  setClusterNetworkPolicyCrd(installed: boolean): void {
    const has = this.#resources.includes(CNP)
    if (installed && !has) {
      this.#resources.push(CNP)
      this.#objects.set(CNP.plural, new Map())
      if (!this.counts.has(CNP.plural)) this.counts.set(CNP.plural, { lists: 0, watches: 0 })
    } else if (!installed && has) {
      for (const o of [...this.#objects.get(CNP.plural)!.values()]) this.#commit(CNP, 'DELETED', clone(o))
      this.endWatches(CNP.plural)
      this.#resources.splice(this.#resources.indexOf(CNP), 1)
    }
  }

  /** etcd compaction: history up to now is gone; older watches and continue tokens get 410. */
  compact(): void {
    this.#compactedRv = this.#rv
    this.#history = []
  }

  /** The server ends every watch stream (of one plural, or all) cleanly, as on timeoutSeconds. */
  endWatches(plural?: string): void {
    for (const w of [...this.#watchers]) if (!plural || w.res.plural === plural) (this.#watchers.delete(w), w.out.end())
  }

  /** The connections of every watch (of one plural, or all) die mid-stream. */
  resetWatches(plural?: string): void {
    for (const w of [...this.#watchers]) if (!plural || w.res.plural === plural) (this.#watchers.delete(w), w.out.destroy())
  }

  /** A BOOKMARK at the current resourceVersion to every watch that allowed them. */
  bookmark(): void {
    for (const w of this.#watchers) if (w.bookmarks) this.#send(w, 'BOOKMARK', { kind: w.res.kind, apiVersion: apiVersionOf(w.res), metadata: { resourceVersion: String(this.#rv) } } as unknown as Obj)
  }

  /** The next `times` (default 1) matching requests fail with `code` (429 carries Retry-After). */
  fail(f: Failure): void {
    this.#failures.push({ times: 1, ...f })
  }

  /** Open watch streams (of one plural, or all). */
  watching(plural?: string): number {
    return [...this.#watchers].filter((w) => !plural || w.res.plural === plural).length
  }

  async close(): Promise<void> {
    for (const w of this.#watchers) w.out.destroy()
    this.#watchers.clear()
    await Promise.all(this.#servers.map((s) => new Promise((r) => (s.closeAllConnections(), s.close(r)))))
    if (this.opts.unixSocket) rmSync(this.opts.unixSocket, { force: true })
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  #handle(req: IncomingMessage, out: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x')
    this.requests.push(`${req.method} ${url.pathname}${url.search}`)
    const route = this.#route(url.pathname)
    if (!route || req.method !== 'GET') return this.#status(out, 404, 'NotFound', `the server could not find the requested resource`)
    const { res, namespace, name } = route
    const q = url.searchParams
    const watch = q.get('watch') === 'true' || q.get('watch') === '1'
    const counts = this.counts.get(res.plural)!
    if (watch) counts.watches++
    else counts.lists++
    const f = this.#failures.find((x) => (!x.resource || x.resource === res.plural) && (!x.verb || x.verb === (watch ? 'watch' : 'list')))
    const proto = !watch && !name && protobufKinds.has(res.kind) && /application\/vnd\.kubernetes\.protobuf/.test(req.headers.accept ?? '')
    if (f) {
      if (--f.times! <= 0) this.#failures.splice(this.#failures.indexOf(f), 1)
      const headers = f.retryAfterSeconds !== undefined ? { 'retry-after': String(f.retryAfterSeconds) } : undefined
      return this.#status(out, f.code, f.code === 429 ? 'TooManyRequests' : 'InternalError', `injected ${f.code}`, headers, proto)
    }
    if (name) {
      const o = this.#objects.get(res.plural)!.get(namespace ? `${namespace}/${name}` : name)
      return o ? this.#json(out, 200, o) : this.#status(out, 404, 'NotFound', `${res.plural} "${name}" not found`)
    }
    if (watch) return this.#watch(req, out, res, namespace, q)
    this.beforeList?.(res.plural, q.has('continue'))
    this.#list(out, res, namespace, q, proto)
  }

  #route(path: string): { res: Resource; namespace?: string; name?: string } | undefined {
    // /api/v1/... or /apis/<group>/<version>/... then [namespaces/<ns>/]<plural>[/<name>]
    const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))\/(.+)$/.exec(path)
    if (!m) return undefined
    const group = m[2] ?? ''
    const version = m[1] ?? m[3]!
    const parts = m[4]!.split('/')
    const find = (plural: string) => this.#resources.find((r) => r.group === group && r.version === version && r.plural === plural)
    if (parts[0] === 'namespaces' && parts.length >= 3) {
      const res = find(parts[2]!)
      return res?.namespaced && parts.length <= 4 ? { res, namespace: parts[1], name: parts[3] } : undefined
    }
    const res = find(parts[0]!)
    if (!res || parts.length > 2) return undefined
    return { res, name: parts[1] }
  }

  #list(out: ServerResponse, res: Resource, namespace: string | undefined, q: URLSearchParams, proto: boolean): void {
    const limit = Number(q.get('limit') ?? 0)
    const token = q.get('continue')
    let page: { rv: number; items: Obj[]; offset: number }
    if (token) {
      const c = this.#continues.get(token)
      if (!c || c.rv < this.#compactedRv) {
        return this.#status(out, 410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.', undefined, proto)
      }
      page = c
    } else {
      const items = [...this.#objects.get(res.plural)!.values()].filter((o) => !namespace || o.metadata.namespace === namespace)
        // Byte order of the keys, as etcd ranges over them (and no ICU collation: 30k keys took ~0.5 s).
        .sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : 1))
      page = { rv: this.#rv, items, offset: 0 }
    }
    const end = limit > 0 ? Math.min(page.offset + limit, page.items.length) : page.items.length
    const metadata: Record<string, unknown> = { resourceVersion: String(page.rv) }
    if (end < page.items.length) {
      const next = randomBytes(12).toString('base64url')
      this.#continues.set(next, { ...page, offset: end })
      metadata.continue = next
      metadata.remainingItemCount = page.items.length - end
    }
    this.listMetadata?.(res.plural, metadata)
    const slice = page.items.slice(page.offset, end)
    if (proto) {
      const items = slice.map((o) => encodedOf(res.kind, o))
      this.listTypes.push(PROTOBUF)
      const parts = listParts(apiVersionOf(res), `${res.kind}List`, metadata, items)
      if (this.protobufBody) return void out.writeHead(200, { 'content-type': PROTOBUF }).end(this.protobufBody(Buffer.concat(parts), res.plural))
      // Written piece by piece (the objects' own bytes), corked into one writev: nothing copied.
      out.writeHead(200, { 'content-type': PROTOBUF, 'content-length': String(parts.reduce((n, p) => n + p.length, 0)) })
      out.cork()
      for (const p of parts) out.write(p)
      return void out.end()
    }
    this.listTypes.push('application/json')
    // The real server leaves kind and apiVersion out of a typed list's items.
    const items = slice.map(({ kind: _k, apiVersion: _a, ...rest }) => rest)
    this.#json(out, 200, { kind: `${res.kind}List`, apiVersion: apiVersionOf(res), metadata, items })
  }

  #watch(req: IncomingMessage, out: ServerResponse, res: Resource, namespace: string | undefined, q: URLSearchParams): void {
    const rvParam = q.get('resourceVersion') ?? ''
    const from = Number(rvParam || 0)
    if (rvParam && !/^\d+$/.test(rvParam)) return this.#status(out, 400, 'BadRequest', `invalid resourceVersion ${rvParam}`)
    out.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' })
    // The real server flushes the headers at once (serveWatch), before any event: a quiet watch is open.
    out.flushHeaders()
    const w: Watcher = { res, namespace, out, bookmarks: q.get('allowWatchBookmarks') === 'true' }
    if (from > 0 && from < this.#compactedRv) {
      // "too old resource version": the client must list again.
      this.#send(w, 'ERROR', { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${from} (${this.#compactedRv})`, reason: 'Expired', code: 410 } as unknown as Obj)
      return void out.end()
    }
    if (from === 0) {
      for (const o of this.#objects.get(res.plural)!.values()) if (this.#visible(w, o)) this.#send(w, 'ADDED', o)
    } else {
      for (const e of this.#history) if (e.rv > from && this.#resourceOfKind(e.object.kind) === res && this.#visible(w, e.object)) this.#send(w, e.type, e.object)
    }
    this.#watchers.add(w)
    const timeout = Number(q.get('timeoutSeconds') ?? 0)
    const timer = timeout > 0 ? setTimeout(() => (this.#watchers.delete(w), out.end()), timeout * 1000) : undefined
    req.on('close', () => (clearTimeout(timer), this.#watchers.delete(w)))
  }

  #visible(w: Watcher, o: Obj): boolean {
    return !w.namespace || o.metadata.namespace === w.namespace
  }

  #send(w: Watcher, type: string, object: Obj): void {
    w.out.write(JSON.stringify({ type, object }) + '\n')
    this.lastEventWrittenAt = performance.now()
  }

  #resourceOfKind(kind: string): Resource {
    const r = this.#resources.find((x) => x.kind === kind)
    if (!r) throw new Error(`the fake API server does not serve kind ${kind}`)
    return r
  }

  #json(out: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
    out.writeHead(code, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body))
  }

  #status(out: ServerResponse, code: number, reason: string, message: string, headers?: Record<string, string>, proto = false): void {
    const status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }
    if (proto) return void out.writeHead(code, { 'content-type': PROTOBUF, ...headers }).end(encodeStatus(status))
    this.#json(out, code, status, headers)
  }

  /** Encodes every built-in object's protobuf now (as a warm watch cache holds them), not at its first list. */
  preEncode(): void {
    for (const r of this.#resources) {
      if (!protobufKinds.has(r.kind)) continue
      for (const o of this.#objects.get(r.plural)!.values()) encodedOf(r.kind, o)
    }
  }
}
