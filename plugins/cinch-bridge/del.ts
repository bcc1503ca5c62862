// DEL (SPEC "DEL"): idempotent. A missing netns, link, allocation or record is success; every step
// is attempted (steps.ts Attempts, which a failed ADD's rollback also uses) and the failures are
// joined. IPAM is released first, even when the netns is gone, so that an address never leaks
// behind a half-deleted pod.
import { CniError, describeError, ErrorCode, type VerbContext } from '../../lib/cni/index.js'
import { parseCidr, KERNEL } from '../../lib/ip/index.js'
import { readAttachmentSync, removeAttachmentSync } from '../../lib/state/attachments.js'
import { readPodIp, type PodIp } from './addressing.js'
import { askAgent } from './agent.js'
import { ipamDel } from './ipam.js'
import { hostVethName, type BridgeConf } from './config.js'
import { listMasq, masqDelTx, masqEntries, masqKey, parseMasqTable, runMasq, type MasqEntry } from './masq.js'
import { podNetnsExists } from './pod-env.js'
import { Attempts } from './steps.js'

export async function del(ctx: VerbContext<BridgeConf>): Promise<void> {
  const { env, config: c } = ctx
  // Refuses the plugin's own netns (code 4) before anything is removed: with no host veth left,
  // the step below would delete CNI_IFNAME there, i.e. the host's own interface.
  const podNetns = env.netns !== '' && podNetnsExists(env.netns)
  const steps = new Attempts(ctx.log)

  // The IPAM release starts first and depends on nothing below; its process start (tens of ms)
  // overlaps the link and masquerade steps instead of preceding them.
  const ipamType = c.ipam?.type
  const ipamReleased = ipamType ? steps.attempt('release IPAM', () => ipamDel(ipamType, ctx)) : Promise.resolve(true)
  const { closeRtnl, deleteLinkByName, openRtnl, withNetns } = await import('../../lib/net/index.js')

  // The addresses to stop masquerading: the record's, else prevResult's (runtimes pass it on DEL).
  // The record is a file anyone with access to the state directory may have changed: only
  // addresses that parse are used. One that cannot be read is as good as none, not a failed DEL:
  // a power cut can leave it empty (it is not fsynced, lib/state/attachments.ts), and the runtime
  // would retry a failed DEL of that dead pod for ever.
  let recorded: unknown
  try {
    recorded = readAttachmentSync(c.stateDir, env)?.ips
  } catch (err) {
    ctx.log.warn({ err: describeError(err) }, 'attachment record unreadable: its addresses taken from prevResult')
  }
  const text = recorded ?? ctx.conf.prevResult?.ips?.map((ip) => ip.address) ?? []
  const ips: PodIp[] = (Array.isArray(text) ? text : []).filter((t) => typeof t === 'string' && parseCidr(t, KERNEL)).map((address) => readPodIp({ address }))

  const hostName = hostVethName(env.containerId, env.ifName)
  await steps.attempt(`delete veth ${hostName}`, async () => {
    const nl = openRtnl()
    try {
      if (await deleteLinkByName(nl, hostName)) return
    } finally {
      closeRtnl(nl)
    }
    // No host side: if the pod side survives (renamed host side?), remove it there.
    if (!podNetns) return // SPEC: the netns may be gone
    const pnl = withNetns(env.netns, openRtnl)
    try {
      await deleteLinkByName(pnl, env.ifName)
    } finally {
      closeRtnl(pnl)
    }
  })

  if (c.ipMasq) {
    const key = masqKey(c.name, env.containerId, env.ifName)
    await steps.attempt('remove masquerade', async () => {
      let entries: MasqEntry[] = masqEntries(ips, key)
      // An ADD killed before it wrote its record, with no prevResult to tell: the elements' comments
      // still name the attachment, so look them up rather than leak them.
      if (entries.length === 0) entries = parseMasqTable(await listMasq()).filter((e) => e.key === key)
      await runMasq(masqDelTx(entries))
    })
  }
  await steps.attempt('remove attachment record', () => removeAttachmentSync(c.stateDir, env))
  await ipamReleased
  if (c.policyTimeoutMs > 0) {
    // lib/state/README.md: wait at most 1 s for any reply; errors ignored.
    await askAgent(c.agentSocket, { op: 'del', containerId: env.containerId, ifName: env.ifName }, 1000).catch(() => undefined)
  }
  if (steps.failures.length) throw new CniError(ErrorCode.Internal, `DEL failed in ${steps.failures.length} step(s)`, steps.failures.join('; '))
}
