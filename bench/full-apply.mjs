// The agent's first transaction at 30k pods / 30k policies (the cluster of policy-cluster.mjs), in
// process: the full replace of `inet cinch` + `bridge cinch` as one nf_tables netlink batch
// (fullCommands, lib/nft) against renderFull's text through libnftables, alternately, each over
// the tables the previous sample left (an agent restart replaces what its predecessor committed),
// and once into an empty namespace each. Wall time and this process's CPU (user + system: the
// kernel processes a netlink batch in the sender's sendmsg, and libnftables runs on a pool thread
// of this process), split into building (text or commands; encoding) and committing.
//   node --import tsx/esm bench/full-apply.mjs [--namespaces 7500] [--samples 5] [--flow]
// Root: it re-runs itself in a network namespace of its own, removed at the end.
import { parseArgs } from 'node:util'
import { Compiler } from '../policy-agent/compile/index.ts'
import { FlowCompiler } from '../policy-agent/flows/compiler.ts'
import { FLOW_LOG_DEFAULTS } from '../policy-agent/flows/options.ts'
import { fullCommands, renderFull } from '../policy-agent/render/index.ts'
import { NftTable } from '../lib/nft/index.ts'
import { elementBatch, runElementBatch } from '../lib/nft/elements-netlink.ts'
import { syntheticCluster } from './policy-cluster.mjs'
import { inOwnNetns, median } from './lib.mjs'

const { values: args } = parseArgs({ options: { namespaces: { type: 'string', default: '7500' }, samples: { type: 'string', default: '5' }, flow: { type: 'boolean' } } })
inOwnNetns('cinch-bench-fa')

const { state, locals } = syntheticCluster({ namespaces: Number(args.namespaces), podsPerNs: 4, local: 110 })
const compiler = args.flow ? new FlowCompiler({ flowLogs: { ...FLOW_LOG_DEFAULTS, clusterWide: true } }) : new Compiler()
const ir = compiler.compile(state, locals).ir
const policy = new NftTable({ family: 'inet', name: 'cinch' }), bridge = new NftTable({ family: 'bridge', name: 'cinch' })
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000 }

async function viaText() {
  const t0 = performance.now(), c0 = cpu()
  const text = renderFull(ir)
  const t1 = performance.now(), c1 = cpu()
  await policy.runText(text, { also: [bridge] })
  const t2 = performance.now(), c2 = cpu()
  return { build: t1 - t0, commit: t2 - t1, wall: t2 - t0, cpu: c2 - c0, buildCpu: c1 - c0, size: `${(text.length / 1e6).toFixed(2)} MB text` }
}

async function viaNetlink() {
  const t0 = performance.now(), c0 = cpu()
  const batch = elementBatch(fullCommands(ir), { maxBytes: 256 * 1024 * 1024 })
  const t1 = performance.now(), c1 = cpu()
  await runElementBatch(batch, { what: 'full replace' })
  const t2 = performance.now(), c2 = cpu()
  return { build: t1 - t0, commit: t2 - t1, wall: t2 - t0, cpu: c2 - c0, buildCpu: c1 - c0, size: `${batch.messages.length} messages, ${(batch.bytes / 1e6).toFixed(2)} MB` }
}

const ways = { libnftables: viaText, netlink: viaNetlink }
const results = { libnftables: [], netlink: [] }
const empty = {}
for (const [name, run] of Object.entries(ways)) {
  // Into an empty namespace first (the first start of an agent on a node).
  await policy.runText('table inet cinch\ndelete table inet cinch\ntable bridge cinch\ndelete table bridge cinch\n', { also: [bridge] })
  empty[name] = await run()
}
for (let i = 0; i < Number(args.samples); i++) {
  for (const [name, run] of i % 2 ? Object.entries(ways).reverse() : Object.entries(ways)) results[name].push(await run())
}
const f = (x) => x.toFixed(0).padStart(5)
console.log(`${Object.keys(ir.chains).length} chains, ${Object.keys(ir.sets).length} sets, ${locals.length} local pods${args.flow ? ', flow logs on' : ''}`)
console.log('way          | into empty (cold): build commit wall  cpu | replace (median of ' + args.samples + '): build  commit  wall  cpu (build cpu) | size')
for (const name of Object.keys(ways)) {
  const r = results[name], e = empty[name]
  const m = (k) => median(r.map((x) => x[k]))
  console.log(`${name.padEnd(12)} | ${f(e.build)} ms ${f(e.commit)} ms ${f(e.wall)} ms ${f(e.cpu)} ms | ${f(m('build'))} ms ${f(m('commit'))} ms ${f(m('wall'))} ms ${f(m('cpu'))} ms (${f(m('buildCpu'))} ms) | ${r[0].size}`)
}
