// The rtnetlink socket and its errors. lib/net is the only module that imports `netlink`.
import { createRtNetlink, type RtNetlinkSocket } from 'netlink'

export type Rtnl = RtNetlinkSocket

/** Opens a route netlink socket bound to the CALLING THREAD's current network namespace. */
export function openRtnl(): Rtnl {
  return createRtNetlink()
}

export function closeRtnl(nl: Rtnl): void {
  nl.socket.close()
}

/** The errno name of a netlink rejection ("EEXIST", "ENODEV", ...), if `err` is one. */
export function errnoOf(err: unknown): string | undefined {
  // The netlink package throws Error(`Request rejected: ${code}`) (netlink.js checkError).
  const m = /Request rejected: (\w+)/.exec(err instanceof Error ? err.message : '')
  return m?.[1] ?? (err as NodeJS.ErrnoException | undefined)?.code
}

export const isErrno = (err: unknown, ...names: string[]): boolean => names.includes(errnoOf(err) ?? '')

// include/uapi/linux/netlink.h
export const NLM_F = { REPLACE: 0x100, EXCL: 0x200, CREATE: 0x400, APPEND: 0x800 } as const
export const AF_INET = 2
export const AF_BRIDGE = 7
export const AF_INET6 = 10
