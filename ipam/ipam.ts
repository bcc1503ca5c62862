// The IPAM operations over a Store: allocate (ADD), release (DEL), verify (CHECK), collect (GC).
// Each holds the store's lock for its whole read-modify-write, like host-local's IPAllocator.
import { CniError, ErrorCode, type CniIpConfig, type CniResult } from '../lib/cni/index.js'
import { pickAddress } from './allocator.js'
import type { IpamConfig } from './config.js'
import { cidrContains, formatIp, parseCidr, parseIp, sameIp, type Ip } from '../lib/ip/index.js'
import { allocatableCount, isReservedAddress, rangeFamily, rangeFor, rangeSetToString, type RangeSet } from './range.js'
import type { Allocation, Store } from './store.js'

export interface Owner {
  containerId: string
  ifName: string
}

/** host-local's GetByID: "<id>\r\n<ifname>", or a pre-0.7 file holding the ID alone (any ifname). */
export const ownedBy = (a: Allocation, o: Owner): boolean =>
  a.containerId === o.containerId && (a.ifName === o.ifName || a.ifName === '')

function withLock<T>(store: Store, fn: () => T): T {
  store.lock()
  try {
    return fn()
  } finally {
    store.unlock()
  }
}

const setName = (set: RangeSet, idx: number) => `range set ${idx} (${rangeSetToString(set)})`

function ipConfig(set: RangeSet, ip: Ip): CniIpConfig {
  const r = rangeFor(set, ip) ?? set.find((x) => cidrContains(x.subnet, ip))!
  return { address: `${formatIp(ip)}/${r.subnet.prefix}`, gateway: formatIp({ family: ip.family, value: r.gateway }) }
}

/** The address for one range set: the one this owner holds already, the requested one, or the next free one. */
function allocateFromSet(store: Store, all: Allocation[], set: RangeSet, idx: number, owner: Owner, requested?: Ip): { ip: Ip; fresh: boolean } {
  const family = rangeFamily(set)
  const held = all.map((a) => ({ a, ip: parseIp(a.ip) })).filter((x): x is { a: Allocation; ip: Ip } => x.ip?.family === family)
  // A repeated ADD for the same container and interface returns what it got the first time.
  const mine = held.find((x) => ownedBy(x.a, owner) && set.some((r) => cidrContains(r.subnet, x.ip)))
  if (mine) {
    if (requested && !sameIp(requested, mine.ip)) {
      throw new CniError(ErrorCode.InvalidConfig, `requested IP ${formatIp(requested)} conflicts with ${mine.a.ip}`, `${owner.containerId}/${owner.ifName} already holds ${mine.a.ip} in ${setName(set, idx)}`)
    }
    return { ip: mine.ip, fresh: false }
  }
  const rangeId = String(idx)
  const entry = (ip: Ip): Allocation => ({ ip: formatIp(ip), containerId: owner.containerId, ifName: owner.ifName })
  if (requested) {
    const r = rangeFor(set, requested)
    if (!r) throw new CniError(ErrorCode.InvalidConfig, `requested IP ${formatIp(requested)} is outside the range`, `${setName(set, idx)} does not contain it`)
    if (isReservedAddress(r, requested.value)) {
      throw new CniError(ErrorCode.InvalidConfig, `requested IP ${formatIp(requested)} is reserved`, 'the network, gateway and broadcast addresses are never handed out')
    }
    if (!store.reserve(entry(requested), rangeId)) {
      const owner2 = held.find((x) => sameIp(x.ip, requested))?.a
      throw new CniError(ErrorCode.Internal, `requested IP address ${formatIp(requested)} is not available in ${setName(set, idx)}`, owner2 ? `held by container ${owner2.containerId} ${owner2.ifName}` : undefined)
    }
    return { ip: requested, fresh: true }
  }
  const used = new Set(held.map((x) => x.ip.value))
  const last = parseIp(store.lastReserved(rangeId) ?? '')
  for (;;) {
    const pick = pickAddress(set, used, last?.family === family ? last.value : null)
    if (!pick) {
      // host-local answers exhaustion with a plain error, which skel turns into 999; we keep its code
      // so runtimes behave the same with either plugin (11 would promise that a retry can succeed).
      throw new CniError(ErrorCode.Internal, `no IP addresses available in ${setName(set, idx)}`, `all ${set.reduce((n, r) => n + allocatableCount(r), 0n)} allocatable addresses are in use; release some (DEL, GC) or widen the range`)
    }
    const ip = { family, value: pick.value }
    if (store.reserve(entry(ip), rangeId)) return { ip, fresh: true }
    used.add(pick.value) // taken behind our back (a writer that ignores the lock): try the next one
  }
}

/** ADD: one address from each range set, all or nothing. */
export function allocate(store: Store, cfg: IpamConfig, owner: Owner): CniIpConfig[] {
  return withLock(store, () => {
    const all = store.list()
    const pending = [...cfg.requested]
    const fresh: string[] = []
    try {
      const ips = cfg.ranges.map((set, idx) => {
        // A requested address belongs to the range set whose subnet holds it (host-local: RangeSet.Contains).
        const at = pending.findIndex((ip) => set.some((r) => cidrContains(r.subnet, ip)))
        const requested = at >= 0 ? pending.splice(at, 1)[0] : undefined
        const got = allocateFromSet(store, all, set, idx, owner, requested)
        if (got.fresh) fresh.push(formatIp(got.ip))
        return ipConfig(set, got.ip)
      })
      if (pending.length > 0) {
        throw new CniError(ErrorCode.InvalidConfig, 'failed to allocate all requested IPs', `${pending.map(formatIp).join(', ')}: in no configured range set`)
      }
      return ips
    } catch (err) {
      // A failed ADD leaves nothing behind: release what this call reserved, never what it found.
      for (const ip of fresh) store.release(ip)
      throw err
    }
  })
}

/** DEL: releases every address of the owner; none is fine (SPEC "DEL" must be idempotent). */
export function releaseOwner(store: Store, owner: Owner): string[] {
  return withLock(store, () => {
    const mine = store.list().filter((a) => ownedBy(a, owner))
    for (const a of mine) store.release(a.ip)
    return mine.map((a) => a.ip)
  })
}

/** CHECK: the owner holds an address in every range set, and every prevResult address of ours is its. */
export function verifyOwner(store: Store, cfg: IpamConfig, owner: Owner, prev?: CniResult): void {
  const all = withLock(store, () => store.list())
  const mine = all.filter((a) => ownedBy(a, owner)).map((a) => parseIp(a.ip)).filter((ip): ip is Ip => ip !== null)
  cfg.ranges.forEach((set, idx) => {
    if (!mine.some((ip) => set.some((r) => cidrContains(r.subnet, ip)))) {
      throw new CniError(ErrorCode.Internal, `no address allocated to container ${owner.containerId} ${owner.ifName}`, `nothing in ${setName(set, idx)}`)
    }
  })
  for (const c of prev?.ips ?? []) {
    const ip = parseCidr(c.address)?.ip
    if (!ip || !cfg.ranges.some((set) => set.some((r) => cidrContains(r.subnet, ip)))) continue
    if (!mine.some((m) => sameIp(m, ip))) {
      const holder = all.find((a) => a.ip === formatIp(ip))
      throw new CniError(ErrorCode.Internal, `prevResult address ${c.address} is not allocated to container ${owner.containerId} ${owner.ifName}`, holder ? `held by ${holder.containerId} ${holder.ifName}` : 'not allocated at all')
    }
  }
}

/** GC: releases every allocation not in cni.dev/valid-attachments (SPEC "GC"). */
export interface GcClock {
  nowMs: number
  /** Allocations younger than this are kept whatever the list says. */
  minAgeMs: number
}

/**
 * SPEC "GC": releases what `valid` does not name, except allocations younger than `minAgeMs`. An
 * ADD holds its address (IPAM runs first) before its caller can list the attachment as valid, so
 * a GC racing it would otherwise free an address that is being handed out; a real leak is only
 * collected one GC later.
 */
export function collectGarbage(store: Store, valid: { containerID: string; ifname: string }[], clock: GcClock = { nowMs: 0, minAgeMs: 0 }): string[] {
  return withLock(store, () => {
    const young = (ip: string) => (store.reservedAtMs(ip) ?? -Infinity) > clock.nowMs - clock.minAgeMs
    const stale = store
      .list()
      .filter((a) => !valid.some((v) => ownedBy(a, { containerId: v.containerID, ifName: v.ifname })))
      .filter((a) => !young(a.ip))
    for (const a of stale) store.release(a.ip)
    return stale.map((a) => a.ip)
  })
}
