// sysctls through /proc/sys with SYNC fs calls: /proc/sys/net is resolved in the namespace of the
// thread that opens it, and the async fs calls run on libuv's pool threads, which never enter a
// pod's namespace (see README). So these also work inside withNetns.
import { readFileSync, writeFileSync } from 'node:fs'

/** Maps "net.ipv4.ip_forward" or "net/ipv6/conf/eth0.100/accept_dad" to its /proc/sys path. */
function sysctlPath(key: string): string {
  // A dotted key cannot name an interface containing dots (VLAN eth0.100): pass slashes for those.
  return '/proc/sys/' + (key.includes('/') ? key : key.replace(/\./g, '/'))
}

export function readSysctl(key: string): string {
  return readFileSync(sysctlPath(key), 'utf8').trim()
}

/** Writes `value` unless the sysctl already holds it (a write costs more than a read). */
export function ensureSysctl(key: string, value: string): void {
  const path = sysctlPath(key)
  try {
    if (readFileSync(path, 'utf8').trim() === value) return
  } catch (err) {
    throw new Error(`read sysctl ${key}`, { cause: err })
  }
  try {
    writeFileSync(path, value)
  } catch (err) {
    throw new Error(`write sysctl ${key}=${value}`, { cause: err })
  }
}
