// The IPAM step of every verb. `cinch-ipam` runs inside this process (ipam/inprocess.ts): the same
// verbs, store and flock(2) lock as the executable, without a second Node start (tens of ms per ADD
// and DEL, issue 13). Any other type (host-local, dhcp, ...) is exec'd from CNI_PATH as a runtime
// would, bounded by `ipamTimeoutMs` (lib/cni/delegate.ts): a hung IPAM plugin is killed and the
// verb fails with code 11 instead of holding the pod's ADD forever.
import { delegateAdd, delegateCheck, delegateDel, delegateGc, delegateStatus, type CniResult, type VerbContext } from '../../lib/cni/index.js'
import type { BridgeConf } from './config.js'

type Ctx = VerbContext<BridgeConf>

const IN_PROCESS = 'cinch-ipam'

async function inProcess(command: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS', ctx: Ctx): Promise<CniResult | void> {
  const { runIpamInProcess } = await import('../../ipam/inprocess.js')
  return runIpamInProcess(command, { conf: ctx.conf, raw: ctx.raw, env: ctx.env, log: ctx.log })
}

const opts = (ctx: Ctx) => ({ timeoutMs: ctx.config.ipamTimeoutMs })

export async function ipamAdd(type: string, ctx: Ctx): Promise<CniResult> {
  if (type === IN_PROCESS) return (await inProcess('ADD', ctx)) as CniResult
  return delegateAdd(type, ctx.raw, ctx.env, opts(ctx))
}

export async function ipamDel(type: string, ctx: Ctx): Promise<void> {
  if (type === IN_PROCESS) return void (await inProcess('DEL', ctx))
  return delegateDel(type, ctx.raw, ctx.env, opts(ctx))
}

export async function ipamCheck(type: string, ctx: Ctx): Promise<void> {
  if (type === IN_PROCESS) return void (await inProcess('CHECK', ctx))
  return delegateCheck(type, ctx.raw, ctx.env, opts(ctx))
}

export async function ipamGc(type: string, ctx: Ctx): Promise<void> {
  if (type === IN_PROCESS) return void (await inProcess('GC', ctx))
  return delegateGc(type, ctx.raw, ctx.env, opts(ctx))
}

export async function ipamStatus(type: string, ctx: Ctx): Promise<void> {
  if (type === IN_PROCESS) return void (await inProcess('STATUS', ctx))
  return delegateStatus(type, ctx.raw, ctx.env, opts(ctx))
}
