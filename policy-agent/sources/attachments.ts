// Local attachments: the records cinch-bridge writes on ADD into <stateDir>/attachments
// (contracts.md: <containerId>_<ifName>.json, written by rename, removed on DEL). They say which
// pods live on this node and which host veth each one uses.
import { readdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { LocalPod } from '../model/cluster.js'

export interface AttachmentRecord {
  containerId: string
  ifName: string
  netns: string
  podNamespace: string
  podName: string
  /** CIDR notation, e.g. 10.244.1.5/24. */
  ips: string[]
  hostVeth: string
  bridge?: string
  network?: string
  createdAt?: string
}

export function attachmentsDir(stateDir: string): string {
  return join(stateDir, 'attachments')
}

export function attachmentFile(stateDir: string, containerId: string, ifName: string): string {
  return join(attachmentsDir(stateDir), `${containerId}_${ifName}.json`)
}

/** Reads every record; unreadable ones (a partial file cannot exist: they are renamed in) are reported. */
export async function readAttachments(
  stateDir: string,
  onProblem?: (file: string, err: Error) => void,
): Promise<AttachmentRecord[]> {
  let names: string[]
  try {
    names = await readdir(attachmentsDir(stateDir))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw new Error(`read ${attachmentsDir(stateDir)}`, { cause: err })
  }
  const out: AttachmentRecord[] = []
  for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
    const file = join(attachmentsDir(stateDir), name)
    try {
      const r = JSON.parse(await readFile(file, 'utf8')) as AttachmentRecord
      if (!r.containerId || !r.ifName || !Array.isArray(r.ips)) throw new Error('missing containerId, ifName or ips')
      out.push(r)
    } catch (err) {
      // ENOENT: removed by a DEL between readdir and read; not a problem.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') onProblem?.(file, err as Error)
    }
  }
  return out
}

export async function removeAttachment(stateDir: string, r: Pick<AttachmentRecord, 'containerId' | 'ifName'>): Promise<void> {
  await rm(attachmentFile(stateDir, r.containerId, r.ifName), { force: true })
}

/** The compiler's view of the node's pods: one LocalPod per attachment, addresses without prefix. */
export function toLocalPods(records: AttachmentRecord[]): LocalPod[] {
  return records.map((r) => ({
    namespace: r.podNamespace ?? '',
    name: r.podName ?? '',
    ips: r.ips.map((ip) => ip.split('/')[0]),
    hostVeth: r.hostVeth,
  }))
}
