// A netlink socket's sends and the answers they queued, in the calling turn of the event loop.
//
// The `netlink` binding reads only from its poll handler, a turn of the loop after an answer was
// queued, and a send it gets while an earlier one's completion callback is still due (a timer of
// the next turn) waits for the socket to poll writable, another turn. nf_tables answers a batch
// inside the sendmsg that sends it (netlink_unicast_kernel runs nfnetlink_rcv_batch, the commit and
// the ACKs in the sender's context), so the answer is waiting when the send returns. Sent and read
// here, a change's commit is known at once: in process, a policy create's batch spent 0.9 ms in the
// kernel's sendmsg and was answered 1.22 ms after the send, against 1.37 ms through the binding;
// in the agent, where the turn waits behind whatever else its loop has, the kernel round trip per
// change fell by ~0.2 ms at the median (bench/README.md phase 18).
//
// Going around the binding is safe: everything runs on this thread; a datagram read here is one the
// binding's level-triggered poll no longer sees (its next read finds EAGAIN and stops); each is read
// at its size (a peek for the size first, as the binding reads), so none is truncated; and a socket
// sends either all its datagrams here or all through the binding, so none overtakes another.
import { libcLib, loadKoffi } from '../ffi/koffi.js'
import { getSystemErrorName } from 'node:util'

const MSG_PEEK = 0x2
const MSG_TRUNC = 0x20 // with PEEK: the datagram's whole length, whatever the buffer (netlink_recvmsg)
const MSG_DONTWAIT = 0x40
const EINTR = 4

interface Libc {
  recv: (fd: number, buf: Buffer, len: number, flags: number) => number
  send: (fd: number, buf: Buffer, len: number, flags: number) => number
}
let libc: Libc | undefined
function load(): Libc {
  const lib = libcLib()
  return (libc ??= {
    recv: lib.func('long recv(int fd, _Out_ uint8_t *buf, size_t len, int flags)') as Libc['recv'],
    send: lib.func('long send(int fd, uint8_t *buf, size_t len, int flags)') as Libc['send'],
  })
}
const probe = Buffer.alloc(1)

/**
 * Sends `datagram` (one netlink datagram: a request, or a whole batch) on `fd` now. Throws with
 * the errno's name (EMSGSIZE: larger than the send buffer) when the kernel refuses it.
 */
export function sendDatagram(fd: number, datagram: Buffer): void {
  const c = load()
  let errno: number
  do {
    if (c.send(fd, datagram, datagram.length, 0) >= 0) return
    errno = loadKoffi().errno()
  } while (errno === EINTR) // as the binding retries its sendmsg
  let name = `errno ${errno}`
  try { name = getSystemErrorName(-errno) } catch { /* not one libuv names */ }
  throw Object.assign(new Error(`sendmsg: ${name}`), { code: name, errno })
}

/**
 * Reads the datagrams queued on `fd` now, at most `max`, handing each to `each`; returns how many
 * were read. Stops at the first read that finds nothing (EAGAIN) or fails (a failure is the
 * binding's to report when its own read meets it), or when `each` returns false: the socket was
 * closed meanwhile, and its descriptor's number may already be another's.
 */
export function readQueued(fd: number, each: (datagram: Buffer) => boolean, max = 64): number {
  const c = load()
  let n = 0
  while (n < max) {
    const size = c.recv(fd, probe, probe.length, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT)
    if (size < 0) break
    const datagram = Buffer.allocUnsafe(size)
    const got = c.recv(fd, datagram, size, MSG_DONTWAIT)
    if (got < 0) break
    n++
    if (!each(got === size ? datagram : datagram.subarray(0, got))) break
  }
  return n
}
