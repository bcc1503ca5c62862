// koffi, for the few syscalls Node lacks (flock for the IPAM store, setns for withNetns), loaded
// one way for the whole process. Loaded on first use only: STATUS and VERSION never pay for it.
import { createRequire } from 'node:module'

export type Koffi = typeof import('koffi')

let koffi: Koffi | undefined
let libc: ReturnType<Koffi['load']> | undefined

/**
 * koffi's entry point spends ~4 ms probing the platform before it loads its prebuilt addon; on
 * Linux x64 we load that addon from its package directly (the package koffi itself would pick,
 * pinned to koffi's version), and fall back to koffi's own loader anywhere else or if that fails.
 * The bare addon has `load`, `func` and `errno`, which is all libc calls need; code that needs the
 * rest of koffi's API (types, pointers: lib/nft's libnftables) loads the package itself.
 */
export function loadKoffi(): Koffi {
  if (koffi) return koffi
  const req = createRequire(import.meta.url)
  if (process.platform === 'linux' && process.arch === 'x64') {
    try {
      const native = req('@koromix/koffi-linux-x64/linux_x64/koffi.node') as Koffi
      if (typeof native.load === 'function' && typeof native.errno === 'function') return (koffi = native)
    } catch {
      // musl, or another layout: koffi knows
    }
  }
  return (koffi = req('koffi') as Koffi)
}

/** libc, opened once. */
export function libcLib(): ReturnType<Koffi['load']> {
  return (libc ??= loadKoffi().load('libc.so.6'))
}
