// ADD (SPEC "ADD"; reference plugins/main/bridge cmdAdd): IPAM, bridge, veth with its peer created
// in the pod's netns, addresses and routes, bridge port, gateway, masquerade, attachment record,
// agent. Each step is a function below; each change registers its undo with the Transaction
// (steps.ts), and a failed ADD undoes exactly what this ADD made (bridge.go's `success` flag).
//
// Speed (issue 13, README "Speed"): cinch-ipam runs in this process (ipam.ts); any other IPAM type
// is a process of its own (tens of ms of runtime start). Either way its result is only needed for
// addressing, so it is started first and runs while this process loads netlink and builds the
// bridge and veth; masquerade (an `nft` process) likewise runs beside the pod's addressing. Both go
// through `tx.early`, so a failure of either is an error object and a rollback, never an unhandled
// rejection.
import { closeSync } from 'node:fs'
import { CniError, ErrorCode, type CniInterface, type CniResult, type VerbContext } from '../../lib/cni/index.js'
import type { Link, Rtnl } from '../../lib/net/index.js'
import { writeAttachmentSync, removeAttachmentSync } from '../../lib/state/attachments.js'
import { familiesOf, planAddressing, podIpText, readAddressing, resultIps, resultRoutes, type Addressing } from './addressing.js'
import { askAgent } from './agent.js'
import { ipamAdd, ipamDel } from './ipam.js'
import type { AddRequest } from '../../lib/state/protocol.js'
import { hostVethName, type BridgeConf } from './config.js'
import { masqAddTx, masqDelTx, masqEntries, masqKey, runMasq } from './masq.js'
import { openPodNetns, checkRecordName, podIdentity, requestedMac, type PodIdentity } from './pod-env.js'
import { Transaction } from './steps.js'

type Ctx = VerbContext<BridgeConf>
type Net = typeof import('../../lib/net/index.js')

/** The namespaces this ADD works in, open for its whole run. */
interface Sides {
  net: Net
  /** The pod's netns, open (and checked: pod-env.ts). */
  fd: number
  /** Netlink in the host's and in the pod's netns. */
  hnl: Rtnl
  pnl: Rtnl
}

export async function add(ctx: Ctx): Promise<CniResult> {
  const { env, config: c } = ctx
  // Everything the runtime passed is checked before anything changes (all code 4).
  const pod = podIdentity(env.args)
  const mac = requestedMac(c, env)
  checkRecordName(c.stateDir, env)
  const hostName = hostVethName(env.containerId, env.ifName)

  return new Transaction(ctx.log).run(async (tx) => {
    const fd = openPodNetns(env.netns)
    tx.onExit(() => closeSync(fd))
    const ipam = tx.early(startIpam(ctx))
    // DEL of IPAM is idempotent (SPEC), so this is right even when IPAM ADD itself fails.
    const lease = c.ipam?.type ? tx.onFailure('release IPAM', () => ipamDel(c.ipam!.type!, ctx)) : undefined
    const sides = await openSides(tx, fd)
    const bridge = await sides.net.ensureBridge(sides.hnl, { name: c.bridge, mtu: c.mtu, promisc: c.promiscMode })
    const veth = await createPodVeth(ctx, tx, sides, { hostName, mac, keepLease: () => lease?.cancel() })
    await attachVeth(sides, veth, bridge, c.hairpinMode)

    const plan = planAddressing(readAddressing(await ipam), { isGateway: c.isGateway, isDefaultGateway: c.isDefaultGateway })
    const masq = c.ipMasq ? tx.early(startMasquerade(ctx, tx, plan)) : undefined
    const podLink = await configurePodSide(sides, env.ifName, plan)
    await configureGateway(sides, bridge, plan, c)
    await masq

    const result = await assemble(ctx, sides, { hostName, veth, podLink, plan, dns: (await ipam).dns })
    // The record first: the agent reads it when asked (lib/state/README.md).
    recordAttachment(ctx, tx, pod, hostName, plan)
    if (c.policyTimeoutMs > 0) await confirmPolicy(ctx, pod, plan)
    return result
  })
}

/** IPAM ADD, started first (see the top). */
async function startIpam(ctx: Ctx): Promise<CniResult> {
  const type = ctx.config.ipam?.type
  if (!type) return { cniVersion: ctx.config.cniVersion, ips: [], routes: [] }
  const result = await ipamAdd(type, ctx)
  if (!result.ips?.length) throw new Error(`IPAM plugin ${type} returned no IP address`)
  return result
}

async function openSides(tx: Transaction, fd: number): Promise<Sides> {
  const net = await import('../../lib/net/index.js')
  const hnl = net.openRtnl()
  tx.onExit(() => net.closeRtnl(hnl))
  const pnl = net.withNetnsFd(fd, net.openRtnl)
  tx.onExit(() => net.closeRtnl(pnl))
  return { net, fd, hnl, pnl }
}

/**
 * The veth pair, its pod end created directly in the pod's netns. EEXIST with our host end present
 * means the container already has this interface on this network (a repeated ADD, or two at once).
 * IPAM answered this ADD with that live attachment's lease (same container and interface: SPEC,
 * host-local), so neither the veth nor the lease is this ADD's to remove: `keepLease`. (An IPAM
 * plugin that handed out a second address instead cannot be told to release only that one: IPAM DEL
 * releases by owner. Keeping both until the runtime's DEL of the container beats freeing a running
 * pod's address.)
 */
async function createPodVeth(ctx: Ctx, tx: Transaction, s: Sides, o: { hostName: string; mac?: string; keepLease: () => void }): Promise<Link> {
  const { env, config: c } = ctx
  let veth: Link
  try {
    veth = await s.net.createVeth(s.hnl, {
      name: o.hostName, mtu: c.mtu,
      peer: { name: env.ifName, netnsFd: s.fd, mtu: c.mtu, mac: o.mac ? s.net.macBytes(o.mac) : undefined },
    })
  } catch (err) {
    if (!s.net.isErrno((err as Error).cause, 'EEXIST')) throw err
    if (await s.net.getLinkByName(s.hnl, o.hostName)) {
      o.keepLease()
      throw new CniError(ErrorCode.Internal, `container ${env.containerId} already has interface ${env.ifName} on network ${c.name}`,
        `host veth ${o.hostName} exists (ADD twice without DEL?); the live attachment and its addresses are left as they are`, { cause: err })
    }
    throw new Error(`interface ${env.ifName} already exists in netns ${env.netns}`, { cause: err })
  }
  tx.onFailure(`delete veth ${o.hostName}`, () => s.net.deleteLinkByName(s.hnl, o.hostName))
  return veth
}

async function attachVeth(s: Sides, veth: Link, bridge: Link, hairpin: boolean): Promise<void> {
  const { attachToBridge } = await import('./links.js')
  await attachToBridge(s.hnl, veth, bridge, hairpin)
}

async function startMasquerade(ctx: Ctx, tx: Transaction, plan: Addressing): Promise<void> {
  const entries = masqEntries(plan.ips, masqKey(ctx.config.name, ctx.env.containerId, ctx.env.ifName))
  // runMasq loads lib/nft's runner only with ipMasq: the deployed conflist has it off (the agent masquerades).
  // Deleting is add-then-delete in one transaction: right whether or not the add landed.
  tx.onFailure('remove masquerade', () => runMasq(masqDelTx(entries)))
  await runMasq(masqAddTx(entries))
}

async function configurePodSide(s: Sides, ifName: string, plan: Addressing): Promise<Link> {
  const { configurePod } = await import('./links.js')
  return configurePod({ nl: s.pnl, fd: s.fd, ifName }, plan)
}

async function configureGateway(s: Sides, bridge: Link, plan: Addressing, c: BridgeConf): Promise<void> {
  const { enableForwarding, ensureGatewayAddress } = await import('./links.js')
  for (const gw of plan.bridgeAddrs) await ensureGatewayAddress(s.hnl, bridge, gw, c.forceAddress)
  if (c.isGateway) enableForwarding(familiesOf(plan.ips))
}

/** The result: bridge, host veth, pod interface; the addresses point at the pod interface's entry. */
async function assemble(ctx: Ctx, s: Sides, o: { hostName: string; veth: Link; podLink: Link; plan: Addressing; dns: CniResult['dns'] }): Promise<CniResult> {
  const { config: c, env } = ctx
  const mac = (l: Link | undefined) => (l?.mac ? s.net.macString(l.mac) : undefined)
  // The bridge's MAC follows its ports until set: read it after the port is attached.
  const bridgeNow = await s.net.getLinkByName(s.hnl, c.bridge)
  const interfaces: CniInterface[] = [
    { name: c.bridge, mac: mac(bridgeNow) },
    { name: o.hostName, mac: mac(o.veth) },
  ]
  const podIfIndex = interfaces.push({ name: env.ifName, mac: mac(o.podLink), sandbox: env.netns }) - 1
  return {
    cniVersion: c.cniVersion,
    interfaces,
    ips: resultIps(o.plan.ips, podIfIndex),
    routes: resultRoutes(o.plan.routes),
    ...(o.dns && Object.keys(o.dns).length ? { dns: o.dns } : {}),
  }
}

function recordAttachment(ctx: Ctx, tx: Transaction, pod: PodIdentity, hostName: string, plan: Addressing): void {
  const { config: c, env } = ctx
  writeAttachmentSync(c.stateDir, {
    containerId: env.containerId, ifName: env.ifName, netns: env.netns, ...pod,
    ips: plan.ips.map(podIpText), hostVeth: hostName, bridge: c.bridge, network: c.name, createdAt: new Date().toISOString(),
  })
  tx.onFailure('remove attachment record', () => removeAttachmentSync(c.stateDir, env))
}

/**
 * The agent must confirm the pod's rules are in (lib/state/README.md). No agent listening is fine
 * unless policyRequired: the conflist the agent writes says so, because on a node whose agent is not
 * up yet (a reboot, a rolling update) the pod would otherwise run before any rule exists. Code 11
 * makes the runtime retry the sandbox until the agent answers.
 */
async function confirmPolicy(ctx: Ctx, pod: PodIdentity, plan: Addressing): Promise<void> {
  const { config: c, env } = ctx
  const msg: AddRequest = { op: 'add', containerId: env.containerId, ifName: env.ifName, ...pod, ips: plan.ips.map(podIpText) }
  let reply
  try {
    reply = await askAgent(c.agentSocket, msg, c.policyTimeoutMs)
  } catch (err) {
    throw new CniError(ErrorCode.TryAgainLater, 'network policy agent did not confirm the pod', String((err as Error).message))
  }
  if (reply.ok === false) throw new CniError(ErrorCode.TryAgainLater, 'network policy agent refused the pod', reply.error)
  if (reply.ok === 'absent' && c.policyRequired) {
    throw new CniError(ErrorCode.TryAgainLater, 'no network policy agent is listening', `${c.agentSocket}: policyRequired is set, so the pod is not started without its NetworkPolicy; is the cinch agent running on this node?`)
  }
}
