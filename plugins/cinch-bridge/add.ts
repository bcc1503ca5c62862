// ADD (SPEC "ADD"; reference plugins/main/bridge cmdAdd): IPAM, bridge, veth with its peer created
// in the pod's netns, addresses and routes, bridge port, gateway, masquerade, attachment record,
// agent. Every per-pod change pushes an undo step; a failed ADD unwinds them (bridge.go `success`).
//
// Speed: the IPAM plugin is a process of its own (tens of ms of runtime start). Its result is only
// needed for addressing, so it is started first and runs while this process loads netlink and
// builds the bridge and veth; masquerade (an `nft` process) likewise runs beside the pod's
// addressing. Whatever is still in flight is settled before a rollback runs.
import { closeSync } from 'node:fs'
import { CniError, ErrorCode, delegateAdd, delegateDel, type CniResult, type VerbContext } from '../../lib/cni/index.js'
import type { Rtnl } from '../../lib/net/index.js'
import { runNft } from '../../lib/nft/index.js'
import { planAddressing } from './addressing.js'
import { askAgent } from './agent.js'
import type { AddRequest } from '../../lib/state/protocol.js'
import { hostVethName, parseConfig, requestedMac } from './config.js'
import { attachmentKey, masqAddRuleset, masqDelRuleset, masqEntries } from './masq.js'
import { removeAttachmentSync, writeAttachmentSync } from '../../lib/state/attachments.js'

type Undo = { what: string; run: () => unknown }

export async function add(ctx: VerbContext): Promise<CniResult> {
  const { env, log } = ctx
  const c = parseConfig(ctx.conf)
  if (!env.netns) throw new CniError(ErrorCode.InvalidEnvironment, 'CNI_NETNS is required for ADD')
  const rawConf = JSON.parse(ctx.stdin.toString('utf8'))
  const undo: Undo[] = []
  const closers: (() => void)[] = []
  const inFlight: Promise<unknown>[] = []
  let ok = false
  try {
    const ipamType = c.ipam?.type
    let ipamPending: Promise<CniResult> = Promise.resolve({ cniVersion: c.cniVersion, ips: [], routes: [] })
    if (ipamType) {
      ipamPending = delegateAdd(ipamType, rawConf, env)
      inFlight.push(ipamPending)
      // DEL of IPAM is idempotent (SPEC), so this undo is right even when the ADD itself failed.
      undo.push({ what: 'release IPAM', run: () => delegateDel(ipamType, rawConf, env) })
    }
    const { closeRtnl, createVeth, deleteLinkByName, ensureBridge, getLinkByName, isErrno, macBytes, macString, openNetns, openRtnl, parseCidrBytes, withNetnsFd } =
      await import('../../lib/net/index.js')
    const { attachToBridge, configurePod, enableForwarding, ensureGatewayAddress } = await import('./links.js')

    let fd: number
    try {
      fd = openNetns(env.netns)
    } catch (err) {
      throw new Error(`open netns ${env.netns}`, { cause: err })
    }
    closers.push(() => closeSync(fd))
    const hnl = openRtnl()
    closers.push(() => closeRtnl(hnl))
    const pnl: Rtnl = withNetnsFd(fd, openRtnl)
    closers.push(() => closeRtnl(pnl))

    const bridge = await ensureBridge(hnl, { name: c.bridge, mtu: c.mtu, promisc: c.promiscMode })
    const hostName = hostVethName(env.containerId, env.ifName)
    const mac = requestedMac(c, env)
    let veth
    try {
      veth = await createVeth(hnl, { name: hostName, mtu: c.mtu, peer: { name: env.ifName, netnsFd: fd, mtu: c.mtu, mac: mac ? macBytes(mac) : undefined } })
    } catch (err) {
      if (isErrno((err as Error).cause, 'EEXIST')) {
        throw new Error(`veth ${hostName} or ${env.ifName} in ${env.netns} already exists (ADD twice without DEL?)`, { cause: err })
      }
      throw err
    }
    undo.push({ what: `delete veth ${hostName}`, run: () => deleteLinkByName(hnl, hostName) })
    await attachToBridge(hnl, veth, bridge, c.hairpinMode)

    const ipam = await ipamPending
    if (ipamType && !ipam.ips?.length) throw new Error(`IPAM plugin ${ipamType} returned no IP address`)
    const plan = planAddressing(ipam, { isGateway: c.isGateway, isDefaultGateway: c.isDefaultGateway, containerIfIndex: 2 })
    const cidrs = plan.ips.map((ip) => ip.address)
    let masqPending: Promise<void> | undefined
    if (c.ipMasq && cidrs.length) {
      const entries = masqEntries(cidrs, attachmentKey(c.name, env.containerId, env.ifName))
      masqPending = runNft(masqAddRuleset(entries))
      inFlight.push(masqPending)
      // Deleting is add-then-delete in one transaction: right whether or not the add landed.
      undo.push({ what: 'remove masquerade', run: () => runNft(masqDelRuleset(entries)) })
    }

    const podLink = await configurePod({ nl: pnl, fd, ifName: env.ifName }, plan.ips, plan.routes)
    for (const gw of plan.bridgeAddrs) await ensureGatewayAddress(hnl, bridge, gw, c.forceAddress)
    if (c.isGateway) enableForwarding(new Set(plan.ips.map((ip) => parseCidrBytes(ip.address).family)))
    await masqPending

    // The bridge's MAC follows its ports until set: read it after the port is attached.
    const brNow = (await getLinkByName(hnl, c.bridge)) ?? bridge
    const result: CniResult = {
      cniVersion: c.cniVersion,
      interfaces: [
        { name: c.bridge, mac: brNow.mac ? macString(brNow.mac) : undefined },
        { name: hostName, mac: veth.mac ? macString(veth.mac) : undefined },
        { name: env.ifName, mac: podLink.mac ? macString(podLink.mac) : undefined, sandbox: env.netns },
      ],
      ips: plan.ips,
      routes: plan.routes,
      ...(ipam.dns && Object.keys(ipam.dns).length ? { dns: ipam.dns } : {}),
    }

    writeAttachmentSync(c.stateDir, {
      containerId: env.containerId, ifName: env.ifName, netns: env.netns,
      podNamespace: env.args.K8S_POD_NAMESPACE ?? '', podName: env.args.K8S_POD_NAME ?? '',
      ips: cidrs, hostVeth: hostName, bridge: c.bridge, network: c.name, createdAt: new Date().toISOString(),
    })
    undo.push({ what: 'remove attachment record', run: () => removeAttachmentSync(c.stateDir, env) })

    // policyTimeoutMs 0: do not wait for policy (the agent finds the record on its own).
    if (c.policyTimeoutMs > 0) await notifyAgent(c.agentSocket, c.policyTimeoutMs, c.policyRequired, {
      op: 'add', containerId: env.containerId, ifName: env.ifName,
      podNamespace: env.args.K8S_POD_NAMESPACE ?? '', podName: env.args.K8S_POD_NAME ?? '', ips: cidrs,
    })
    ok = true
    return result
  } finally {
    if (!ok) {
      await Promise.allSettled(inFlight)
      for (const u of undo.reverse()) {
        try {
          await u.run()
          log.info({ step: u.what }, 'rolled back')
        } catch (err) {
          log.warn({ step: u.what, err: String(err) }, 'rollback step failed')
        }
      }
    }
    for (const close of closers.reverse()) close()
  }
}

/**
 * The agent must confirm the pod's rules are in (lib/state/README.md). No agent listening is fine
 * unless `required`: the conflist the agent writes says so, because on a node whose agent is not
 * up yet (a reboot, a rolling update) the pod would otherwise run before any rule exists. Code 11
 * makes the runtime retry the sandbox until the agent answers.
 */
async function notifyAgent(socket: string, timeoutMs: number, required: boolean, msg: AddRequest): Promise<void> {
  let reply
  try {
    reply = await askAgent(socket, msg, timeoutMs)
  } catch (err) {
    throw new CniError(ErrorCode.TryAgainLater, 'network policy agent did not confirm the pod', String((err as Error).message))
  }
  if (reply.ok === false) throw new CniError(ErrorCode.TryAgainLater, 'network policy agent refused the pod', reply.error)
  if (reply.ok === 'absent' && required) {
    throw new CniError(ErrorCode.TryAgainLater, 'no network policy agent is listening', `${socket}: policyRequired is set, so the pod is not started without its NetworkPolicy; is the cinch agent running on this node?`)
  }
}
