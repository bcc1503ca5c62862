// Neighbours (ARP/NDP entries) and bridge/vxlan fdb entries, permanent, for the overlay.
import { AF_BRIDGE, AF_INET, AF_INET6, NLM_F, isErrno, type Rtnl } from './rtnl.js'
import { ipBytes, ipString, macBytes, macString } from './ip.js'

export interface NeighSpec { index: number; ip: string; mac: string }

/** Adds or replaces a permanent neighbour entry `ip -> mac` on link `index`. */
export async function ensureNeighbor(nl: Rtnl, n: NeighSpec): Promise<void> {
  const dst = ipBytes(n.ip)
  try {
    await nl.newNeighbor(
      { family: dst.length === 4 ? AF_INET : AF_INET6, ifindex: n.index, state: { permanent: true } },
      { dst, lladdr: macBytes(n.mac) },
      { flags: NLM_F.CREATE | NLM_F.REPLACE },
    )
  } catch (err) {
    throw new Error(`set neighbour ${n.ip} -> ${n.mac} on link #${n.index}`, { cause: err })
  }
}

export async function deleteNeighbor(nl: Rtnl, n: { index: number; ip: string }): Promise<boolean> {
  const dst = ipBytes(n.ip)
  try {
    await nl.delNeighbor({ family: dst.length === 4 ? AF_INET : AF_INET6, ifindex: n.index }, { dst })
    return true
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENODEV')) return false
    throw new Error(`delete neighbour ${n.ip} on link #${n.index}`, { cause: err })
  }
}

export interface FdbSpec {
  /** The vxlan (or bridge port) device. */
  index: number
  mac: string
  /** Remote VTEP address, for vxlan. */
  dst?: string
}

/** Adds or replaces a permanent fdb entry on the device itself (NTF_SELF), as `bridge fdb replace ... self`. */
export async function ensureFdb(nl: Rtnl, f: FdbSpec): Promise<void> {
  try {
    await nl.newNeighbor(
      { family: AF_BRIDGE, ifindex: f.index, state: { permanent: true }, flags: { self: true } },
      { lladdr: macBytes(f.mac), ...(f.dst ? { dst: ipBytes(f.dst) } : {}) },
      { flags: NLM_F.CREATE | NLM_F.REPLACE },
    )
  } catch (err) {
    throw new Error(`set fdb ${f.mac}${f.dst ? ` dst ${f.dst}` : ''} on link #${f.index}`, { cause: err })
  }
}

export async function deleteFdb(nl: Rtnl, f: FdbSpec): Promise<boolean> {
  try {
    await nl.delNeighbor({ family: AF_BRIDGE, ifindex: f.index, flags: { self: true } }, { lladdr: macBytes(f.mac), ...(f.dst ? { dst: ipBytes(f.dst) } : {}) })
    return true
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENODEV')) return false
    throw new Error(`delete fdb ${f.mac} on link #${f.index}`, { cause: err })
  }
}

/** fdb entries of device `index`: MAC and remote VTEP. */
export async function listFdb(nl: Rtnl, index: number): Promise<{ mac: string; dst?: string }[]> {
  const msgs = await nl.getNeighbors({ family: AF_BRIDGE })
  return msgs
    .filter((m) => m.data.ifindex === index && m.attrs.lladdr)
    .map((m) => ({
      mac: macString(m.attrs.lladdr!),
      dst: m.attrs.dst ? ipString(m.attrs.dst) : undefined,
    }))
}

/** Neighbour entries (ARP and NDP, any state) of link `index`. */
export async function listNeighbors(nl: Rtnl, index: number): Promise<{ ip: string; mac: string }[]> {
  const out: { ip: string; mac: string }[] = []
  for (const family of [AF_INET, AF_INET6]) {
    for (const m of await nl.getNeighbors({ family })) {
      if (m.data.ifindex !== index || !m.attrs.dst || !m.attrs.lladdr) continue
      out.push({ ip: ipString(m.attrs.dst), mac: macString(m.attrs.lladdr) })
    }
  }
  return out
}
