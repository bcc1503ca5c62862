// cinch-ipam: host-local's keys and store format, in TypeScript (ipam/README.md).
// The verbs module is imported on first use so that VERSION loads no more than lib/cni.
import { runPlugin, type VerbContext } from '../lib/cni/index.js'

const verbs = () => import('./verbs.js')

void runPlugin(
  {
    add: async (ctx: VerbContext) => (await verbs()).add(ctx),
    del: async (ctx: VerbContext) => (await verbs()).del(ctx),
    check: async (ctx: VerbContext) => (await verbs()).check(ctx),
    status: async (ctx: VerbContext) => (await verbs()).status(ctx),
    gc: async (ctx: VerbContext) => (await verbs()).gc(ctx),
  },
  { about: 'cinch-ipam' },
)
