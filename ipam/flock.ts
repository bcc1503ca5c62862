// flock(2) through koffi: Node has no file locks. The kernel drops the lock when the process dies,
// however it dies, so a killed plugin never leaves the store locked (DESIGN "Facts").
// koffi is loaded on first use only: STATUS and VERSION never pay for it.
import { createRequire } from 'node:module'

const LOCK_EX = 2 // <sys/file.h>
const LOCK_UN = 8
const EINTR = 4

type FlockFn = (fd: number, op: number) => number
let flockFn: FlockFn | undefined
let errnoFn: (() => number) | undefined

type Koffi = typeof import('koffi')

/**
 * koffi's entry point spends ~4 ms probing the platform before it loads its prebuilt addon; on
 * Linux x64 we load that addon from its package directly (the package koffi itself would pick,
 * pinned to koffi's version), and fall back to koffi's own loader anywhere else or if that fails.
 */
function loadKoffi(): Koffi {
  const req = createRequire(import.meta.url)
  if (process.platform === 'linux' && process.arch === 'x64') {
    try {
      const native = req('@koromix/koffi-linux-x64/linux_x64/koffi.node') as Koffi
      if (typeof native.load === 'function' && typeof native.errno === 'function') return native
    } catch {
      // musl, or another layout: koffi knows
    }
  }
  return req('koffi') as Koffi
}

function bind(): FlockFn {
  if (!flockFn) {
    const koffi = loadKoffi()
    flockFn = koffi.load('libc.so.6').func('int flock(int fd, int operation)') as FlockFn
    errnoFn = () => koffi.errno()
  }
  return flockFn
}

function call(fd: number, op: number, what: string): void {
  const fn = bind()
  for (;;) {
    if (fn(fd, op) === 0) return
    const errno = errnoFn!()
    // A signal may interrupt a blocked flock (flock(2) ERRORS: EINTR): wait again.
    if (errno !== EINTR) throw new Error(`${what}: flock failed with errno ${errno}`)
  }
}

/** Blocks until this process holds the exclusive lock on fd. */
export const lockExclusive = (fd: number): void => call(fd, LOCK_EX, 'lock')

export const unlock = (fd: number): void => call(fd, LOCK_UN, 'unlock')
