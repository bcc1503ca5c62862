// DEL (SPEC "DEL"): idempotent. A missing netns, link, allocation or record is success; every step
// is attempted and the failures are joined. IPAM is released first, even when the netns is gone,
// so that an address never leaks behind a half-deleted pod.
import { CniError, ErrorCode, delegateDel, describeError, type VerbContext } from '../../lib/cni/index.js'
import { listTableJson, runNft } from '../../lib/nft/index.js'
import { askAgent } from './agent.js'
import { hostVethName, parseConfig } from './config.js'
import { TABLE, attachmentKey, masqDelRuleset, masqEntries, parseMasqTable, type MasqEntry } from './masq.js'
import { readAttachmentSync, removeAttachmentSync } from '../../lib/state/attachments.js'

export async function del(ctx: VerbContext): Promise<void> {
  const { env } = ctx
  const c = parseConfig(ctx.conf)
  const failures: string[] = []
  const step = async (what: string, fn: () => unknown) => {
    try {
      await fn()
    } catch (err) {
      failures.push(`${what}: ${describeError(err)}`)
    }
  }

  // The IPAM release starts first and depends on nothing below; its process start (tens of ms)
  // overlaps the link and masquerade steps instead of preceding them.
  const ipamType = c.ipam?.type
  const ipamReleased = ipamType
    ? step('release IPAM', () => delegateDel(ipamType, JSON.parse(ctx.stdin.toString('utf8')), env))
    : Promise.resolve()
  const { closeRtnl, deleteLinkByName, openRtnl, withNetns } = await import('../../lib/net/index.js')

  // The addresses to stop masquerading: the record's, else prevResult's (runtimes pass it on DEL).
  let ips: string[] = []
  await step('read attachment record', () => {
    ips = readAttachmentSync(c.stateDir, env)?.ips ?? ctx.conf.prevResult?.ips?.map((ip) => ip.address) ?? []
  })

  const hostName = hostVethName(env.containerId, env.ifName)
  await step(`delete veth ${hostName}`, async () => {
    const nl = openRtnl()
    try {
      if (await deleteLinkByName(nl, hostName)) return
    } finally {
      closeRtnl(nl)
    }
    // No host side: if the pod side survives (renamed host side?), remove it there.
    if (!env.netns) return
    let pnl
    try {
      pnl = withNetns(env.netns, openRtnl)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return // SPEC: the netns may be gone
      throw err
    }
    try {
      await deleteLinkByName(pnl, env.ifName)
    } finally {
      closeRtnl(pnl)
    }
  })

  if (c.ipMasq) {
    const key = attachmentKey(c.name, env.containerId, env.ifName)
    await step('remove masquerade', async () => {
      let entries: MasqEntry[] = masqEntries(ips, key)
      // An ADD killed before it wrote its record, with no prevResult to tell: the elements' comments
      // still name the attachment, so look them up rather than leak them.
      if (entries.length === 0) entries = parseMasqTable(await listTableJson('inet', TABLE)).filter((e) => e.key === key)
      await runNft(masqDelRuleset(entries))
    })
  }
  await step('remove attachment record', () => removeAttachmentSync(c.stateDir, env))
  await ipamReleased
  if (c.policyTimeoutMs > 0) {
    // lib/state/README.md: wait at most 1 s for any reply; errors ignored.
    await askAgent(c.agentSocket, { op: 'del', containerId: env.containerId, ifName: env.ifName }, 1000).catch(() => undefined)
  }
  if (failures.length) throw new CniError(ErrorCode.Internal, `DEL failed in ${failures.length} step(s)`, failures.join('; '))
}
