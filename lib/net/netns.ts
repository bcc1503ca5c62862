// withNetns: our ns.Do. A network namespace belongs to a thread, not a process (setns(2)), so we
// switch the MAIN thread, run a synchronous body, and switch back. Nothing async may run inside:
// libuv's thread pool stays in the original namespace, and an await would let other code run in
// the wrong one. Sockets opened inside (netlink, ...) stay bound to the namespace they were
// created in, so the usual pattern is `const nl = withNetns(path, openRtnl)`, then use nl async.
import { closeSync, openSync } from 'node:fs'
import { libcLib, loadKoffi } from '../ffi/koffi.js'

const CLONE_NEWNET = 0x40000000 // include/uapi/linux/sched.h

// koffi costs milliseconds to load: only verbs that really enter a namespace pay for it.
let libc: { setns: (fd: number, nstype: number) => number; errno: () => number } | undefined
function setns(fd: number): void {
  if (!libc) {
    const koffi = loadKoffi()
    libc = { setns: libcLib().func('int setns(int fd, int nstype)') as (fd: number, nstype: number) => number, errno: () => koffi.errno() }
  }
  if (libc.setns(fd, CLONE_NEWNET) !== 0) throw new Error(`setns: errno ${libc.errno()}`)
}

/** Opens a netns file (e.g. /var/run/netns/x, /proc/PID/ns/net); the error's code is ENOENT if gone. */
export function openNetns(path: string): number {
  return openSync(path, 'r')
}

/**
 * Runs `fn` with the calling (main) thread in the network namespace at `path`, then switches back.
 * `fn` must be synchronous. If switching back fails the process exits: running on in the wrong
 * namespace would configure the pod's network as the host's (containernetworking/plugins pkg/ns).
 */
export function withNetns<T>(path: string, fn: () => T): T {
  if (path === '') throw new Error('withNetns: empty netns path')
  const target = openNetns(path)
  try {
    return withNetnsFd(target, fn)
  } finally {
    closeSync(target)
  }
}

/** withNetns for an already open namespace fd. */
export function withNetnsFd<T>(fd: number, fn: () => T): T {
  const origin = openSync('/proc/thread-self/ns/net', 'r')
  try {
    setns(fd)
    try {
      const out = fn()
      if (out instanceof Promise) throw new Error('withNetns: the body must be synchronous')
      return out
    } finally {
      try {
        setns(origin)
      } catch (err) {
        process.stderr.write(`cinch: cannot return to the original network namespace: ${String(err)}\n`)
        process.exit(70)
      }
    }
  } finally {
    closeSync(origin)
  }
}
