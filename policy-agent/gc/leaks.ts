// Releases what a pod left behind when its DEL never ran (node rebooted, runtime crashed): its
// address (host-local style IPAM has no other way to learn it is free), its masquerade elements,
// its attachment record. A record a power cut left torn (records are not fsynced: empty, or its
// length in zeros) names no netns to check: it goes once seen torn twice `graceMs` apart (its
// address, vouched for by no record, goes with the IPAM GC below).
//
// A record whose netns is gone is an orphan once seen twice `graceMs` apart. For each, the agent
// runs the main plugin's DEL, exactly what the runtime would have run (SPEC "DEL": the netns may be
// gone), so every plugin cleans up its own state. Then the IPAM plugin's GC (SPEC "GC", 1.1.0)
// releases any allocation no record vouches for. An ADD in flight allocates before it writes its
// record, so the valid list can miss it: cinch-ipam's GC keeps allocations younger than its
// `gcMinAgeSeconds` (ipam/ipam.ts collectGarbage); host-local has no such guard.
import { existsSync, rmSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { delegateDel, delegateGc, describeError, isVersionAtLeast, type CniEnv } from '../../lib/cni/index.js'
import { listAttachmentsSync, removeAttachmentSync, TornRecord, type AttachmentRecord } from '../../lib/state/attachments.js'

export interface GcOptions {
  stateDir: string
  /** A conflist path; the plugin in it that has an `ipam` section is the main plugin. */
  cniConf: string
  cniBinDir: string
  graceMs: number
  /** Aborts the grace wait and any step not yet begun (agent shutdown); the promise then rejects. */
  signal?: AbortSignal
  /** Told the orphans of the first look (`<containerId>/<ifName>`), before the grace wait. */
  onOrphans?: (keys: string[]) => void
}

export interface GcOutcome {
  removedRecords: AttachmentRecord[]
  /** Torn record files removed (paths). */
  removedTorn: string[]
  /** Orphans whose DEL failed (their record was removed anyway; IPAM GC still frees the address). */
  failedDels: string[]
  validAttachments: number
  ipamType?: string
}

const key = (r: AttachmentRecord) => `${r.containerId}/${r.ifName}`

/** The records, and the files among them that are torn (TornRecord: not JSON at all). */
function listRecords(stateDir: string): { records: AttachmentRecord[]; torn: Set<string> } {
  const torn = new Set<string>()
  const records = listAttachmentsSync(stateDir, (file, err) => { if (err instanceof TornRecord) torn.add(file) })
  return { records, torn }
}

/** Records whose netns is gone (the pod's sandbox was torn down without a DEL). */
function orphaned(records: AttachmentRecord[]): AttachmentRecord[] {
  return records.filter((r) => r.netns && !existsSync(r.netns))
}

interface MainPlugin {
  conf: Record<string, any>
  type: string
  ipamType: string
  network: string
}

async function readMainPlugin(path: string): Promise<MainPlugin | undefined> {
  let conflist: any
  try {
    conflist = JSON.parse(await readFile(path, 'utf8'))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined // no CNI config yet: nothing allocated
    throw new Error(`read CNI config ${path}`, { cause: err })
  }
  const plugin = (conflist.plugins ?? [conflist]).find((p: any) => p?.ipam?.type)
  if (!plugin) return undefined
  return {
    conf: { ...plugin, cniVersion: conflist.cniVersion, name: conflist.name },
    type: plugin.type,
    ipamType: plugin.ipam.type,
    network: conflist.name,
  }
}

const env = (cniBinDir: string, r?: AttachmentRecord): CniEnv => ({
  command: r ? 'DEL' : 'GC',
  containerId: r?.containerId ?? '',
  netns: '',
  ifName: r?.ifName ?? '',
  args: {},
  path: [cniBinDir],
})

/** Cleans up orphans seen twice `graceMs` apart, then GCs the IPAM plugin with the rest. */
export async function collectLeaks(opts: GcOptions): Promise<GcOutcome> {
  const { signal } = opts
  const before = listRecords(opts.stateDir)
  const first = new Set(orphaned(before.records).map(key))
  if (first.size) opts.onOrphans?.([...first])
  // Abortable, so a pending grace period never holds a stopping agent (SIGTERM).
  await sleep(opts.graceMs, undefined, { signal })
  // Recheck: only what was orphaned (or torn) both times, and still is, goes.
  const now = listRecords(opts.stateDir)
  const removedRecords = orphaned(now.records).filter((r) => first.has(key(r)))
  const removedTorn: string[] = []
  for (const file of now.torn) {
    if (!before.torn.has(file)) continue
    try {
      rmSync(file, { force: true })
      removedTorn.push(file)
    } catch {
      // Not a file any more (a directory now): reported by the next listing as what it is.
    }
  }
  const main = await readMainPlugin(opts.cniConf)
  const failedDels: string[] = []
  for (const r of removedRecords) {
    signal?.throwIfAborted() // what is left is found again by the next agent's collection
    if (main && (!r.network || r.network === main.network)) {
      try {
        await delegateDel(main.type, main.conf, env(opts.cniBinDir, r))
      } catch (err) {
        failedDels.push(`${key(r)}: ${describeError(err)}`)
      }
    }
    removeAttachmentSync(opts.stateDir, r) // DEL removed it already, unless it failed
  }
  if (!main) return { removedRecords, removedTorn, failedDels, validAttachments: 0 }
  // Read again: an ADD that finished during the grace period has written its record by now.
  const gone = new Set(removedRecords.map(key))
  const valid = (listAttachmentsSync(opts.stateDir)).filter((r) => !gone.has(key(r)))
  // Only the records of this network: another conflist's attachments are not ours to vouch for.
  const mine = valid.filter((r) => !r.network || r.network === main.network)
  const conf = {
    ...main.conf,
    // GC exists from spec 1.1.0 on; an older conflist still names an IPAM plugin that may know it.
    cniVersion: isVersionAtLeast(String(main.conf.cniVersion ?? '0.0.0'), '1.1.0') ? main.conf.cniVersion : '1.1.0',
    'cni.dev/valid-attachments': mine.map((r) => ({ containerID: r.containerId, ifname: r.ifName })),
  }
  signal?.throwIfAborted()
  await delegateGc(main.ipamType, conf, env(opts.cniBinDir))
  return { removedRecords, removedTorn, failedDels, validAttachments: valid.length, ipamType: main.ipamType }
}
