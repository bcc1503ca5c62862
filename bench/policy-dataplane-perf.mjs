// node --import tsx/esm bench/policy-dataplane-perf.mjs [--scale large|small] [--rounds 3] [--control 2000] [--flows [--no-reader]]
// (as root, needs `perf`: apt-get install linux-perf). What the rules cost per packet, measured
// so that other processes on the machine cannot move it: the compiled rulesets of
// bench/policy-scale.mjs (every policy vs none; large: 30k policies, 110 local pods) loaded with
// `nft -f` into a namespace of ours (no agent, no nft monitor), TCP between two local pods
// (bench/policy-dataplane.mjs), each client run under `perf record -g` and the server under
// `perf record -p`. perf's cpu-clock samples are CPU time of those two processes, which includes
// the packets' path through the bridge, br_netfilter and nftables (softirq runs in the sending
// process's context on veths); the samples under nft_do_chain, per connection and per MB, are what
// nftables costs, whatever the machine's load. A control ruleset (none + N rules that never match,
// ahead of `ct state established,related accept`) shows the method sees a per-packet rule cost.
// --flows (issue 11): flow logs off / on / flood instead of none / all (bench/flows-dataplane.mjs:
// the cluster of bench:policy, small scale by default, an nflog reader bound to the group),
// connections only (flow logs touch first packets alone); `log` is the samples under
// nfulnl_log_packet, the kernel's side of handing a first packet to the agent. --no-reader: no
// socket bound to the group (no agent), so nfnetlink_log drops each event before building it.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { cleanupOnExit, median, perfSamples, runTracked, sh, uniqueName } from './lib.mjs'
import { setupPods, startServer, writeScripts } from './policy-dataplane.mjs'
import { flowRulesets, startReader } from './flows-dataplane.mjs'
import { syntheticCluster } from './policy-cluster.mjs'

const { values: args } = parseArgs({ options: {
  scale: { type: 'string' },
  rounds: { type: 'string', default: '3' },
  control: { type: 'string', default: '2000' },
  flows: { type: 'boolean', default: false },
  reader: { type: 'boolean', default: true },
}, allowNegative: true })
args.scale ??= args.flows ? 'small' : 'large'
const SCALES = { small: { namespaces: 500, podsPerNs: 10, local: 100 }, large: { namespaces: 7500, podsPerNs: 4, local: 110 } }
const scale = SCALES[args.scale]
if (!scale) throw new Error(`--scale must be small or large, got ${args.scale}`)
const ROUNDS = Number(args.rounds), CONTROL = Number(args.control)
const SECONDS = 2, MB = 1000, HZ = 4000 // perf's default sampling frequency: a sample is 250 us of CPU

const tmp = mkdtempSync(join(tmpdir(), 'cinch-bench-dpperf-'))
const H = `cinch-b-dpp-${uniqueName('x').slice(2)}`
const { track, cleanup } = cleanupOnExit(tmp)
try { sh('perf', ['--version']) } catch { throw new Error('perf is not installed (apt-get install linux-perf)') }

// ---- the rulesets, as bench/policy-scale.mjs compiles them ------------------------------------
const { Compiler } = await import('../policy-agent/compile/index.ts')
const { renderFull } = await import('../policy-agent/render/index.ts')
const CLIENT = 'ns-005/pod-1', SERVER = 'ns-005/pod-2'
const { state, locals } = syntheticCluster({ ...scale, extraLocal: [CLIENT, SERVER], ...(args.flows ? { cnps: 100 } : {}) })
const vethOf = (k) => `cinch${k.toString(16).padStart(10, '0')}`
const nodeLocals = locals.map((lp, k) => ({ ...lp, hostVeth: vethOf(k) }))
const text = {}
const flows = args.flows ? await flowRulesets(state, nodeLocals) : undefined
if (flows) Object.assign(text, flows.text)
else for (const [name, policies] of [['none', new Map()], ['all', state.policies]]) {
  text[name] = renderFull(new Compiler().compile({ ...state, policies, clusterNetworkPolicies: new Map() }, nodeLocals).ir)
}
const BASE = flows ? 'off' : 'none'
if (CONTROL) {
  // The first `hook forward` is inet cinch's (the bridge table's comes after it).
  const head = '\t\ttype filter hook forward priority filter; policy accept;\n'
  const never = Array.from({ length: CONTROL }, (_, i) => `\t\tip saddr 192.0.${2 + (i >> 8)}.${i & 255} ip daddr 198.51.100.1 counter\n`).join('')
  text[`${BASE}+${CONTROL}`] = text[BASE].replace(head, head + never)
}
const files = {}
for (const [name, t] of Object.entries(text)) writeFileSync((files[name] = join(tmp, `${name}.nft`)), t)

// ---- the pods ----------------------------------------------------------------------------------
const pod = (key, role) => {
  const k = nodeLocals.findIndex((l) => `${l.namespace}/${l.name}` === key)
  return { netns: `${H}-${role}`, hostVeth: vethOf(k), ip: nodeLocals[k].ips[0] }
}
const client = pod(CLIENT, 'c'), server = pod(SERVER, 's')
setupPods({ host: H, pods: [client, server], track })
writeScripts(tmp)
const srv = await startServer({ dir: tmp, netns: server.netns, port: 5432, track })
// Under --flows, the agent's end of the log group: logged first packets are really delivered.
const reader = flows && args.reader ? await startReader({ netns: H, group: flows.group, track }) : undefined

const run = (cmd, argv) => runTracked(track, cmd, argv)

const profile = (file) => perfSamples(file, { nft: 'nft_do_chain', inet: 'nft_do_chain_inet', bridge: 'nft_do_chain_bridge', log: 'nfulnl_log_packet' })

/** One client run under perf, the server profiled meanwhile: us of CPU per unit, total and in nftables. */
async function measure(cfg, mode, r) {
  const f = join(tmp, `${cfg}-${mode}-${r}`)
  const srvPerf = run('perf', ['record', '-q', '-g', '-F', String(HZ), '-p', String(srv.pid), '-o', `${f}-srv.data`])
  await new Promise((res) => setTimeout(res, 300)) // perf attached (its own start, not a measurement wait)
  const argv = mode === 'cps' ? ['cps', server.ip, 5432, SECONDS, 8] : ['xfer', server.ip, 5432, MB]
  const out = JSON.parse((await run('ip', ['netns', 'exec', client.netns, 'perf', 'record', '-q', '-g', '-F', String(HZ), '-o', `${f}-cli.data`, '--',
    process.execPath, join(tmp, 'client.mjs'), ...argv.map(String)]).done).trim().split('\n').pop())
  srvPerf.child.kill('SIGINT')
  await srvPerf.done
  const units = mode === 'cps' ? out.done : MB
  const us = (n) => (n * 1e6) / HZ / units
  const a = profile(`${f}-cli.data`), b = profile(`${f}-srv.data`)
  return { cpu: us(a.samples + b.samples), nft: us(a.nft + b.nft), inet: us(a.inet + b.inet), bridge: us(a.bridge + b.bridge), log: us(a.log + b.log) }
}

const names = Object.keys(files)
const MODES = flows ? ['cps'] : ['cps', 'xfer']
const res = Object.fromEntries(names.flatMap((n) => MODES.map((m) => [`${n} ${m}`, []])))
console.log(`nftables per packet (${args.scale}: ${state.policies.size} policies, ${locals.length} local pods), ${ROUNDS} rounds alternated, perf at ${HZ} Hz`)
for (let r = 0; r < ROUNDS; r++) {
  for (const cfg of r % 2 ? [...names].reverse() : names) {
    sh('ip', ['netns', 'exec', H, '/usr/sbin/nft', '-f', files[cfg]])
    sh('ip', ['netns', 'exec', H, 'conntrack', '-F'], { stdio: 'ignore' })
    for (const mode of MODES) res[`${cfg} ${mode}`].push(await measure(cfg, mode, r))
  }
}
const col = (xs, k) => median(xs.map((x) => x[k])).toFixed(2).padStart(9)
console.log(`${'ruleset, unit'.padEnd(26)} ${'CPU'.padStart(9)} ${'nftables'.padStart(9)} ${'inet'.padStart(9)} ${'bridge'.padStart(9)} ${'log'.padStart(9)}   (us of client + server CPU, medians)`)
for (const [k, xs] of Object.entries(res)) console.log(`${(k.replace(/ cps$/, ', per connection').replace(/ xfer$/, ', per MB')).padEnd(26)} ${col(xs, 'cpu')} ${col(xs, 'nft')} ${col(xs, 'inet')} ${col(xs, 'bridge')} ${col(xs, 'log')}`)
if (flows) {
  // The verdict of bench:policy's flow-log part, here from CPU samples: off's cost / the config's.
  const ratio = (cfg) => median(res[`off cps`].map((x, j) => x.cpu / res[`${cfg} cps`][j].cpu))
  for (const cfg of ['on', 'flood']) console.log(`cost ratio off/${cfg} per connection (median of rounds): ${ratio(cfg).toFixed(3)}  goal >= 0.9 ${ratio(cfg) >= 0.9 ? 'ok' : 'MISSED'}`)
  const r = reader ? await reader.stop() : { packets: 0, lost: 0 }
  // A reader that died mid-run (flows-reader.mjs) leaves "on" cheaper than a node with the agent: said, not hidden.
  console.log(r.died ? `nflog reader DIED during the runs (figures of "on" after that lack the delivery): ${r.stderr}` : `nflog reader: ${r.packets} packets read, ${r.lost} lost`)
}
cleanup()
process.exit(0)
