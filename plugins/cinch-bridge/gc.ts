// STATUS and GC (SPEC 1.1.0).
import { CniError, ErrorCode, validAttachments, type VerbContext } from '../../lib/cni/index.js'
import { listAttachmentsSync, removeAbandonedRecordTempsSync, removeAttachmentSync } from '../../lib/state/attachments.js'
import type { BridgeConf } from './config.js'
import { ipamGc, ipamStatus } from './ipam.js'
import { listMasq, masqDelTx, masqKey, masqNetworkTag, parseMasqTable, runMasq } from './masq.js'
import { Attempts } from './steps.js'
import { agentListening } from './agent.js'

type Ctx = VerbContext<BridgeConf>

/**
 * SPEC "STATUS": code 50 when ADD could not succeed now: IPAM says so, or the conflist requires the
 * agent (policyRequired) and nothing listens on its socket (ADD would fail with 11 until it does).
 */
export async function status(ctx: Ctx): Promise<void> {
  const c = ctx.config
  if (c.policyRequired && c.policyTimeoutMs > 0 && !(await agentListening(c.agentSocket, Math.min(c.policyTimeoutMs, 1000)))) {
    throw new CniError(ErrorCode.NotAvailable, 'no network policy agent is listening', `${c.agentSocket}: policyRequired is set, so ADD fails until the cinch agent runs on this node`)
  }
  if (!c.ipam?.type) return
  try {
    await ipamStatus(c.ipam.type, ctx)
  } catch (err) {
    const e = err as CniError
    throw new CniError(ErrorCode.NotAvailable, `IPAM plugin ${c.ipam.type} is not available`, e.msg ? `${e.msg}${e.details ? `: ${e.details}` : ''}` : String(err))
  }
}

/**
 * SPEC "GC": IPAM collects its own allocations; we remove the attachment records and masquerade
 * elements of this network whose attachment is not in cni.dev/valid-attachments. Without that list
 * nothing is collected (code 7, lib/cni/gc.ts): an absent list is not an empty one.
 */
export async function gc(ctx: Ctx): Promise<void> {
  const c = ctx.config
  const valid = new Set(validAttachments(ctx.conf).map((a) => masqKey(c.name, a.containerID, a.ifname)))
  const steps = new Attempts(ctx.log)
  const ipamType = c.ipam?.type
  if (ipamType) await steps.attempt('IPAM GC', () => ipamGc(ipamType, ctx))
  await steps.attempt('attachment record GC', () => {
    for (const a of listAttachmentsSync(c.stateDir)) {
      if (a.network === c.name && !valid.has(masqKey(c.name, a.containerId, a.ifName))) removeAttachmentSync(c.stateDir, a)
    }
    // Temp files of ADDs killed mid-write whose DEL never came (a dead writer's, a minute old).
    const temps = removeAbandonedRecordTempsSync(c.stateDir)
    if (temps.length) ctx.log.info({ temps }, 'removed abandoned record temp files')
  })
  await steps.attempt('masquerade GC', async () => {
    const mine = `${masqNetworkTag(c.name)}/`
    const stale = parseMasqTable(await listMasq()).filter((e) => e.key.startsWith(mine) && !valid.has(e.key))
    await runMasq(masqDelTx(stale))
  })
  if (steps.failures.length) throw new CniError(ErrorCode.Internal, `GC failed in ${steps.failures.length} step(s)`, steps.failures.join('; '))
}
