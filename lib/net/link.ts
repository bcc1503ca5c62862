// Links: bridge, veth (peer created directly in the pod's namespace), vxlan; master, up, MTU,
// MAC, promisc, hairpin; lookup (vxlan parameters read back too) and delete. Kind-specific attributes come from tlv.ts.
import { rt } from 'netlink'
import { AF_BRIDGE, NLM_F, isErrno, type Rtnl } from './rtnl.js'
import { IFLA, attr, bridgeLinkInfo, hairpinProtinfo, ifinfomsg, linkKind, parseAttrs, readStr, str, u32, vethLinkInfo, vxlanLinkInfo, type VethPeer, type VxlanOpts } from './tlv.js'
import { ipString } from './ip.js'

type LinkMessage = rt.LinkMessage

export interface Link {
  index: number
  name: string
  kind?: string
  mac?: Buffer
  mtu?: number
  master?: number
  up: boolean
  promisc: boolean
}

function toLink(m: LinkMessage): Link {
  return {
    index: m.data.index ?? 0,
    name: m.attrs.ifname ?? '',
    kind: linkKind(m.attrs.linkinfo),
    mac: m.attrs.address,
    mtu: m.attrs.mtu,
    master: m.attrs.master,
    up: !!m.data.flags?.up,
    promisc: !!m.data.flags?.promisc,
  }
}

/** The link called `name`, or undefined when there is none. */
export async function getLinkByName(nl: Rtnl, name: string): Promise<Link | undefined> {
  try {
    const [m] = await nl.getLink({}, { ifname: name })
    return m && toLink(m)
  } catch (err) {
    if (isErrno(err, 'ENODEV')) return undefined
    throw new Error(`get link ${name}`, { cause: err })
  }
}

export async function getLinkByIndex(nl: Rtnl, index: number): Promise<Link | undefined> {
  try {
    const [m] = await nl.getLink({ index })
    return m && toLink(m)
  } catch (err) {
    if (isErrno(err, 'ENODEV')) return undefined
    throw new Error(`get link #${index}`, { cause: err })
  }
}

export async function listLinks(nl: Rtnl): Promise<Link[]> {
  return (await nl.getLinks()).map(toLink)
}

/** RTM_NEWLINK with CREATE|EXCL and our own IFLA_LINKINFO; throws the kernel's EEXIST as is. */
async function newLink(nl: Rtnl, name: string, linkinfo: Buffer, extra: Buffer[] = []): Promise<void> {
  const msg = [ifinfomsg(), attr(IFLA.IFNAME, str(name)), ...extra, attr(IFLA.LINKINFO, linkinfo)]
  await nl.request(rt.MessageType.NEWLINK, msg, { flags: NLM_F.CREATE | NLM_F.EXCL })
}

export interface BridgeOpts { name: string; mtu?: number; promisc?: boolean }

/**
 * The bridge `name`, created if absent, up. Two ADDs racing to create it both succeed: EEXIST
 * from the loser means the winner made it (reference bridge plugin ensureBridge).
 */
export async function ensureBridge(nl: Rtnl, o: BridgeOpts): Promise<Link> {
  let br = await getLinkByName(nl, o.name)
  if (!br) {
    try {
      await newLink(nl, o.name, bridgeLinkInfo(), o.mtu ? [attr(IFLA.MTU, u32(o.mtu))] : [])
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw new Error(`create bridge ${o.name}`, { cause: err })
    }
    br = await getLinkByName(nl, o.name)
    if (!br) throw new Error(`bridge ${o.name} vanished right after its creation`)
  }
  if (br.kind !== 'bridge') throw new Error(`${o.name} exists and is a ${br.kind ?? 'non-bridge'} device, not a bridge`)
  if (o.promisc && !br.promisc) await setPromisc(nl, br.index, true)
  if (!br.up) await setUp(nl, br.index)
  return br
}

export interface VethOpts {
  /** Host-side name. */
  name: string
  mtu?: number
  /** The other end; with `netnsFd` the kernel creates it directly in that namespace. */
  peer: VethPeer
}

/** Creates a veth pair; returns the host side. EEXIST (either name) is the kernel's error. */
export async function createVeth(nl: Rtnl, o: VethOpts): Promise<Link> {
  try {
    await newLink(nl, o.name, vethLinkInfo(o.peer), o.mtu ? [attr(IFLA.MTU, u32(o.mtu))] : [])
  } catch (err) {
    throw new Error(`create veth ${o.name} (peer ${o.peer.name})`, { cause: err })
  }
  const link = await getLinkByName(nl, o.name)
  if (!link) throw new Error(`veth ${o.name} vanished right after its creation`)
  return link
}

export interface VxlanLinkOpts extends VxlanOpts { name: string; mtu?: number }

/** Creates a vxlan device (learning off unless asked), down. */
export async function createVxlan(nl: Rtnl, o: VxlanLinkOpts): Promise<Link> {
  try {
    await newLink(nl, o.name, vxlanLinkInfo(o), o.mtu ? [attr(IFLA.MTU, u32(o.mtu))] : [])
  } catch (err) {
    throw new Error(`create vxlan ${o.name} (vni ${o.vni})`, { cause: err })
  }
  const link = await getLinkByName(nl, o.name)
  if (!link) throw new Error(`vxlan ${o.name} vanished right after its creation`)
  return link
}

async function setLink(nl: Rtnl, what: string, data: rt.Link, attrs: Parameters<Rtnl['setLink']>[1] = {}): Promise<void> {
  try {
    await nl.setLink(data, attrs)
  } catch (err) {
    throw new Error(`${what} on link #${data.index}`, { cause: err })
  }
}

export const setUp = (nl: Rtnl, index: number) => setLink(nl, 'set up', { index, change: { up: true }, flags: { up: true } })
export const setDown = (nl: Rtnl, index: number) => setLink(nl, 'set down', { index, change: { up: true }, flags: {} })
export const setMtu = (nl: Rtnl, index: number, mtu: number) => setLink(nl, `set mtu ${mtu}`, { index }, { mtu })
export const setMac = (nl: Rtnl, index: number, mac: Buffer) => setLink(nl, 'set mac', { index }, { address: mac })
export const setMaster = (nl: Rtnl, index: number, master: number) => setLink(nl, `set master #${master}`, { index }, { master })
export const setPromisc = (nl: Rtnl, index: number, on: boolean) =>
  setLink(nl, `set promisc ${on}`, { index, change: { promisc: true }, flags: on ? { promisc: true } : {} })

/** Hairpin (reflective relay) on a bridge port: IFLA_PROTINFO/IFLA_BRPORT_MODE via AF_BRIDGE. */
export async function setHairpin(nl: Rtnl, index: number, on: boolean): Promise<void> {
  try {
    await nl.request(rt.MessageType.SETLINK, [ifinfomsg({ family: AF_BRIDGE, index }), hairpinProtinfo(on)])
  } catch (err) {
    throw new Error(`set hairpin ${on} on link #${index}`, { cause: err })
  }
}

/** Bridge-port attributes of link `index` (undefined if it is no bridge port): hairpin for now. */
export async function getBridgePort(nl: Rtnl, index: number): Promise<{ hairpin: boolean } | undefined> {
  // RTM_GETLINK for AF_BRIDGE is dump-only (rtnl_bridge_getlink); filter the ports ourselves.
  const ports = await nl.getLinks({ family: AF_BRIDGE })
  const port = ports.find((m) => m.data.index === index)
  if (!port) return undefined
  const mode = port.attrs.protinfo?.get(4) // IFLA_BRPORT_MODE
  return { hairpin: !!mode && mode[0] === 1 }
}

/** Deletes link `name`; false when it did not exist (DEL is idempotent). */
export async function deleteLinkByName(nl: Rtnl, name: string): Promise<boolean> {
  try {
    await nl.delLink({}, { ifname: name })
    return true
  } catch (err) {
    if (isErrno(err, 'ENODEV')) return false
    throw new Error(`delete link ${name}`, { cause: err })
  }
}

export async function deleteLink(nl: Rtnl, index: number): Promise<boolean> {
  try {
    await nl.delLink({ index })
    return true
  } catch (err) {
    if (isErrno(err, 'ENODEV')) return false
    throw new Error(`delete link #${index}`, { cause: err })
  }
}

export interface VxlanInfo {
  /** IFLA_INFO_KIND; the other fields are set only for "vxlan". */
  kind?: string
  vni?: number
  port?: number
  local?: string
  learning?: boolean
}

// include/uapi/linux/if_link.h: IFLA_INFO_KIND / IFLA_INFO_DATA, and IFLA_VXLAN_* inside the latter.
const INFO = { KIND: 1, DATA: 2 } as const
const VX = { ID: 1, LOCAL: 4, LEARNING: 7, PORT: 15, LOCAL6: 17 } as const

/** The tunnel parameters in a link's IFLA_LINKINFO, as `ip -d link show` prints them. Pure. */
export function parseVxlanLinkInfo(linkinfo: Buffer | undefined): VxlanInfo {
  if (!linkinfo) return {}
  const top = parseAttrs(linkinfo)
  const rawKind = top.get(INFO.KIND)
  const kind = rawKind ? readStr(rawKind) : undefined
  const data = top.get(INFO.DATA)
  if (kind !== 'vxlan' || !data) return { kind }
  const a = parseAttrs(data)
  const local = a.get(VX.LOCAL) ?? a.get(VX.LOCAL6)
  const learning = a.get(VX.LEARNING)
  return {
    kind,
    vni: a.get(VX.ID)?.readUInt32LE(0),
    port: a.get(VX.PORT)?.readUInt16BE(0), // the one big-endian vxlan attribute
    local: local ? ipString(local) : undefined,
    learning: learning ? learning[0] === 1 : undefined,
  }
}

/** Kind and vxlan parameters of link `name`; undefined when there is no such link. */
export async function getVxlanInfo(nl: Rtnl, name: string): Promise<VxlanInfo | undefined> {
  let msgs
  try {
    msgs = await nl.getLink({}, { ifname: name })
  } catch (err) {
    if (isErrno(err, 'ENODEV')) return undefined
    throw new Error(`get link ${name}`, { cause: err })
  }
  return msgs[0] ? parseVxlanLinkInfo(msgs[0].attrs.linkinfo) : undefined
}
