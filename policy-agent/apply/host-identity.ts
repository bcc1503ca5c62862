// Which boot and which network namespace this process runs in: what binds the agent's commit
// record (adopt.ts) to the kernel that holds the commit. nf_tables' generation id counts commits
// per namespace and starts again at 1 in every new one, so a generation alone matches anywhere.
import { readFileSync, statSync } from 'node:fs'
import { libcLib } from '../../lib/ffi/koffi.js'

export interface HostIdentity {
  /** /proc/sys/kernel/random/boot_id: new at every boot */
  bootId: string
  /**
   * The network namespace: its SO_NETNS_COOKIE (Linux 5.14+: a 64-bit id never given to another
   * namespace during the boot), else the nsfs inode of /proc/self/ns/net, which a namespace made
   * after this one died may get again.
   */
  netns: string
}

export function hostIdentity(): HostIdentity {
  const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  let netns: string
  try {
    netns = `cookie:${netnsCookie()}`
  } catch {
    const st = statSync('/proc/self/ns/net', { bigint: true })
    netns = `inode:${st.dev}:${st.ino}`
  }
  return { bootId, netns }
}

const AF_UNIX = 1
const SOCK_DGRAM = 2
const SOL_SOCKET = 1
const SO_NETNS_COOKIE = 71

interface Libc {
  socket: (domain: number, type: number, protocol: number) => number
  getsockopt: (fd: number, level: number, name: number, val: Buffer, len: number[]) => number
  close: (fd: number) => number
}
let libc: Libc | undefined

/** The cookie of the calling thread's network namespace, read from a socket made for the purpose. */
function netnsCookie(): bigint {
  const lib = libcLib()
  const c = (libc ??= {
    socket: lib.func('int socket(int domain, int type, int protocol)') as Libc['socket'],
    getsockopt: lib.func('int getsockopt(int fd, int level, int name, _Out_ uint8_t *val, _Inout_ uint32_t *len)') as Libc['getsockopt'],
    close: lib.func('int close(int fd)') as Libc['close'],
  })
  const fd = c.socket(AF_UNIX, SOCK_DGRAM, 0)
  if (fd < 0) throw new Error('socket() failed')
  try {
    const val = Buffer.alloc(8)
    const len = [8]
    if (c.getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, val, len) !== 0 || len[0] !== 8) throw new Error('SO_NETNS_COOKIE not supported')
    return val.readBigUInt64LE(0)
  } finally {
    c.close(fd)
  }
}
