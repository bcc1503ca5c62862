// cinch-ipam's verbs: parse the config, open the disk store, run one IPAM operation, shape the
// result. Loaded by main.ts only once a verb runs, so VERSION pays for none of it.
import { readFileSync } from 'node:fs'
import { CniError, ErrorCode, describeError, validAttachments, type CniResult, type VerbContext } from '../lib/cni/index.js'
import { pickAddress } from './allocator.js'
import type { IpamConfig } from './config.js'
import { parseResolvConf } from './dns.js'
import { parseIp } from '../lib/ip/index.js'
import { allocate, collectGarbage, releaseOwner, verifyOwner, type Owner } from './ipam.js'
import { DiskStore } from './store-disk.js'

type Ctx = VerbContext<IpamConfig>

const owner = (ctx: Ctx): Owner => ({ containerId: ctx.env.containerId, ifName: ctx.env.ifName })

/** Runs fn on the network's store; store failures become code 5 (I/O) naming the directory. */
function withStore<T>(cfg: IpamConfig, fn: (store: DiskStore) => T, code: number = ErrorCode.IoFailure): T {
  let store: DiskStore | undefined
  try {
    store = new DiskStore(cfg.dataDir, cfg.name)
    return fn(store)
  } catch (err) {
    if (err instanceof CniError) throw err
    throw new CniError(code, `IPAM store ${cfg.dataDir}/${cfg.name} failed`, describeError(err), { cause: err })
  } finally {
    store?.close()
  }
}

export async function add(ctx: Ctx): Promise<CniResult> {
  const cfg = ctx.config
  let dns
  if (cfg.resolvConf) {
    // Read before allocating, as host-local does: a bad path must not cost an address.
    try {
      dns = parseResolvConf(readFileSync(cfg.resolvConf, 'utf8'))
    } catch (err) {
      throw new CniError(ErrorCode.IoFailure, `ipam.resolvConf: cannot read ${cfg.resolvConf}`, describeError(err))
    }
  }
  const ips = withStore(cfg, (store) => allocate(store, cfg, owner(ctx)))
  ctx.log.info({ ips: ips.map((i) => i.address) }, 'allocated')
  // As host-local: routes and dns only when configured.
  const result: CniResult = { cniVersion: '1.1.0', ips }
  if (cfg.routes.length > 0) result.routes = cfg.routes
  if (dns) result.dns = dns
  return result
}

export async function del(ctx: Ctx): Promise<void> {
  const cfg = ctx.config
  const released = withStore(cfg, (store) => releaseOwner(store, owner(ctx)))
  ctx.log.info({ released }, 'released')
}

export async function check(ctx: Ctx): Promise<void> {
  const cfg = ctx.config
  withStore(cfg, (store) => verifyOwner(store, cfg, owner(ctx), ctx.conf.prevResult))
}

export async function gc(ctx: Ctx): Promise<void> {
  const cfg = ctx.config
  const valid = validAttachments(ctx.conf)
  const clock = { nowMs: Date.now(), minAgeMs: cfg.gcMinAgeSeconds * 1000 }
  const released = withStore(cfg, (store) => collectGarbage(store, valid, clock))
  ctx.log.info({ released }, 'collected')
}

/** SPEC "STATUS": 50 when ADD would fail: the store is not writable or a range set is full. */
export async function status(ctx: Ctx): Promise<void> {
  const cfg = ctx.config
  withStore(
    cfg,
    (store) => {
      store.checkWritable()
      const held = store.list().map((a) => parseIp(a.ip)).filter((ip) => ip !== null)
      cfg.ranges.forEach((set, idx) => {
        const used = new Set(held.filter((ip) => ip.family === set[0].subnet.family).map((ip) => ip.value))
        if (!pickAddress(set, used, null)) throw new CniError(ErrorCode.NotAvailable, `range set ${idx} has no free address`)
      })
    },
    ErrorCode.NotAvailable,
  )
}
