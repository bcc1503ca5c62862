// cinch-ipam's verbs called from inside another plugin's process (cinch-bridge), instead of exec'ing
// the cinch-ipam executable: one Node start less per ADD and per DEL (issue 13). The same config
// reader, the same verbs, the same DiskStore: the flock(2) lock is taken on the same lock file and
// the kernel drops it when this process dies however it dies, and every change is written by
// temp-file-then-link, so crash safety and concurrency are exactly those of the executable
// (ipam/README.md "Store"). Errors carry the same code and the "cinch-ipam: " prefix that a
// delegated plugin's error gets (lib/cni/delegate.ts), so a runtime sees no difference.
import { CniError, type CniCommand, type CniEnv, type CniResult, type NetConf, type PluginLogger } from '../lib/cni/index.js'
import { parseIpamConfig } from './config.js'
import * as verbs from './verbs.js'

export const IPAM_TYPE = 'cinch-ipam'

export interface InProcessCall {
  /** The caller's reading of the config: cniVersion checked, prevResult converted (lib/cni skel). */
  conf: NetConf
  raw: Readonly<Record<string, unknown>>
  env: CniEnv
  log: PluginLogger
}

const table = { ADD: verbs.add, DEL: verbs.del, CHECK: verbs.check, GC: verbs.gc, STATUS: verbs.status } as const

/** Runs one cinch-ipam verb in this process; ADD resolves with its result (1.1.0 shape). */
export async function runIpamInProcess(command: Exclude<CniCommand, 'VERSION'>, call: InProcessCall): Promise<CniResult | void> {
  try {
    const config = parseIpamConfig(call.conf, call.env.args)
    const log = call.log.child({ ipam: IPAM_TYPE })
    return await table[command]({ env: { ...call.env, command }, config, conf: call.conf, raw: call.raw, log })
  } catch (err) {
    if (err instanceof CniError) throw new CniError(err.code, `${IPAM_TYPE}: ${err.msg}`, err.details, { cause: err })
    throw err
  }
}
