// Addresses: add (IPv6 without DAD where asked), list, delete.
import { AF_INET, AF_INET6, NLM_F, isErrno, type Rtnl } from './rtnl.js'
import { formatCidrBytes, ipString, parseCidrBytes, type CidrBytes } from './ip.js'

export interface Addr {
  index: number
  cidr: CidrBytes
  /** "10.244.1.5/24" */
  text: string
  tentative: boolean
  dadFailed: boolean
}

export interface AddAddrOpts {
  index: number
  /** "10.244.1.5/24" or "fd00::5/64". */
  cidr: string
  /**
   * IFA_F_NODAD: the IPv6 address is usable at once instead of tentative for ~1-2 s of duplicate
   * address detection (the reference plugins disable DAD on veths for the same reason).
   */
  noDad?: boolean
}

/** Adds an address; throws EEXIST (as "Request rejected: EEXIST") when it is already there. */
export async function addAddress(nl: Rtnl, o: AddAddrOpts): Promise<void> {
  const c = parseCidrBytes(o.cidr)
  const attrs: Parameters<Rtnl['newAddress']>[1] = { local: c.addr, address: c.addr }
  if (c.family === 6) delete attrs.local
  if (c.family === 4 && c.prefix < 31) {
    // Like iproute2's "brd +": the all-ones host part.
    const mask = c.prefix === 0 ? 0 : (0xffffffff << (32 - c.prefix)) >>> 0
    const brd = Buffer.alloc(4)
    brd.writeUInt32BE(((c.addr.readUInt32BE(0) & mask) | ~mask) >>> 0)
    attrs.broadcast = brd
  }
  const flags = o.noDad && c.family === 6 ? { nodad: true as const } : undefined
  await nl.newAddress(
    { family: c.family === 4 ? AF_INET : AF_INET6, prefixlen: c.prefix, index: o.index, flags },
    attrs,
    { flags: NLM_F.CREATE | NLM_F.EXCL },
  )
}

/** Adds an address unless exactly that address is already on the link. */
export async function ensureAddress(nl: Rtnl, o: AddAddrOpts): Promise<void> {
  try {
    await addAddress(nl, o)
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return
    throw new Error(`add address ${o.cidr} to link #${o.index}`, { cause: err })
  }
}

/** Addresses of link `index` (all links when omitted), optionally of one family (4 or 6). */
export async function listAddresses(nl: Rtnl, o: { index?: number; family?: 4 | 6 } = {}): Promise<Addr[]> {
  const msgs = await nl.getAddresses(o.family ? { family: o.family === 4 ? AF_INET : AF_INET6 } : {})
  const out: Addr[] = []
  for (const m of msgs) {
    if (o.index !== undefined && m.data.index !== o.index) continue
    const bytes = m.attrs.local ?? m.attrs.address
    if (!bytes) continue
    const cidr: CidrBytes = { family: bytes.length === 4 ? 4 : 6, addr: bytes, prefix: m.data.prefixlen ?? 0 }
    // IFA_FLAGS (u32) supersedes the u8 ifa_flags when present.
    const flags = m.attrs.flags ?? m.data.flags ?? {}
    out.push({ index: m.data.index ?? 0, cidr, text: formatCidrBytes(cidr), tentative: !!flags.tentative, dadFailed: !!flags.dadfailed })
  }
  return out
}

/** Deletes an address; false when it was not there. */
export async function deleteAddress(nl: Rtnl, o: { index: number; cidr: string }): Promise<boolean> {
  const c = parseCidrBytes(o.cidr)
  try {
    await nl.delAddress({ family: c.family === 4 ? AF_INET : AF_INET6, prefixlen: c.prefix, index: o.index }, c.family === 4 ? { local: c.addr } : { address: c.addr })
    return true
  } catch (err) {
    if (isErrno(err, 'EADDRNOTAVAIL', 'ENODEV')) return false
    throw new Error(`delete address ${o.cidr} from link #${o.index}`, { cause: err })
  }
}

export const addrIp = (a: Addr): string => ipString(a.cidr.addr)
