// Socket options the `netlink` package does not set, on a NETLINK_NETFILTER socket of ours.
// SO_SNDBUFFORCE, as nft does for a batch larger than its socket's
// send buffer (nftables src/mnl.c mnl_set_sndbuffer): SO_SNDBUF is capped at net.core.wmem_max
// (212,992 bytes on a default kernel), SO_SNDBUFFORCE is not (it needs CAP_NET_ADMIN, which a
// process writing nftables has). The `netlink` package sets SO_SNDBUF only and does not hand out
// its descriptor, so the socket is found among the process's descriptors by what identifies it:
// an AF_NETLINK socket of protocol NETLINK_NETFILTER bound to `port`. Two such sockets in two
// namespaces can share a port; both are ours then, and either option harms neither.
// NETLINK_NO_ENOBUFS (noEnobufs), so that a full receive buffer drops messages rather than abort
// the process.
import { readdirSync, readlinkSync } from 'node:fs'
import { libcLib } from '../ffi/koffi.js'

const SOL_SOCKET = 1
const SO_SNDBUFFORCE = 32
const SOL_NETLINK = 270
const NETLINK_NO_ENOBUFS = 5
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

/**
 * Asks for a send buffer of `bytes` on the process's NETLINK_NETFILTER socket(s) bound to `port`.
 * Best effort: the caller reads the size in effect afterwards (without CAP_NET_ADMIN nothing changes).
 */
export function forceSendBuffer(port: number, bytes: number): void {
  const val = Buffer.alloc(4)
  val.writeInt32LE(Math.min(bytes, 0x3fffffff))
  setOption(port, SOL_SOCKET, SO_SNDBUFFORCE, val)
}

/**
 * NETLINK_NO_ENOBUFS on the socket(s) bound to `port`: a full receive buffer drops what does not
 * fit without failing the socket's next read with ENOBUFS. The `netlink` binding cannot report a
 * read error: building the exception aborts the process (Napi::String::New in its PollHandler,
 * node 24; gdb). A dropped answer then times out as a request whose answer never came (an error
 * the callers handle), where ENOBUFS killed the agent. Best effort, as forceSendBuffer.
 */
export function noEnobufs(port: number): void {
  const val = Buffer.alloc(4)
  val.writeInt32LE(1)
  setOption(port, SOL_NETLINK, NETLINK_NO_ENOBUFS, val)
}

/** setsockopt on every NETLINK_NETFILTER socket of this process bound to `port`. */
function setOption(port: number, level: number, name: number, val: Buffer): void {
  let fds: string[]
  try {
    fds = readdirSync('/proc/self/fd')
  } catch {
    return
  }
  const c = load()
  for (const fdName of fds) {
    const fd = Number(fdName)
    let link: string
    try {
      link = readlinkSync(`/proc/self/fd/${fdName}`)
    } catch {
      continue // closed since the listing
    }
    if (!link.startsWith('socket:')) continue
    // struct sockaddr_nl { sa_family_t nl_family; unsigned short nl_pad; __u32 nl_pid; __u32 nl_groups; }
    const sa = Buffer.alloc(12)
    if (c.getsockname(fd, sa, [sa.length]) !== 0 || sa.readUInt16LE(0) !== AF_NETLINK || sa.readUInt32LE(4) !== port) continue
    const proto = Buffer.alloc(4)
    if (c.getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, proto, [4]) !== 0 || proto.readInt32LE(0) !== NETLINK_NETFILTER) continue
    c.setsockopt(fd, level, name, val, val.length)
  }
}
