// Attachment records: the contract between cinch-bridge (writes on ADD, removes on DEL and GC) and
// the node agent (reads them to know which pods live on this node and on which host veth).
// <stateDir>/attachments/<containerId>_<ifName>.json, written by rename so that a reader never sees
// half a record. The plugin side is synchronous (a plugin runs one verb and exits: no event loop
// to keep free); the agent lists asynchronously. Imports nothing of ours.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'

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

export function writeAttachmentSync(stateDir: string, r: AttachmentRecord): void {
  mkdirSync(attachmentsDir(stateDir), { recursive: true })
  const final = attachmentFile(stateDir, r)
  const tmp = `${final}.tmp-${process.pid}` // not *.json: listings never see it
  try {
    writeFileSync(tmp, JSON.stringify(r, null, 2) + '\n')
    renameSync(tmp, final)
  } catch (err) {
    rmSync(tmp, { force: true })
    throw new Error(`write attachment record ${final}`, { cause: err })
  }
}

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
  rmSync(attachmentFile(stateDir, id), { force: true })
}

function recordFiles(dir: string, names: string[]): string[] {
  return names.filter((n) => n.endsWith('.json')).sort().map((n) => join(dir, n))
}

function parseRecord(text: string): AttachmentRecord {
  const r = JSON.parse(text) as AttachmentRecord
  if (!r?.containerId || !r.ifName || !Array.isArray(r.ips)) throw new Error('missing containerId, ifName or ips')
  return r
}

// ENOENT: removed by a DEL between readdir and read; not a problem.
function report(file: string, err: unknown, onProblem?: OnProblem): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') onProblem?.(file, err as Error)
}

function noDir(dir: string, err: unknown): [] {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
  throw new Error(`read ${dir}`, { cause: err })
}

/** Every usable record, by file name; unusable ones go to `onProblem`. */
export async function listAttachments(stateDir: string, onProblem?: OnProblem): Promise<AttachmentRecord[]> {
  const dir = attachmentsDir(stateDir)
  let names: string[]
  try { names = await readdir(dir) } catch (err) { return noDir(dir, err) }
  const out: AttachmentRecord[] = []
  for (const file of recordFiles(dir, names)) {
    try { out.push(parseRecord(await readFile(file, 'utf8'))) } catch (err) { report(file, err, onProblem) }
  }
  return out
}

/** listAttachments, synchronously (for the plugin). */
export function listAttachmentsSync(stateDir: string, onProblem?: OnProblem): AttachmentRecord[] {
  const dir = attachmentsDir(stateDir)
  let names: string[]
  try { names = readdirSync(dir) } catch (err) { return noDir(dir, err) }
  const out: AttachmentRecord[] = []
  for (const file of recordFiles(dir, names)) {
    try { out.push(parseRecord(readFileSync(file, 'utf8'))) } catch (err) { report(file, err, onProblem) }
  }
  return out
}
