// Attachment records: the contract between cinch-bridge (writes on ADD, removes on DEL and GC) and
// the node agent (reads them to know which pods live on this node and on which host veth).
// <stateDir>/attachments/<containerId>_<ifName>.json, written by rename so that a reader never sees
// half a record. Both sides read synchronously: a plugin runs one verb and exits (no event loop to
// keep free), and the agent reads, before each sync, the records that changed since its last
// listing (attachment-lister.ts), where 110 small files took 25-110 ms as 440 thread-pool round
// trips (open, stat, read, close each) that the CNI ADD waited for (issue 14). A file the plugin never
// writes there (a FIFO, a device, a symlink, a huge file) is refused unread, or a synchronous read
// could block the agent for good. Every record read is checked field by field
// (validateRecord): a file in the state directory is input like any other, and the agent puts its
// fields into nft text. Imports only the socket protocol's checks (the same fields, the same rules).
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, type Stats } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { removeAbandonedTempFiles, writeFileAtomic } from '../fs/atomic-write.js'
import { validateRequest, type AddRequest } from './protocol.js'

export interface AttachmentRecord {
  containerId: string
  ifName: string
  netns: string
  /** K8S_POD_NAMESPACE / K8S_POD_NAME from CNI_ARGS; "" when absent. */
  podNamespace: string
  podName: string
  /** CIDR addresses, e.g. ["10.244.1.5/24", "fd00::5/64"]. */
  ips: string[]
  hostVeth: string
  bridge: string
  /** The network's name (conf.name). */
  network: string
  /** ISO 8601. */
  createdAt: string
}

/** What names one record (a CniEnv is one). */
export type AttachmentId = Pick<AttachmentRecord, 'containerId' | 'ifName'>

/** Called for a record that cannot be used; the listing goes on without it. */
export type OnProblem = (file: string, err: Error) => void

export const attachmentsDir = (stateDir: string): string => join(stateDir, 'attachments')

export const attachmentFile = (stateDir: string, id: AttachmentId): string =>
  join(attachmentsDir(stateDir), `${id.containerId}_${id.ifName}.json`)

/**
 * Writes the record (by rename: a reader sees all of it or none): in place, for the agent to read,
 * when this returns. No fsync, on purpose: what a record describes (the pod's netns, its veth, the
 * masquerade elements and rules for its addresses) ends with the kernel, so a record need not
 * outlive one. A crashed plugin or agent loses nothing (the page cache keeps it); after a power
 * cut, the runtime's DEL or GC of the dead pod finds what it needs without it (the IPAM lease,
 * fsynced, is released by container ID; a veth and rules no longer exist), and a record that comes
 * back empty is reported unreadable until that DEL, or the agent's leak GC, removes it (TornRecord).
 * Made durable, it cost every ADD the disk's flush: 1-6 ms here, longer than the rest of the
 * agent's answer (issue 14).
 */
export function writeAttachmentSync(stateDir: string, r: AttachmentRecord): void {
  const final = recordPath(stateDir, r)
  try {
    writeFileAtomic(final, recordText(r), { durability: 'none' }) // temp not *.json: listings never see it
  } catch (err) {
    throw new Error(`write attachment record ${final}`, { cause: err })
  }
}

/** Where the record goes, its directory made. */
function recordPath(stateDir: string, r: AttachmentRecord): string {
  mkdirSync(attachmentsDir(stateDir), { recursive: true })
  return attachmentFile(stateDir, r)
}

const recordText = (r: AttachmentRecord): string => JSON.stringify(r, null, 2) + '\n'

/** The record as written, or undefined when there is none. */
export function readAttachmentSync(stateDir: string, id: AttachmentId): AttachmentRecord | undefined {
  try {
    return JSON.parse(readFileSync(attachmentFile(stateDir, id), 'utf8')) as AttachmentRecord
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new Error(`read attachment record of ${id.containerId}/${id.ifName}`, { cause: err })
  }
}

/** Removes the record; a missing one is fine (SPEC "DEL": idempotent). */
export function removeAttachmentSync(stateDir: string, id: AttachmentId): void {
  const file = attachmentFile(stateDir, id)
  rmSync(file, { force: true })
  // An ADD killed between writing its temp file and renaming it
  // leaves `.<record>.<pid>.<hex>.tmp`; the runtime's DEL for the same attachment removes it too.
  const prefix = `.${basename(file)}.`
  let names: string[] = []
  try {
    names = readdirSync(dirname(file))
  } catch {
    return // no directory: nothing was ever written
  }
  for (const n of names) if (n.startsWith(prefix) && n.endsWith('.tmp')) rmSync(join(dirname(file), n), { force: true })
}

/**
 * Removes the temp files of record writes whose writer died before renaming and whose attachment
 * never got a DEL (which would have removed them: removeAttachmentSync). GC calls it.
 */
export function removeAbandonedRecordTempsSync(stateDir: string): string[] {
  return removeAbandonedTempFiles(attachmentsDir(stateDir))
}

/** The record files among a directory's entry names, as paths, in name order. */
export function recordFiles(dir: string, names: string[]): string[] {
  return names.filter((n) => n.endsWith('.json')).sort().map((n) => join(dir, n))
}

// cinch-bridge's host veth: "cinch" + 10 hex digits (plugins/cinch-bridge/config.ts hostVethName).
const HOST_VETH = /^cinch[0-9a-f]{10}$/
// A Linux interface name: 1 to 15 bytes, no "/", ":", whitespace or control characters.
const IFNAME = /^[^/:\s\x00-\x1f\x7f-\x9f]{1,15}$/
// Paths, network names, times: printable, bounded.
const PRINTABLE = /^[^\x00-\x1f\x7f]{1,4096}$/

/** A record that breaks the contract; the message names the field. */
export class RecordError extends Error {}

/**
 * A record file that is not JSON at all: torn. The plugin writes records by rename, so a torn one is
 * what a power cut leaves of a record written without fsync (empty, or its length in zeros), or
 * someone else's write; never a record of another version (policy-agent/gc/leaks.ts removes these).
 */
export class TornRecord extends RecordError {}

function text(o: Record<string, unknown>, key: string, pattern: RegExp, what: string): string {
  const v = o[key]
  const ok = typeof v === 'string' && pattern.test(v) && (pattern !== IFNAME || (Buffer.byteLength(v) <= 15 && v !== '.' && v !== '..'))
  if (!ok) throw new RecordError(`${key}: expected ${what}, got ${String(JSON.stringify(v)).slice(0, 80)}`)
  return v as string
}

/**
 * Checks a parsed record field by field and returns a fresh object with the known fields only
 * (unknown keys are ignored: a newer plugin may add some). Throws RecordError naming the field.
 */
export function validateRecord(v: unknown): AttachmentRecord {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new RecordError('expected a JSON object')
  const o = v as Record<string, unknown>
  let ids: AddRequest
  try {
    // containerId (the CNI pattern), ifName, podNamespace/podName (RFC 1123 or ""), ips (CIDRs):
    // the fields an ADD request carries too, checked by the same code.
    ids = validateRequest({ op: 'add', containerId: o.containerId, ifName: o.ifName, podNamespace: o.podNamespace, podName: o.podName, ips: o.ips }) as AddRequest
  } catch (err) {
    throw new RecordError((err as Error).message)
  }
  const createdAt = text(o, 'createdAt', PRINTABLE, 'an ISO 8601 time')
  if (Number.isNaN(Date.parse(createdAt))) throw new RecordError(`createdAt: expected an ISO 8601 time, got ${JSON.stringify(createdAt.slice(0, 80))}`)
  return {
    containerId: ids.containerId, ifName: ids.ifName, netns: text(o, 'netns', PRINTABLE, 'a path'),
    podNamespace: ids.podNamespace, podName: ids.podName, ips: ids.ips,
    hostVeth: text(o, 'hostVeth', HOST_VETH, `a host veth name matching ${HOST_VETH.source}`),
    bridge: text(o, 'bridge', IFNAME, 'an interface name'),
    network: text(o, 'network', PRINTABLE, 'a network name'),
    createdAt,
  }
}

function parseRecord(file: string, content: string): AttachmentRecord {
  let v: unknown
  try { v = JSON.parse(content) } catch { throw new TornRecord('not JSON') }
  const r = validateRecord(v)
  // One file per attachment, named after it: a copy under another name would program a pod twice.
  if (basename(file) !== `${r.containerId}_${r.ifName}.json`) throw new RecordError(`the file is not named ${r.containerId}_${r.ifName}.json`)
  return r
}

// ENOENT: removed by a DEL between readdir and read; not a problem.
export function report(file: string, err: unknown, onProblem?: OnProblem): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') onProblem?.(file, err as Error)
}

export function noDir(dir: string, err: unknown): [] {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
  throw new Error(`read ${dir}`, { cause: err })
}

/** A record is ~400 bytes; a file past this is not one the plugin wrote. */
export const MAX_RECORD_BYTES = 64 * 1024

/**
 * A record file's text, or RecordError for a file the plugin never writes: judged by lstat before
 * it is opened (opening a device can have effects of its own, a FIFO's open waits for a writer),
 * then opened without following a symlink, blocking or taking a terminal, and read only if it is
 * still a regular file of at most MAX_RECORD_BYTES.
 */
function readRecordFile(file: string, st: Stats = lstatSync(file)): string {
  if (!st.isFile()) throw new RecordError('not a regular file')
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW | constants.O_NOCTTY)
  try {
    const now = fstatSync(fd)
    if (!now.isFile()) throw new RecordError('not a regular file')
    if (now.size > MAX_RECORD_BYTES) throw new RecordError(`${now.size} bytes, over the ${MAX_RECORD_BYTES} a record may have`)
    const buf = Buffer.allocUnsafe(now.size)
    let n = 0
    for (let got; n < buf.length && (got = readSync(fd, buf, n, buf.length - n, n)) > 0;) n += got
    return buf.toString('utf8', 0, n)
  } finally {
    closeSync(fd)
  }
}

/** Every usable record, by file name; unusable ones go to `onProblem`. */
export function listAttachmentsSync(stateDir: string, onProblem?: OnProblem): AttachmentRecord[] {
  const dir = attachmentsDir(stateDir)
  let names: string[]
  try { names = readdirSync(dir) } catch (err) { return noDir(dir, err) }
  return readRecords(dir, names, onProblem)
}

/**
 * The record in `file`, read and checked (RecordError for a file that is not one; `st`, its lstat,
 * when the caller has it).
 */
export const loadRecordFile = (file: string, st?: Stats): AttachmentRecord => parseRecord(file, readRecordFile(file, st))

function readRecords(dir: string, names: string[], onProblem?: OnProblem): AttachmentRecord[] {
  const out: AttachmentRecord[] = []
  for (const file of recordFiles(dir, names)) {
    try { out.push(loadRecordFile(file)) } catch (err) { report(file, err, onProblem) }
  }
  return out
}
