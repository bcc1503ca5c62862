// The full replace over nf_tables netlink (policy-agent/render fullCommands, lib/nft commands.ts,
// declare-netlink.ts, base-rules-netlink.ts) against the real kernel: random IRs of the agent's
// compiler (NetworkPolicies with every port and peer shape, ClusterNetworkPolicies, audit policies,
// flow logs on and off, failOpen on and off, IPv4 and IPv6 pods) are put into one namespace as
// one netlink batch and into another through nft's text path (renderFull), into an empty
// namespace and over tables already there; the two rulesets must be the same, in JSON and in
// nft's text listing. Also at a few thousand pods (a batch of megabytes: the socket's send buffer
// grows, only the last message asks for an ACK), and: a batch the kernel refuses midway leaves
// the old tables as they were; the applier's first apply goes over netlink.
import test, { type ExecutionContext } from 'ava'
import { readFileSync } from 'node:fs'
import { Compiler } from '../../policy-agent/compile/index.js'
import { FlowCompiler } from '../../policy-agent/flows/compiler.js'
import { FLOW_LOG_DEFAULTS } from '../../policy-agent/flows/options.js'
import type { ClusterState, LocalPod, NetworkPolicy } from '../../policy-agent/model/cluster.js'
import type { PolicyIR } from '../../policy-agent/compile/ir.js'
import { fullCommands, renderFull, type RenderOptions } from '../../policy-agent/render/index.js'
import { Applier } from '../../policy-agent/apply/applier.js'
import { NftError, isNotFound, type NftCommand } from '../../lib/nft/index.js'
import { clusterOf, policy } from '../kit/policy-state.js'
import { cinchTablesIn, listedRuleset as ruleset, randomCnp } from '../kit/nft-kernel.js'
import { NfnlSocket } from '../../lib/net/nfnetlink.js'
import { forceSendBuffer } from '../../lib/net/sockopt.js'
import { rng } from '../kit/random.js'
// The benches' cluster generator (bench/policy-cluster.mjs: the 30k-policy cluster's shapes).
import { syntheticCluster } from '../../bench/policy-cluster.mjs'

interface Tables { ns: string; policy: import('../../lib/nft/index.js').NftTable; bridge: import('../../lib/nft/index.js').NftTable }
const tablesIn = (t: ExecutionContext, tag: string): Tables => cinchTablesIn(t, `cinch-t-nf${tag}`)
const runText = (x: Tables, text: string) => x.policy.runText(text, { also: [x.bridge] })
const FULL = 64 * 1024 * 1024
const runFull = (x: Tables, cmds: NftCommand[]) => x.policy.runCommands(cmds, { also: [x.bridge], maxBytes: FULL })

type Port = NonNullable<NonNullable<NetworkPolicy['spec']['ingress']>[number]['ports']>[number]
const http = [{ name: 'http', containerPort: 8080, protocol: 'TCP' as const }]
const PORTS: (Port[] | undefined)[] = [
  undefined, [{ protocol: 'TCP', port: 80 }], [{ protocol: 'UDP', port: 53 }], [{ protocol: 'TCP', port: 1000, endPort: 2000 }], [{ protocol: 'SCTP', port: 5 }],
  [{ protocol: 'UDP' }], [{ port: 'http' }], [{ protocol: 'TCP' }, { protocol: 'UDP' }], [{ protocol: 'TCP', port: 80 }, { protocol: 'UDP', port: 53 }],
  [{ protocol: 'TCP', port: 443 }, { protocol: 'TCP', port: 8000, endPort: 8100 }, { protocol: 'UDP', port: 7 }],
]
const PEERS = [
  undefined, [{ podSelector: { matchLabels: { app: 'a' } }, namespaceSelector: {} }], [{ namespaceSelector: { matchLabels: { team: 't1' } } }], [{ podSelector: {} }],
  [{ ipBlock: { cidr: '192.168.0.0/16', except: ['192.168.1.0/24', '192.168.3.0/24'] } }, { ipBlock: { cidr: 'fd00:9::/64' } }],
]

function randomPolicy(r: (n: number) => number, k: number): NetworkPolicy {
  const pick = <T>(xs: T[]): T => xs[r(xs.length)]!
  const ingress = r(4) ? [{ ports: pick(PORTS), from: pick(PEERS) }] : []
  const egress = r(2) ? [{ ports: pick(PORTS), to: pick(PEERS) }] : []
  const types = [...(ingress.length || r(2) ? ['Ingress' as const] : []), ...(egress.length ? ['Egress' as const] : [])]
  const p = policy('l', `p${k}`, { podSelector: r(3) ? { matchLabels: { role: ['web', 'db', 'cache'][r(3)]! } } : {}, policyTypes: types.length ? types : ['Ingress'], ingress, egress })
  // Some policies only audit (flows/README "Audit mode"): their chains and the audit maps.
  if (r(4) === 0) p.metadata.annotations = { 'cinch.dev/audit': 'true' }
  return p
}

/** A random small cluster: local pods in `l` (some IPv6), remote pods, policies, CNPs. */
function randomState(r: (n: number) => number): { state: ClusterState; locals: LocalPod[] } {
  const pods: Parameters<typeof clusterOf>[0]['pods'] = {}
  for (let i = 0; i < 1 + r(5); i++) pods[`l/p${i}`] = { labels: { role: ['web', 'db', 'cache'][r(3)]! }, ips: r(2) ? [`10.1.0.${i + 1}`, `fd00:1::${i + 1}`] : [`10.1.0.${i + 1}`], ports: r(2) ? http : [] }
  for (let i = 0; i < r(6); i++) pods[`r${i % 2}/x${i}`] = { labels: { app: ['a', 'b', 'c'][r(3)]! }, ips: r(3) ? [`10.2.0.${i + 1}`] : [`10.2.0.${i + 1}`, `fd00:2::${i + 1}`], ports: http }
  const state = clusterOf({ namespaces: { l: { team: 't0' }, r0: { team: 't1' }, r1: { team: 't2' } }, pods, policies: [] })
  for (let k = 0; k < r(12); k++) { const p = randomPolicy(r, k); state.policies.set(`l/${p.metadata.name}`, p) }
  for (let k = 0; k < r(3); k++) { const c = randomCnp(r, k); state.clusterNetworkPolicies.set(c.metadata.name, c as never) }
  const locals = [...state.pods.values()].filter((p) => p.namespace === 'l').map((p) => ({ namespace: p.namespace, name: p.name, ips: p.ips, hostVeth: `cinchl${p.name}`.slice(0, 15) }))
  return { state, locals }
}

function compile(state: ClusterState, locals: LocalPod[], flows: boolean): PolicyIR {
  const compiler = flows ? new FlowCompiler({ flowLogs: { ...FLOW_LOG_DEFAULTS, clusterWide: true } }) : new Compiler()
  return compiler.compile(state, locals).ir
}

/** Both ways into two namespaces (over what each already holds); the listings must agree. */
async function replaceBoth(t: ExecutionContext, viaText: Tables, viaNetlink: Tables, ir: PolicyIR, opts: RenderOptions, what: string): Promise<void> {
  await runText(viaText, renderFull(ir, opts))
  await runFull(viaNetlink, fullCommands(ir, opts))
  const a = ruleset(viaNetlink.ns), b = ruleset(viaText.ns)
  t.deepEqual(a.json, b.json, what)
  t.is(a.text, b.text, `${what}: text listing`)
}

for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
  test.serial(`seed ${seed}: a full replace over netlink leaves the kernel as renderFull's text does (empty namespace, then over other tables)`, async (t) => {
    const r = rng(seed)
    const viaText = tablesIn(t, 'a'), viaNetlink = tablesIn(t, 'b')
    const features = new Set<string>()
    for (let round = 0; round < 4; round++) {
      const flows = !!r(2), failOpen = !!r(2)
      const { state, locals } = randomState(r)
      const ir = compile(state, locals, flows)
      if (ir.flowLog) features.add('flow logs')
      if (Object.values(ir.auditMaps ?? {}).some((m) => Object.keys(m).length)) features.add('audit')
      if (Object.values(ir.sets).some((s) => s.kind === 'block')) features.add('interval set')
      if (Object.values(ir.chains).some((c) => c.tier)) features.add('tier chains')
      if (failOpen) features.add('failOpen')
      await replaceBoth(t, viaText, viaNetlink, ir, { failOpen }, `round ${round} (flows ${flows}, failOpen ${failOpen}, ${round ? 'over the previous round' : 'empty namespace'})`)
    }
    t.log([...features].sort().join(', '))
  })
}

test.serial('the seeds covered flow logs, audit, interval sets, tier chains and failOpen', (t) => {
  // The same generator as above, run without the kernel: what the seeded rounds held.
  const features = new Set<string>()
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    const r = rng(seed)
    for (let round = 0; round < 4; round++) {
      const flows = !!r(2), failOpen = !!r(2)
      const { state, locals } = randomState(r)
      const ir = compile(state, locals, flows)
      if (ir.flowLog) features.add('flow logs')
      if (Object.values(ir.auditMaps ?? {}).some((m) => Object.keys(m).length)) features.add('audit')
      if (Object.values(ir.sets).some((s) => s.kind === 'block')) features.add('interval set')
      if (Object.values(ir.chains).some((c) => c.tier)) features.add('tier chains')
      if (Object.keys(ir.vethAddrs).some((v) => ir.vethAddrs[v]!.some((a) => a.includes(':')))) features.add('IPv6 pods')
      if (failOpen) features.add('failOpen')
      else features.add('fail closed')
    }
  }
  for (const f of ['IPv6 pods', 'audit', 'fail closed', 'failOpen', 'flow logs', 'interval set', 'tier chains']) t.true(features.has(f), `no seeded round had ${f}`)
})

/** The benches' synthetic cluster at a few thousand pods (110 local), with its policies. */
function scaleIr(namespaces: number, flows: boolean): PolicyIR {
  const { state, locals } = syntheticCluster({ namespaces, podsPerNs: 4, local: 110, cnps: 4 })
  return compile(state, locals, flows)
}

test.serial('a few thousand pods: a batch of megabytes, over an empty namespace and over the tables', async (t) => {
  const viaText = tablesIn(t, 'c'), viaNetlink = tablesIn(t, 'd')
  const ir = scaleIr(1000, true)
  const cmds = fullCommands(ir)
  t.log(`${Object.keys(ir.chains).length} chains, ${Object.keys(ir.sets).length} sets, ${cmds.length} commands`)
  t.true(cmds.length > 3000, 'thousands of commands: only the last asks for an ACK')
  await replaceBoth(t, viaText, viaNetlink, ir, {}, '4,000 pods, empty namespace')
  await replaceBoth(t, viaText, viaNetlink, scaleIr(900, false), { failOpen: true }, '3,600 pods over 4,000')
})

test.serial('a full replace the kernel refuses midway leaves the old tables untouched', async (t) => {
  const x = tablesIn(t, 'e')
  const old = scaleIr(300, false)
  await runFull(x, fullCommands(old))
  const before = ruleset(x.ns)
  const cmds = fullCommands(scaleIr(400, true))
  // A rule in the middle of the batch (after the tables were deleted and declared again) names a
  // set that does not exist: the kernel aborts the whole transaction.
  const i = cmds.findIndex((c, k) => k > cmds.length / 2 && 'kind' in c && c.kind === 'rule' && c.verb === 'add' && c.family === 'inet' && /^ip saddr @/.test(c.rule))
  t.true(i > 0)
  const bad = cmds[i] as Extract<NftCommand, { kind: 'rule'; verb: 'add' }>
  cmds[i] = { ...bad, rule: bad.rule.replace(/@\S+/, '@no-such-set') }
  const err = await t.throwsAsync(runFull(x, cmds), { instanceOf: NftError })
  t.true(isNotFound(err), err?.message)
  t.is(err!.line, i + 1, 'located at the refused command')
  t.deepEqual(ruleset(x.ns), before, 'the old tables, as they were')
  // And a batch refused in its first half (a base chain's rule naming a missing map).
  const early = fullCommands(scaleIr(400, true))
  const j = early.findIndex((c) => 'kind' in c && c.kind === 'table' && c.family === 'inet' && c.verb === 'delete')
  early.splice(j + 2, 0, { family: 'inet', table: 'cinch', kind: 'chain', verb: 'flush', name: 'no-such-chain' })
  await t.throwsAsync(runFull(x, early), { instanceOf: NftError })
  t.deepEqual(ruleset(x.ns), before, 'the old tables, as they were')
})

test.serial("the applier's first apply goes over netlink, and equals renderFull's text", async (t) => {
  const x = tablesIn(t, 'f'), y = tablesIn(t, 'g')
  const applier = new Applier({ run: (text) => runText(x, text), runCommands: (c, o) => x.policy.runCommands(c, { also: [x.bridge], ...o }) })
  const { state, locals } = randomState(rng(42))
  const ir = compile(state, locals, true)
  t.like(await applier.apply(ir), { mode: 'full', via: 'netlink' })
  await runText(y, renderFull(ir))
  t.deepEqual(ruleset(x.ns), ruleset(y.ns))
})

test('SO_SNDBUFFORCE finds our netfilter socket and grows its send buffer beyond net.core.wmem_max', (t) => {
  // What a node with the default wmem_max (212,992 bytes) needs for a batch of megabytes.
  const wmemMax = Number(readFileSync('/proc/sys/net/core/wmem_max', 'utf8'))
  const sock = new NfnlSocket()
  t.teardown(() => sock.close())
  const want = 4 * wmemMax + 4096
  t.true(sock.sendBuffer(want) <= 2 * wmemMax, 'SO_SNDBUF stops at wmem_max (doubled)')
  forceSendBuffer(sock.port, want)
  t.is(sock.sendBuffer(), 2 * want, 'the kernel doubles what SO_SNDBUFFORCE asks for, as for SO_SNDBUF')
})
