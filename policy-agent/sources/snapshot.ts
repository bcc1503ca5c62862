// The restart snapshot: on a graceful stop the kube source saves what its informers hold, with each
// kind's resourceVersion; the next start loads it and WATCHES from those versions instead of
// listing the cluster again (client-go's reflector resumes a watch the same way; Cilium restores
// its state across restarts). A version the server has compacted away answers 410 Gone and that
// kind lists as before (reflector.ts).
//
// The file is state on the node, so it is hostile input: objects are saved in the API's shape
// (unconvert.ts) and converted again on load by convert.ts, the one trust boundary, so a tampered
// file can only produce what a hostile API object could. It is refused whole, with one reason,
// when it is too big, not JSON, not of this shape, of another API server, CA, node or agent
// version (a resourceVersion of another etcd looks as valid as ours), or older than `maxAgeMs`
// (a rolling update restarts in seconds; past minutes the server has compacted anyway). It is
// removed as it is read, so a crash after that start (no graceful stop, no new snapshot) lists.
import { closeSync, constants, fstatSync, mkdirSync, openSync, readSync, realpathSync, rmSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import { writeFileAtomic } from '../../lib/fs/atomic-write.js'
import { KINDS, shareSpec, type Kind } from './convert.js'
import type { Json } from './fields.js'
import type { ProblemReport } from './types.js'

const FORMAT = 'cinch-restart-snapshot/2'
/** 30k pods and 30k policies of the bench's mix save to ~12 MB (~27 MB before spec tables: bench/README.md phase 16). */
export const MAX_SNAPSHOT_BYTES = 256 << 20
/** Clocks of one node: a snapshot from the future by more than this is refused too. */
const MAX_CLOCK_SKEW_MS = 5000
// resourceVersions are opaque strings (etcd revisions in practice); this one goes back to the
// server as a query parameter, so anything longer or stranger is refused.
const RESOURCE_VERSION = /^[A-Za-z0-9._-]{1,64}$/
const MAX_WHERE = 1024
const MAX_REASON = 4096

/** What a snapshot is bound to: it is loaded only by an agent where all of these are equal. */
export interface SnapshotIdentity {
  /** the API server's URL */
  server: string
  /** sha256 of the CA the client trusts (or of nothing, for an insecure or plain-HTTP server) */
  ca: string
  node: string
  agentVersion: string
}

/**
 * The kinds whose objects' specs are written once each (a spec table): many pods hold one spec
 * (their ports, node and hostNetwork), many policies one spec (a namespace template's). At 30k/30k,
 * 30,000 policies held 6,429 distinct specs, and 30,000 pods on 50 nodes 50.
 */
export const SPEC_TABLE_KINDS: ReadonlySet<Kind> = new Set(['Pod', 'NetworkPolicy'])

export interface SnapshotKind {
  kind: Kind
  resourceVersion: string
  /**
   * API objects (raw, unconverted), each as its JSON text (snapshot-lines.ts keeps them). Of a
   * SPEC_TABLE_KINDS kind, each begins `{"spec":N` (N indexes `specs`), its spec left out. With
   * `specOf`, each line here is the text after that: written as it is kept, with no string built.
   */
  lines: string[]
  /** SPEC_TABLE_KINDS only: the distinct specs of the kind's objects, each as its JSON text */
  specs?: string[]
  /** the index into `specs` of each line's object, when `lines` are kept as the text after it */
  specOf?: ArrayLike<number>
  /** the objects of the kind that did not convert, as the store reported them */
  problems: ProblemReport[]
}

/**
 * The agent's version and its build (size and time of the running script): two builds of one
 * version may convert differently, and a snapshot binds to the one that wrote it.
 */
export function agentBuild(version: string, script = process.argv[1]): string {
  try {
    const st = statSync(realpathSync(script!))
    return `${version} ${st.size}.${Math.floor(st.mtimeMs)}`
  } catch {
    return version
  }
}

/**
 * JSON lines: a header (format, identity, time, and per kind its resourceVersion, problems, object
 * and spec count), then each kind's specs and objects, one per line, in the header's order. One
 * line per object, not one document: each raw object is parsed, converted and dropped before the next, as
 * a list page's are, instead of 60k raw objects alive at once (at 30k/30k, half the load was GC).
 */
export function encodeSnapshot(id: SnapshotIdentity, writtenAt: number, kinds: SnapshotKind[]): string {
  return [...snapshotPieces(id, writtenAt, kinds)].join('')
}

/**
 * encodeSnapshot's text in pieces (the header, each line, each newline), for writeSnapshotFile, which
 * encodes them into one reused buffer: at 30k/30k one 26 MB string, and its 26 MB buffer, cost the
 * stop a major GC of a heap of ~500 MB, and chunks of lines joined still made ~50 MB of garbage.
 */
export function* snapshotPieces(id: SnapshotIdentity, writtenAt: number, kinds: SnapshotKind[]): Generator<string> {
  const header = { format: FORMAT, ...id, writtenAt, kinds: kinds.map(({ kind, resourceVersion, lines, specs, problems }) => ({ kind, resourceVersion, count: lines.length, specs: specs?.length ?? 0, problems })) }
  yield JSON.stringify(header) + '\n'
  // JSON.stringify escapes every newline inside a string: one object is one line.
  for (const k of kinds) {
    for (const line of k.specs ?? []) {
      yield line
      yield '\n'
    }
    const specOf = k.specOf
    const prefixes = specOf ? (k.specs ?? []).map((_, n) => `${SPEC_PREFIX}${n}`) : []
    for (let i = 0; i < k.lines.length; i++) {
      if (specOf) yield prefixes[specOf[i]!]!
      yield k.lines[i]!
      yield '\n'
    }
  }
}

export type SnapshotHeader = Omit<SnapshotKind, 'lines' | 'specs' | 'specOf'>

/**
 * Checks that `id` may load the snapshot in `buf` at `now` (throws with the reason otherwise), then
 * hands each kind's objects, parsed one at a time with their line, to the sink `open` returns for
 * the kind (told how many objects the whole file holds). An object of a spec table's kind comes
 * with its spec put back (one raw object shared by all that hold it, marked for convert.ts to
 * convert once); its `line` is the text after `{"spec":N`, and `specLine` the spec's line. A
 * throw can come after some objects were handed over: the caller keeps nothing until it returns.
 */
export function decodeSnapshot(buf: Buffer, id: SnapshotIdentity, now: number, maxAgeMs: number, open: (k: SnapshotHeader, objects: number) => (raw: Json, line: string | undefined, specLine?: string) => void): SnapshotHeader[] {
  // Decoded once, each line parsed from a slice of it: a slice shares the text where a line's own
  // toString copied it (67,550 copies, ~27 MB of garbage at 30k/30k). The same text either way: a
  // newline byte is never part of a multi-byte UTF-8 sequence, so no character spans two lines.
  const text = buf.toString('utf8')
  let pos = 0
  // `kind` and `i` name the line only in an error: no label string is built per object.
  let last = ''
  const line = (kind: string, i?: number): unknown => {
    const nl = text.indexOf('\n', pos)
    if (nl === -1) throw new Error(`${label(kind, i)}: truncated`)
    const start = pos
    pos = nl + 1
    last = text.slice(start, nl)
    try {
      return JSON.parse(last)
    } catch {
      throw new Error(`${label(kind, i)}: not JSON (corrupt)`)
    }
  }
  const headers = checkHeader(line('header') as Record<string, unknown>, id, now, maxAgeMs)
  const objects = headers.reduce((n, h) => n + h.count, 0)
  for (const h of headers) {
    const specs: Json[] = []
    const specLines: string[] = []
    for (let j = 0; j < h.specs; j++) {
      const spec = line(`${h.kind} spec`, j) as Json
      shareSpec(spec)
      specs.push(spec)
      specLines.push(last)
    }
    const sink = open(h, objects)
    for (let i = 0; i < h.count; i++) {
      const raw = line(h.kind, i) as Json
      if (!SPEC_TABLE_KINDS.has(h.kind)) {
        sink(raw, last)
        continue
      }
      // `{"spec":N` first, and N what the parse read (a later "spec" member would have replaced it).
      const cut = cutSpecIndex(last)
      const n = cut?.n ?? -1
      if (n < 0 || n >= specs.length || (raw as Record<string, Json>).spec !== n) throw new Error(`${label(h.kind, i)}: its spec is not one of the kind's ${specs.length} specs`)
      ;(raw as Record<string, Json>).spec = specs[n]!
      sink(raw, cut!.tail, specLines[n])
    }
  }
  if (pos !== text.length) throw new Error('more after the last object')
  return headers.map(({ count: _, specs: __, ...h }) => h)
}

/** How an object's line of a spec table's kind begins, before its spec's index. */
export const SPEC_PREFIX = '{"spec":'

/** N of a line that begins `{"spec":N` (N decimal), and the text after it (`,` or `}` first). */
function cutSpecIndex(line: string): { n: number; tail: string } | undefined {
  if (!line.startsWith(SPEC_PREFIX)) return undefined
  let n = 0
  let i = SPEC_PREFIX.length
  // At most 9 digits: an index of a file under MAX_SNAPSHOT_BYTES. A leading zero is not JSON.
  for (; i < line.length && i - SPEC_PREFIX.length < 9; i++) {
    const d = line.charCodeAt(i) - 48
    if (d < 0 || d > 9) break
    n = n * 10 + d
  }
  if (i === SPEC_PREFIX.length || (line[i] !== ',' && line[i] !== '}')) return undefined
  // A slice shares the file's text: kept as the object's line, nothing is copied (snapshot-lines.ts).
  return { n, tail: line.slice(i) }
}

const label = (kind: string, i?: number): string => (i === undefined ? kind : `${kind} ${i}`)

function checkHeader(s: Record<string, unknown>, id: SnapshotIdentity, now: number, maxAgeMs: number): (SnapshotHeader & { count: number; specs: number })[] {
  if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new Error('header: not an object')
  if (s.format !== FORMAT) throw new Error(`format ${JSON.stringify(String(s.format).slice(0, 64))}, not ${FORMAT}`)
  for (const k of ['server', 'ca', 'node', 'agentVersion'] as const) {
    // Another cluster's (or node's, or agent's) snapshot: its resourceVersions mean nothing here.
    if (s[k] !== id[k]) throw new Error(`written for another ${k === 'agentVersion' ? 'agent version' : k === 'ca' ? 'CA' : k}`)
  }
  const at = s.writtenAt
  if (typeof at !== 'number' || !Number.isFinite(at)) throw new Error('writtenAt is not a time')
  if (now - at > maxAgeMs) throw new Error(`${Math.round((now - at) / 1000)} s old, over ${Math.round(maxAgeMs / 1000)} s`)
  if (at - now > MAX_CLOCK_SKEW_MS) throw new Error('written in the future')
  if (!Array.isArray(s.kinds)) throw new Error('kinds is not a list')
  const seen = new Set<string>()
  return s.kinds.map((x: unknown, i: number) => {
    const k = x as Record<string, unknown>
    const where = `kinds[${i}]`
    if (typeof k !== 'object' || k === null) throw new Error(`${where}: not an object`)
    if (!(KINDS as readonly unknown[]).includes(k.kind) || seen.has(k.kind as string)) throw new Error(`${where}: kind ${JSON.stringify(String(k.kind).slice(0, 64))} unknown or repeated`)
    const kind = k.kind as Kind
    seen.add(kind)
    if (typeof k.resourceVersion !== 'string' || !RESOURCE_VERSION.test(k.resourceVersion)) throw new Error(`${where}: resourceVersion is not one`)
    if (typeof k.count !== 'number' || !Number.isSafeInteger(k.count) || k.count < 0) throw new Error(`${where}: count is not one`)
    if (typeof k.specs !== 'number' || !Number.isSafeInteger(k.specs) || k.specs < 0 || (k.specs > 0 && !SPEC_TABLE_KINDS.has(kind))) throw new Error(`${where}: specs is not a count of this kind's specs`)
    if (!Array.isArray(k.problems)) throw new Error(`${where}: problems is not a list`)
    const problems = k.problems.map((p: unknown, j: number) => {
      const { where: w, reason } = (p ?? {}) as Record<string, unknown>
      // Shown in /status and logs as the store wrote them: text of bounded length, of this kind.
      if (typeof w !== 'string' || typeof reason !== 'string' || w.length > MAX_WHERE || reason.length > MAX_REASON || !w.startsWith(`${kind} `)) {
        throw new Error(`${where}.problems[${j}]: not a problem of ${kind}`)
      }
      return { where: w, reason }
    })
    return { kind, resourceVersion: k.resourceVersion, count: k.count, specs: k.specs, problems }
  })
}

/**
 * Reads the snapshot at `path` and removes it, whatever it holds: one start uses it at most once.
 * Undefined when there is none; throws (after removing it) when it is not a regular file or is
 * over `maxBytes`, without reading it.
 */
export function takeSnapshotFile(path: string, maxBytes = MAX_SNAPSHOT_BYTES): Buffer | undefined {
  let fd: number
  try {
    // O_NOFOLLOW: a planted symlink is refused, not followed to some other file. O_NONBLOCK: a
    // planted FIFO would block this synchronous open (the agent's start) until some writer came;
    // it opens at once instead and is refused below as not a regular file. O_NOCTTY: a tty there
    // does not become the agent's terminal.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    rmSync(path, { force: true })
    throw new Error(`open: ${(err as NodeJS.ErrnoException).code ?? err}`)
  }
  try {
    rmSync(path, { force: true })
    const st = fstatSync(fd)
    if (!st.isFile()) throw new Error('not a regular file')
    if (st.size > maxBytes) throw new Error(`${st.size} bytes, over ${maxBytes}`)
    const buf = Buffer.allocUnsafe(st.size)
    let n = 0
    while (n < st.size) {
      const r = readSync(fd, buf, n, st.size - n, null)
      if (r === 0) break
      n += r
    }
    return buf.subarray(0, n)
  } finally {
    closeSync(fd)
  }
}

/** Writes the snapshot by rename (never half a file at `path`), readable by root alone; its size in bytes. */
export function writeSnapshotFile(path: string, text: string | Iterable<string>): number {
  mkdirSync(dirname(path), { recursive: true })
  // 'none': no fsync in the shutdown's time. A power cut may leave an empty or partial file, which
  // the next start refuses (not JSON) and lists, as it does without a snapshot.
  writeFileAtomic(path, text, { durability: 'none', mode: 0o600 })
  return statSync(path).size
}
