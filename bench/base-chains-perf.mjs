// node --import tsx/esm bench/base-chains-perf.mjs [--rounds 5] [--udp]
// (as root, needs `perf`). What cinch's own base chains cost each packet, before and after phase 7i
// (bench/README.md): the anti-spoofing chain accepting a pod's own IPv4 first, the mid-stream
// TCP test made once per packet (its lookups in a chain of their own), the guard's chains accepting
// frames between programmed veths first, no empty guard chains with failOpen. Measured as bench/policy-dataplane-perf.mjs does, so that other processes
// on the machine cannot move it: renderFull of two local pods (no policy, as bench:overlay's
// cluster) loaded with `nft -f` into a namespace of ours, each client run under `perf record -g`
// and the server under `perf record -p`; the samples under nft_do_chain (per table family) and
// nf_hook_slow (every hook: conntrack, NAT-less here, br_netfilter, the chains), per connection
// and per MB. Two paths: pod -> pod on the bridge (bridge prerouting + forward, br_netfilter's inet
// hooks) and pod -> node (bridge prerouting + input, inet input; replies: inet output, bridge output).
// --udp: one-way UDP instead (1,400-byte datagrams, per 1,000 sent; fail closed only): every
// packet of such a flow is `ct state new`, which the mid-stream change is about.
// "before" is the same ruleset as rendered before (the anti-spoofing chain in its former order,
// the mid-stream test in each lookup's rule, the guard without its heads and, fail open, the
// three empty guard chains): the agent's text of then, byte for byte (checked against renderFull
// of commit 201e979 when written).
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { cleanupOnExit, median, perfSamples, runTracked, sh, uniqueName } from './lib.mjs'
import { setupPods, startServer, writeScripts } from './policy-dataplane.mjs'

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, udp: { type: 'boolean', default: false } } })
const ROUNDS = Number(args.rounds)
const SECONDS = 2, MB = 1000, HZ = 4000 // a sample is 250 us of CPU
const DATAGRAMS = 200_000, UDP_LEN = 1400

const tmp = mkdtempSync(join(tmpdir(), 'cinch-bench-basechains-'))
const H = `cinch-b-bc-${uniqueName('x').slice(2)}`
const { track, cleanup } = cleanupOnExit(tmp)
try { sh('perf', ['--version']) } catch { throw new Error('perf is not installed (apt-get install linux-perf)') }

// ---- the rulesets ------------------------------------------------------------------------------
const { emptyIR } = await import('../policy-agent/compile/ir.ts')
const { renderFull } = await import('../policy-agent/render/index.ts')
const client = { netns: `${H}-c`, hostVeth: 'cinch00000000c1', ip: '10.99.0.2' }
const server = { netns: `${H}-s`, hostVeth: 'cinch00000000s1', ip: '10.99.0.3' }
const NODE = '10.99.0.1'
const ir = { ...emptyIR(), veths: [client.hostVeth, server.hostVeth], vethAddrs: { [client.hostVeth]: [client.ip], [server.hostVeth]: [server.ip] } }

/**
 * The text as rendered before phase 7i: the pod's IPv4 accept after the veth test and the ND
 * check; the mid-stream test in every lookup's rule, in the base chains; fail open, empty guard chains.
 */
function before(text, failOpen) {
  const v4 = '\t\tmeta protocol ip iifname . ip saddr @pod-v4 accept\n'
  const nd = /\t\ticmpv6 type nd-neighbor-advert [^\n]*\n/
  if (!text.includes(v4) || !nd.test(text)) throw new Error('the anti-spoofing chain is not as phase 7i renders it')
  let out = text.replace(v4, '')
  out = out.replace(nd, (m) => m + v4)
  for (const hook of ['forward', 'output']) {
    const block = new RegExp(`\\tchain midstream-${hook} \\{\\n\\t\\tcomment "[^"]*"\\n((?:\\t\\t[^\\n]*\\n)*)\\t\\}\\n`)
    const m = block.exec(out)
    const jump = new RegExp(`\\t\\t(ct state new [^\\n]*) jump midstream-${hook}\\n`)
    if (!m || !jump.test(out)) throw new Error(`midstream-${hook} is not as phase 7i renders it`)
    out = out.replace(block, '')
    out = out.replace(jump, (_j, test) => m[1].split('\n').filter(Boolean).map((r) => `\t\t${test} ${r.trim()}\n`).join(''))
  }
  for (const head of ['iifname @veths oifname @veths accept', 'iifname @veths accept', 'oifname @veths accept']) {
    const line = `\t\t${head}\n`
    if (!failOpen && !out.includes(line)) throw new Error(`the guard has no "${head}"`)
    out = out.replace(line, '')
  }
  if (failOpen) {
    const empty = ['forward', 'input', 'output'].map((h) => `\tchain ${h} {\n\t\ttype filter hook ${h} priority filter; policy accept;\n\t}\n`).join('')
    out = out.replace(/(\t\tcounter name "drop-spoofed" drop\n\t\}\n)/, `$1${empty}`)
  }
  return out
}
const text = {
  'before': before(renderFull(ir), false), 'after': renderFull(ir),
  ...(args.udp ? {} : { 'before, fail open': before(renderFull(ir, { failOpen: true }), true), 'after, fail open': renderFull(ir, { failOpen: true }) }),
}
const files = {}
for (const [name, t] of Object.entries(text)) writeFileSync((files[name] = join(tmp, `${name.replace(/\W+/g, '-')}.nft`)), t)

// ---- the pods, a server in one of them and one on the node -------------------------------------
setupPods({ host: H, pods: [client, server], track })
sh('ip', ['-n', H, 'addr', 'add', `${NODE}/16`, 'dev', 'cinch0'])
writeScripts(tmp)
// One-way UDP: a sink that only counts, and a sender of DATAGRAMS datagrams (awaiting each send's
// callback every 64, so that the socket's queue never drops them before the wire).
writeFileSync(join(tmp, 'udp-sink.mjs'), `const s = (await import('node:dgram')).createSocket('udp4'); let n = 0
s.on('message', () => n++); s.bind(Number(process.argv[2]), () => process.stdout.write('ready\\n'))`)
writeFileSync(join(tmp, 'udp-send.mjs'), `const [host, port, count, len] = process.argv.slice(2).map((x, i) => (i ? Number(x) : x))
const s = (await import('node:dgram')).createSocket('udp4'), b = Buffer.alloc(len, 7)
for (let i = 0; i < count; i += 64) await Promise.all(Array.from({ length: 64 }, () => new Promise((res) => s.send(b, port, host, res))))
s.close(); console.log(JSON.stringify({ sent: count }))`)
function startSink(netns, port) {
  const child = track.child(spawn('ip', ['netns', 'exec', netns, process.execPath, join(tmp, 'udp-sink.mjs'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] }))
  return new Promise((resolve, reject) => { child.stdout.once('data', () => resolve(child)); child.once('exit', (code) => reject(new Error(`udp sink exited ${code}`))) })
}
const servers = args.udp
  ? { pod: await startSink(server.netns, 5434), node: await startSink(H, 5435) }
  : { pod: await startServer({ dir: tmp, netns: server.netns, port: 5432, track }), node: await startServer({ dir: tmp, netns: H, port: 5433, track }) }
const TARGET = args.udp ? { pod: [server.ip, 5434], node: [NODE, 5435] } : { pod: [server.ip, 5432], node: [NODE, 5433] }

const run = (cmd, argv) => runTracked(track, cmd, argv)

const profile = (file) => {
  const p = perfSamples(file, { nft: 'nft_do_chain', bridge: 'nft_do_chain_bridge', inet: 'nft_do_chain_inet', hooks: 'nf_hook_slow' })
  return { ...p, cpu: p.samples }
}

const KEYS = ['cpu', 'nft', 'bridge', 'inet', 'hooks']
async function measure(cfg, path, mode, r) {
  const f = join(tmp, `${cfg.replace(/\W+/g, '-')}-${path}-${mode}-${r}`)
  const srvPerf = run('perf', ['record', '-q', '-g', '-F', String(HZ), '-p', String(servers[path].pid), '-o', `${f}-srv.data`])
  await new Promise((res) => setTimeout(res, 300)) // perf attached (its own start, not a measurement wait)
  const [ip, port] = TARGET[path]
  const argv = mode === 'cps' ? ['client.mjs', 'cps', ip, port, SECONDS, 8] : mode === 'udp' ? ['udp-send.mjs', ip, port, DATAGRAMS, UDP_LEN] : ['client.mjs', 'xfer', ip, port, MB]
  const out = JSON.parse((await run('ip', ['netns', 'exec', client.netns, 'perf', 'record', '-q', '-g', '-F', String(HZ), '-o', `${f}-cli.data`, '--',
    process.execPath, join(tmp, argv[0]), ...argv.slice(1).map(String)]).done).trim().split('\n').pop())
  srvPerf.child.kill('SIGINT')
  await srvPerf.done
  const units = mode === 'cps' ? out.done : mode === 'udp' ? out.sent / 1000 : MB
  const a = profile(`${f}-cli.data`), b = profile(`${f}-srv.data`)
  return Object.fromEntries(KEYS.map((k) => [k, ((a[k] + b[k]) * 1e6) / HZ / units]))
}

const names = Object.keys(files)
const CASES = args.udp ? ['pod udp', 'node udp'] : ['pod cps', 'pod xfer', 'node cps', 'node xfer']
const res = Object.fromEntries(names.flatMap((n) => CASES.map((c) => [`${n} | ${c}`, []])))
console.log(`cinch's base chains per packet, two local pods, ${ROUNDS} rounds alternated, perf at ${HZ} Hz`)
for (let r = 0; r < ROUNDS; r++) {
  for (const cfg of r % 2 ? [...names].reverse() : names) {
    sh('ip', ['netns', 'exec', H, '/usr/sbin/nft', '-f', files[cfg]])
    sh('ip', ['netns', 'exec', H, 'conntrack', '-F'], { stdio: 'ignore' })
    for (const c of CASES) res[`${cfg} | ${c}`].push(await measure(cfg, ...c.split(' '), r))
  }
}
const col = (xs, k) => median(xs.map((x) => x[k])).toFixed(2).padStart(9)
console.log(`${'ruleset | path, unit'.padEnd(40)} ${KEYS.map((k) => k.padStart(9)).join(' ')}   (us of client + server CPU, medians; nft = bridge + inet)`)
for (const [k, xs] of Object.entries(res)) console.log(`${k.replace(/ cps$/, ', per connection').replace(/ xfer$/, ', per MB').replace(/ udp$/, ', per 1,000 datagrams').padEnd(40)} ${KEYS.map((x) => col(xs, x)).join(' ')}`)
// Paired: each round's before/after ratio of the samples under nft_do_chain_bridge (the chains changed).
for (const open of args.udp ? [''] : ['', ', fail open']) for (const c of CASES) {
  const b = res[`before${open} | ${c}`], a = res[`after${open} | ${c}`]
  const ratio = (k) => median(a.map((x, j) => (b[j][k] ? x[k] / b[j][k] : NaN))).toFixed(3)
  console.log(`after/before${open}, ${c}: bridge chains ${ratio('bridge')}, inet chains ${ratio('inet')}, all hooks ${ratio('hooks')}, CPU ${ratio('cpu')} (median of rounds)`)
}
cleanup()
process.exit(0)
