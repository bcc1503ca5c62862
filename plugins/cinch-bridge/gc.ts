// STATUS and GC (SPEC 1.1.0).
import { CniError, ErrorCode, delegateGc, delegateStatus, type VerbContext } from '../../lib/cni/index.js'
import { listTableJson, runNft } from '../../lib/nft/index.js'
import { parseConfig } from './config.js'
import { TABLE, attachmentKey, masqDelRuleset, parseMasqTable } from './masq.js'
import { listAttachmentsSync, removeAttachmentSync } from '../../lib/state/attachments.js'

/** SPEC "STATUS": code 50 when ADD could not succeed now; here, when IPAM says so. */
export async function status(ctx: VerbContext): Promise<void> {
  const c = parseConfig(ctx.conf)
  if (!c.ipam?.type) return
  try {
    await delegateStatus(c.ipam.type, JSON.parse(ctx.stdin.toString('utf8')), ctx.env)
  } catch (err) {
    const e = err as CniError
    throw new CniError(ErrorCode.NotAvailable, `IPAM plugin ${c.ipam.type} is not available`, e.msg ? `${e.msg}${e.details ? `: ${e.details}` : ''}` : String(err))
  }
}

/**
 * SPEC "GC": IPAM collects its own allocations; we remove the attachment records and masquerade
 * elements of this network whose attachment is not in cni.dev/valid-attachments.
 */
export async function gc(ctx: VerbContext): Promise<void> {
  const c = parseConfig(ctx.conf)
  const valid = new Set((c['cni.dev/valid-attachments'] ?? []).map((a) => attachmentKey(c.name, a.containerID, a.ifname)))
  const failures: string[] = []
  if (c.ipam?.type) {
    await delegateGc(c.ipam.type, JSON.parse(ctx.stdin.toString('utf8')), ctx.env).catch((err: Error) => failures.push(`IPAM GC: ${err.message}`))
  }
  for (const a of listAttachmentsSync(c.stateDir)) {
    if (a.network === c.name && !valid.has(attachmentKey(c.name, a.containerId, a.ifName))) removeAttachmentSync(c.stateDir, a)
  }
  try {
    const stale = parseMasqTable(await listTableJson('inet', TABLE)).filter((e) => e.key.startsWith(`${c.name}/`) && !valid.has(e.key))
    await runNft(masqDelRuleset(stale))
  } catch (err) {
    failures.push(`masquerade GC: ${(err as Error).message}`)
  }
  if (failures.length) throw new CniError(ErrorCode.Internal, `GC failed in ${failures.length} step(s)`, failures.join('; '))
}
