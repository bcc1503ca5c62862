// Releases IPAM leaks. An address stays allocated when its DEL never ran (node rebooted, runtime
// crashed); host-local style IPAM has no other way to learn it is free. CNI SPEC "GC" (1.1.0): the
// plugin releases every allocation not listed in `cni.dev/valid-attachments`.
//
// Records are only dropped after a grace period and a recheck. An ADD in flight allocates before
// it writes its record, so the valid list can miss it: cinch-ipam's GC therefore keeps
// allocations younger than its `gcMinAgeSeconds` (ipam/ipam.ts collectGarbage). host-local has no
// such guard; with it, the grace and recheck here narrow the race but cannot close it.
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { delegateGc, isVersionAtLeast, type CniEnv } from '../../lib/cni/index.js'
import { readAttachments, removeAttachment, type AttachmentRecord } from '../sources/attachments.js'

export interface GcOptions {
  stateDir: string
  /** A conflist path; the plugin in it that has an `ipam` section names the IPAM plugin. */
  cniConf: string
  cniBinDir: string
  graceMs: number
  sleep?: (ms: number) => Promise<void>
}

export interface GcOutcome {
  removedRecords: AttachmentRecord[]
  validAttachments: number
  ipamType?: string
}

const key = (r: AttachmentRecord) => `${r.containerId}/${r.ifName}`

/** Records whose netns is gone (the pod's sandbox was torn down without a DEL). */
function orphaned(records: AttachmentRecord[]): AttachmentRecord[] {
  return records.filter((r) => r.netns && !existsSync(r.netns))
}

/** Drops orphaned records seen twice `graceMs` apart, then GCs the IPAM plugin with the rest. */
export async function collectLeaks(opts: GcOptions): Promise<GcOutcome> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
  const first = new Set(orphaned(await readAttachments(opts.stateDir)).map(key))
  await sleep(opts.graceMs)
  // Recheck: only what was orphaned both times, and still is, goes.
  const now = await readAttachments(opts.stateDir)
  const removedRecords = orphaned(now).filter((r) => first.has(key(r)))
  for (const r of removedRecords) await removeAttachment(opts.stateDir, r)
  const gone = new Set(removedRecords.map(key))
  // Read again: an ADD that finished during the grace period has written its record by now.
  const valid = (await readAttachments(opts.stateDir)).filter((r) => !gone.has(key(r)))
  const ipamType = await gcIpam(opts, valid)
  return { removedRecords, validAttachments: valid.length, ipamType }
}

async function gcIpam(opts: GcOptions, valid: AttachmentRecord[]): Promise<string | undefined> {
  let conflist: any
  try {
    conflist = JSON.parse(await readFile(opts.cniConf, 'utf8'))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined // no CNI config yet: nothing allocated
    throw new Error(`read CNI config ${opts.cniConf}`, { cause: err })
  }
  const plugin = (conflist.plugins ?? [conflist]).find((p: any) => p?.ipam?.type)
  if (!plugin) return undefined
  // Only the records of this network: another conflist's attachments are not ours to vouch for.
  const mine = valid.filter((r) => !r.network || r.network === conflist.name)
  const conf = {
    ...plugin,
    // GC exists from spec 1.1.0 on; an older conflist still names an IPAM plugin that may know it.
    cniVersion: isVersionAtLeast(String(conflist.cniVersion ?? '0.0.0'), '1.1.0') ? conflist.cniVersion : '1.1.0',
    name: conflist.name,
    'cni.dev/valid-attachments': mine.map((r) => ({ containerID: r.containerId, ifname: r.ifName })),
  }
  const env: CniEnv = { command: 'GC', containerId: '', netns: '', ifName: '', args: {}, path: [opts.cniBinDir] }
  await delegateGc(plugin.ipam.type, conf, env)
  return plugin.ipam.type
}
