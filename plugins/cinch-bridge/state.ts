// Attachment records for the node agent (contracts.md "State directory"):
// <stateDir>/attachments/<containerId>_<ifName>.json, written by rename so a reader never sees
// half a record, removed by DEL (missing is fine).
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface Attachment {
  containerId: string
  ifName: string
  netns: string
  podNamespace: string
  podName: string
  /** CIDR addresses, e.g. ["10.244.1.5/24", "fd00::5/64"]. */
  ips: string[]
  hostVeth: string
  bridge: string
  /** The network's name (conf.name). */
  network: string
  createdAt: string
}

const dirOf = (stateDir: string) => join(stateDir, 'attachments')
const fileOf = (stateDir: string, containerId: string, ifName: string) => join(dirOf(stateDir), `${containerId}_${ifName}.json`)

export function writeAttachment(stateDir: string, a: Attachment): void {
  const dir = dirOf(stateDir)
  mkdirSync(dir, { recursive: true })
  const final = fileOf(stateDir, a.containerId, a.ifName)
  const tmp = `${final}.tmp-${process.pid}`
  try {
    writeFileSync(tmp, JSON.stringify(a, null, 2) + '\n')
    renameSync(tmp, final)
  } catch (err) {
    rmSync(tmp, { force: true })
    throw new Error(`write attachment record ${final}`, { cause: err })
  }
}

export function readAttachment(stateDir: string, containerId: string, ifName: string): Attachment | undefined {
  try {
    return JSON.parse(readFileSync(fileOf(stateDir, containerId, ifName), 'utf8')) as Attachment
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new Error(`read attachment record of ${containerId}/${ifName}`, { cause: err })
  }
}

export function removeAttachment(stateDir: string, containerId: string, ifName: string): void {
  rmSync(fileOf(stateDir, containerId, ifName), { force: true })
}

/** Every record of `network` (all networks when omitted); unreadable files are skipped. */
export function listAttachments(stateDir: string, network?: string): Attachment[] {
  let names: string[]
  try {
    names = readdirSync(dirOf(stateDir))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  const out: Attachment[] = []
  for (const n of names) {
    if (!n.endsWith('.json')) continue
    try {
      const a = JSON.parse(readFileSync(join(dirOf(stateDir), n), 'utf8')) as Attachment
      if (!network || a.network === network) out.push(a)
    } catch {
      // a record removed meanwhile, or not ours: nothing to collect
    }
  }
  return out
}
