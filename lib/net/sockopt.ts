// Socket options the `netlink` package does not set, on a NETLINK_NETFILTER socket of ours.
// The package does not hand out its descriptor, so the socket is found among the process's
// descriptors by what identifies it: an AF_NETLINK socket of protocol NETLINK_NETFILTER bound to
// `port`. Two such sockets in two namespaces can share a port; both are ours then, and none of
// these options harms either. Each call walks /proc/self/fd once, whatever it sets.
//   SO_SNDBUFFORCE (forceSendBuffer), as nft does for a batch larger than its socket's send buffer
//     (nftables src/mnl.c mnl_set_sndbuffer): SO_SNDBUF is capped at net.core.wmem_max (212,992
//     bytes on a default kernel), SO_SNDBUFFORCE is not (it needs CAP_NET_ADMIN, which a process
//     writing nftables has).
//   NETLINK_NO_ENOBUFS and NETLINK_CAP_ACK (setNetlinkFlags), which every NfnlSocket sets, so that
//     a full receive buffer drops messages rather than abort the process, and fills less often.
import { readdirSync } from 'node:fs'
import { libcLib } from '../ffi/koffi.js'

const SOL_SOCKET = 1
const SO_SNDBUFFORCE = 32
const SOL_NETLINK = 270
const NETLINK_NO_ENOBUFS = 5
const NETLINK_CAP_ACK = 10
const SO_PROTOCOL = 38
const AF_NETLINK = 16
const NETLINK_NETFILTER = 12

interface Libc {
  getsockname: (fd: number, addr: Buffer, len: number[]) => number
  getsockopt: (fd: number, level: number, name: number, val: Buffer, len: number[]) => number
  setsockopt: (fd: number, level: number, name: number, val: Buffer, len: number) => number
}
let libc: Libc | undefined

function load(): Libc {
  const lib = libcLib()
  return (libc ??= {
    getsockname: lib.func('int getsockname(int fd, _Out_ uint8_t *addr, _Inout_ uint32_t *len)') as Libc['getsockname'],
    getsockopt: lib.func('int getsockopt(int fd, int level, int name, _Out_ uint8_t *val, _Inout_ uint32_t *len)') as Libc['getsockopt'],
    setsockopt: lib.func('int setsockopt(int fd, int level, int name, uint8_t *val, uint32_t len)') as Libc['setsockopt'],
  })
}

/** An int-valued socket option. */
interface IntOption {
  level: number
  name: number
  value: number
}

/**
 * Asks for a send buffer of `bytes` on the process's NETLINK_NETFILTER socket(s) bound to `port`.
 * Best effort: the caller reads the size in effect afterwards (without CAP_NET_ADMIN nothing changes).
 */
export function forceSendBuffer(port: number, bytes: number): void {
  setOptions(port, [{ level: SOL_SOCKET, name: SO_SNDBUFFORCE, value: Math.min(bytes, 0x3fffffff) }])
}

/** The SOL_NETLINK flags NfnlSocket sets (netlink(7)); each one's absence is what it says. */
export interface NetlinkFlags {
  /**
   * NETLINK_NO_ENOBUFS: a full receive buffer drops what does not fit without failing the socket's
   * next read with ENOBUFS. The `netlink` binding cannot report a read error: building the
   * exception aborts the process (Napi::String::New in its PollHandler, node 24; gdb). A dropped
   * answer then times out as a request whose answer never came (an error the callers handle),
   * where ENOBUFS killed the agent.
   */
  noEnobufs: boolean
  /**
   * NETLINK_CAP_ACK: an error answer carries the failed request's header only, not the whole
   * request (netlink_ack), so a refused batch of large requests (a set's elements, a chain's
   * rules) costs our receive buffer ~36 bytes of message per request instead of its size. We read
   * nothing of an error answer but its errno (nfnetlink.ts ackErrno).
   */
  capAck: boolean
}

/**
 * Sets or clears both flags on the socket(s) bound to `port`, in one walk. Best effort, as
 * forceSendBuffer. Returns the descriptors the walk found: exactly one when no socket of another
 * namespace shares the port (the `netlink` binding numbers ports with a counter that repeats after
 * 1,024 sockets), and then it is the caller's, on which NfnlSocket sends and reads at once
 * (netlink-sync.ts).
 */
export function setNetlinkFlags(port: number, flags: NetlinkFlags): number[] {
  return setOptions(port, [
    { level: SOL_NETLINK, name: NETLINK_NO_ENOBUFS, value: flags.noEnobufs ? 1 : 0 },
    { level: SOL_NETLINK, name: NETLINK_CAP_ACK, value: flags.capAck ? 1 : 0 },
  ])
}

/** The flags in effect on the (first) socket bound to `port`; undefined when none is found or readable. */
export function readNetlinkFlags(port: number): NetlinkFlags | undefined {
  const fd = socketFds(port)[0]
  if (fd === undefined) return undefined
  const c = load()
  const read = (name: number) => {
    const val = Buffer.alloc(4)
    return c.getsockopt(fd, SOL_NETLINK, name, val, [4]) === 0 ? val.readInt32LE(0) !== 0 : undefined
  }
  const noEnobufs = read(NETLINK_NO_ENOBUFS), capAck = read(NETLINK_CAP_ACK)
  return noEnobufs === undefined || capAck === undefined ? undefined : { noEnobufs, capAck }
}

/** setsockopt of each option on every NETLINK_NETFILTER socket of this process bound to `port`; those descriptors. */
function setOptions(port: number, options: IntOption[]): number[] {
  const c = load()
  const val = Buffer.alloc(4)
  const fds = socketFds(port)
  for (const fd of fds) {
    for (const o of options) {
      val.writeInt32LE(o.value)
      c.setsockopt(fd, o.level, o.name, val, val.length)
    }
  }
  return fds
}

/**
 * The descriptors of this process's NETLINK_NETFILTER sockets bound to `port` (one walk of
 * /proc/self/fd). getsockname on every descriptor, without reading its link first: it fails
 * (ENOTSOCK, EBADF) on what is no socket or closed meanwhile, and only reads. ~3 us a descriptor,
 * half of a readlink-first walk: 0.14 ms with 35 open, 0.4 ms with 125, 2.8 ms with 1,025.
 */
function socketFds(port: number): number[] {
  let names: string[]
  try {
    names = readdirSync('/proc/self/fd')
  } catch {
    return []
  }
  const c = load()
  const fds: number[] = []
  const sa = Buffer.alloc(12)
  const proto = Buffer.alloc(4)
  for (const name of names) {
    const fd = Number(name)
    // struct sockaddr_nl { sa_family_t nl_family; unsigned short nl_pad; __u32 nl_pid; __u32 nl_groups; }
    if (c.getsockname(fd, sa, [sa.length]) !== 0 || sa.readUInt16LE(0) !== AF_NETLINK || sa.readUInt32LE(4) !== port) continue
    if (c.getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, proto, [4]) !== 0 || proto.readInt32LE(0) !== NETLINK_NETFILTER) continue
    fds.push(fd)
  }
  return fds
}
