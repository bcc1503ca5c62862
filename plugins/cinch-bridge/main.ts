// cinch-bridge: the reference `bridge` plugin's behaviour and keys, in TypeScript. Each verb's
// module is loaded only when that verb runs: every millisecond beyond Node's start is ours.
import { enablePluginCompileCache } from '../../lib/cni/compile-cache.js'
import { runPlugin } from '../../lib/cni/index.js'
import type { BridgeConf } from './config.js'

// Before anything else is loaded: what is required after this reads its compiled code from disk.
enablePluginCompileCache()

void runPlugin<BridgeConf>(
  {
    add: async (ctx) => (await import('./add.js')).add(ctx),
    del: async (ctx) => (await import('./del.js')).del(ctx),
    check: async (ctx) => (await import('./check.js')).check(ctx),
    status: async (ctx) => (await import('./gc.js')).status(ctx),
    gc: async (ctx) => (await import('./gc.js')).gc(ctx),
  },
  { about: 'cinch-bridge', parseConfig: async (conf) => (await import('./config.js')).parseConfig(conf) },
)
