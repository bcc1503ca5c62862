// cinch-ipam: host-local's keys and store format, in TypeScript (ipam/README.md).
// The verbs module is imported on first use so that VERSION loads no more than lib/cni.
import { enablePluginCompileCache } from '../lib/cni/compile-cache.js'
import { runPlugin, type VerbContext } from '../lib/cni/index.js'
import type { IpamConfig } from './config.js'

// Before anything else is loaded: what is required after this reads its compiled code from disk.
enablePluginCompileCache()

const verbs = () => import('./verbs.js')
type Ctx = VerbContext<IpamConfig>

void runPlugin<IpamConfig>(
  {
    add: async (ctx: Ctx) => (await verbs()).add(ctx),
    del: async (ctx: Ctx) => (await verbs()).del(ctx),
    check: async (ctx: Ctx) => (await verbs()).check(ctx),
    status: async (ctx: Ctx) => (await verbs()).status(ctx),
    gc: async (ctx: Ctx) => (await verbs()).gc(ctx),
  },
  { about: 'cinch-ipam', parseConfig: async (conf, env) => (await import('./config.js')).parseIpamConfig(conf, env.args) },
)
