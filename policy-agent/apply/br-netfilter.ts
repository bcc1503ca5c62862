// br_netfilter: pods on one Linux bridge talk without routing, so the inet forward hook (where the
// policy lives) sees their packets only when the bridge hands them to the IP hooks. That is
// net.bridge.bridge-nf-call-iptables / -ip6tables (module br_netfilter); on this kernel both are
// per network namespace (net/bridge/br_netfilter_hooks.c: brnf_net). Without them every policy
// between pods of one node is silently not enforced, so the agent refuses to run without them.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { ensureSysctl } from '../../lib/net/sysctl.js'

export const BRIDGE_NF_SYSCTLS = ['net.bridge.bridge-nf-call-iptables', 'net.bridge.bridge-nf-call-ip6tables']

/** Loads br_netfilter if needed and sets both sysctls to 1; throws naming what failed. */
export function ensureBridgeNetfilter(): void {
  // /proc/sys/net/bridge appears once the module is loaded (it is not built in everywhere).
  if (!existsSync('/proc/sys/net/bridge')) {
    try {
      execFileSync('modprobe', ['br_netfilter'], { stdio: ['ignore', 'ignore', 'pipe'] })
    } catch (err) {
      throw new Error('modprobe br_netfilter failed: NetworkPolicy between pods of one bridge cannot be enforced without it', { cause: err })
    }
  }
  for (const key of BRIDGE_NF_SYSCTLS) ensureSysctl(key, '1')
}
