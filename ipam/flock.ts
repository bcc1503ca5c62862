// flock(2) through koffi: Node has no file locks. The kernel drops the lock when the process dies,
// however it dies, so a killed plugin never leaves the store locked (DESIGN "Facts").
import { libcLib, loadKoffi } from '../lib/ffi/koffi.js'

const LOCK_EX = 2 // <sys/file.h>
const LOCK_UN = 8
const EINTR = 4

type FlockFn = (fd: number, op: number) => number
let flockFn: FlockFn | undefined
let errnoFn: (() => number) | undefined

function bind(): FlockFn {
  if (!flockFn) {
    const koffi = loadKoffi()
    flockFn = libcLib().func('int flock(int fd, int operation)') as FlockFn
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
