// Whole policy diffs over nf_tables netlink (lib/nft/commands.ts, rule-netlink.ts) against the
// real kernel: random policy creates/updates/deletes, ClusterNetworkPolicies, local pods coming
// and going, remote pod and namespace changes, compiled and diffed by the agent's own code. Each
// diff goes through netlink into one namespace (through nft's text path when lib/nft refuses to
// encode it, as the applier does) and through nft's text path into another; the two rulesets must
// be the same after every step, in JSON and in nft's text listing (which also shows chain
// comments, set comments and key types, rule order). A wrong encoding shows up as a difference.
// Also: a refused batch commits nothing and reports an NftError at its line; the applier sends
// diffs over netlink and replaces the tables whole when the kernel refuses one.
import test, { type ExecutionContext } from 'ava'
import { execFileSync } from 'node:child_process'
import { Compiler } from '../../policy-agent/compile/index.js'
import { FlowCompiler } from '../../policy-agent/flows/compiler.js'
import { FLOW_LOG_DEFAULTS } from '../../policy-agent/flows/options.js'
import type { ClusterState, LocalPod, NetworkPolicy } from '../../policy-agent/model/cluster.js'
import { planDiff, renderFull } from '../../policy-agent/render/index.js'
import { Applier } from '../../policy-agent/apply/applier.js'
import { NftTable, NftError, UnsupportedElements, isElementCommand, isNotFound, type NftCommand } from '../../lib/nft/index.js'
import { clusterOf, policy } from '../kit/policy-state.js'
import { cinchTablesIn, listedRuleset as ruleset, randomCnp } from '../kit/nft-kernel.js'
import { NFT } from '../kit/proc.js'
import { rng } from '../kit/random.js'

interface Tables { ns: string; policy: NftTable; bridge: NftTable }

const tablesIn = (t: ExecutionContext, tag: string): Tables => cinchTablesIn(t, `cinch-t-nd${tag}`)
const runText = (x: Tables, text: string) => x.policy.runText(text, { also: [x.bridge] })
const runCommands = (x: Tables, cmds: NftCommand[]) => x.policy.runCommands(cmds, { also: [x.bridge] })

const nft = (ns: string, ...args: string[]) => execFileSync('ip', ['netns', 'exec', ns, NFT, ...args], { encoding: 'utf8' })

const http = [{ name: 'http', containerPort: 8080, protocol: 'TCP' as const }]

function baseState(): ClusterState {
  return clusterOf({
    namespaces: { l: { team: 't0' }, r0: { team: 't1' }, r1: { team: 't2' } },
    pods: {
      'l/p0': { labels: { role: 'web' }, ips: ['10.1.0.1', 'fd00:1::1'], ports: http },
      'l/p1': { labels: { role: 'db' }, ips: ['10.1.0.2'] },
      'r0/x0': { labels: { app: 'a' }, ips: ['10.2.0.1', 'fd00:2::1'], ports: http },
      'r1/x0': { labels: { app: 'b' }, ips: ['10.2.1.1'], ports: http },
      'r1/x1': { labels: { app: 'c' }, ips: ['fd00:2:1::1'], ports: [{ name: 'dns', containerPort: 53, protocol: 'UDP' }] },
    },
    policies: [policy('l', 'web', { podSelector: { matchLabels: { role: 'web' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'a' } }, namespaceSelector: {} }] }] })],
  })
}

const locals = (s: ClusterState): LocalPod[] =>
  [...s.pods.values()].filter((p) => p.namespace === 'l').map((p) => ({ namespace: p.namespace, name: p.name, ips: p.ips, hostVeth: `cinchl${p.name}`.slice(0, 15) }))

type Port = NonNullable<NonNullable<NetworkPolicy['spec']['ingress']>[number]['ports']>[number]
const PORTS: (Port[] | undefined)[] = [
  undefined, [{ protocol: 'TCP', port: 80 }], [{ protocol: 'UDP', port: 53 }], [{ protocol: 'TCP', port: 1000, endPort: 2000 }], [{ protocol: 'SCTP', port: 5 }],
  [{ protocol: 'UDP' }], [{ port: 'http' }], [{ protocol: 'UDP', port: 'dns' }],
  // several: anonymous sets (protocols; protocol . port; with a range, an interval concatenation)
  [{ protocol: 'TCP' }, { protocol: 'UDP' }], [{ protocol: 'TCP', port: 80 }, { protocol: 'UDP', port: 53 }, { protocol: 'SCTP', port: 9 }],
  [{ protocol: 'TCP', port: 443 }, { protocol: 'TCP', port: 8000, endPort: 8100 }, { protocol: 'UDP', port: 7 }],
]
const PEERS = [
  undefined, [{ podSelector: { matchLabels: { app: 'a' } }, namespaceSelector: {} }], [{ namespaceSelector: { matchLabels: { team: 't1' } } }], [{ podSelector: { matchLabels: { app: 'c' } }, namespaceSelector: {} }],
  [{ podSelector: {} }],
  // interval sets (added with their elements in one batch)
  [{ ipBlock: { cidr: '192.168.0.0/16', except: ['192.168.1.0/24', '192.168.3.0/24'] } }, { ipBlock: { cidr: 'fd00:9::/64' } }],
]

function randomPolicy(r: (n: number) => number, k: number): NetworkPolicy {
  // The last choices a third as often.
  const pick = <T>(xs: T[]): T => (r(3) ? xs[r(xs.length - 1)]! : xs[r(xs.length)]!)
  const rule = () => ({ ports: pick(PORTS) })
  const ingress = r(3) ? [{ ...rule(), from: pick(PEERS) }] : []
  const egress = r(2) ? [{ ...rule(), to: pick(PEERS) }] : []
  const types = [...(ingress.length || r(2) ? ['Ingress' as const] : []), ...(egress.length ? ['Egress' as const] : [])]
  return policy('l', `p${k}`, { podSelector: r(3) ? { matchLabels: { role: ['web', 'db', 'cache'][r(3)]! } } : {}, policyTypes: types.length ? types : ['Ingress'], ingress, egress })
}

/** One random change; returns what it was. */
function step(s: ClusterState, r: (n: number) => number, k: number): string {
  const extra = [...s.policies.keys()].filter((key) => key !== 'l/web')
  switch (r(8)) {
    case 0: case 1: {
      const p = randomPolicy(r, k)
      s.policies.set(`l/${p.metadata.name}`, p)
      return 'policy create'
    }
    case 2: {
      const key = extra[r(extra.length)]
      if (!key) return 'none'
      const p = structuredClone(s.policies.get(key)!)
      if (p.spec.ingress?.[0]) p.spec.ingress[0].ports = PORTS[r(PORTS.length)]
      else p.spec.podSelector = { matchLabels: { role: 'web' } }
      s.policies.set(key, p)
      return 'policy update'
    }
    case 3: {
      const key = extra[r(extra.length)]
      if (!key) return 'none'
      s.policies.delete(key)
      return 'policy delete'
    }
    case 4: { // a local pod comes or goes: its chains
      const key = `l/q${r(3)}`
      if (s.pods.has(key)) s.pods.delete(key)
      else s.pods.set(key, { namespace: 'l', name: key.slice(2), labels: { role: ['web', 'db', 'cache'][r(3)]! }, ips: r(2) ? [`10.1.1.${k}`] : [`10.1.1.${k}`, `fd00:1:1::${k.toString(16)}`], ports: r(2) ? http : [] })
      return 'local pod'
    }
    case 5: { // ClusterNetworkPolicies: tier chains (drop, goto)
      const names = [...s.clusterNetworkPolicies.keys()]
      if (names.length && r(2)) s.clusterNetworkPolicies.delete(names[r(names.length)]!)
      else { const c = randomCnp(r, k); s.clusterNetworkPolicies.set(c.metadata.name, c as never) }
      return 'cnp'
    }
    case 6: { // a remote pod relabelled or re-addressed
      const p = s.pods.get(['r0/x0', 'r1/x0', 'r1/x1'][r(3)]!)!
      s.pods.set(`${p.namespace}/${p.name}`, { ...p, labels: { app: ['a', 'b', 'c'][r(3)]! } })
      return 'remote pod'
    }
    default: {
      const n = `r${r(2)}`
      s.namespaces.set(n, { name: n, labels: { team: `t${1 + r(2)}` } })
      return 'namespace'
    }
  }
}

/** First step of every seed: a policy whose rules need each kind of anonymous set. */
function anonymousSets(s: ClusterState): string {
  const ingress = PORTS.slice(-3).map((ports) => ({ from: [{ podSelector: { matchLabels: { app: 'a' } }, namespaceSelector: {} }], ports }))
  s.policies.set('l/anon', policy('l', 'anon', { podSelector: { matchLabels: { role: 'db' } }, policyTypes: ['Ingress'], ingress }))
  return 'policy create (anonymous sets)'
}

/** A rule's shape: names, comments and numbers left out. */
const shape = (rule: string) => rule.replace(/comment "[^"]*"/, 'comment').replace(/"[^"]*"/g, '"…"').replace(/@\S+/g, '@S').replace(/(goto|jump) \S+/, '$1 C').replace(/\b\d+\b/g, 'N')

// The rule shapes that went over netlink in the seeded runs, with the kernels compared after each.
const sentShapes = new Set<string>(), sentKinds = new Set<string>()

// Seeds 6 and 7 through the agent's FlowCompiler with flow logs cluster-wide: every pod chain's
// verdict points carry their log rules (flows/nft.ts).
for (const [seed, flows] of [[1, false], [2, false], [3, false], [4, false], [5, false], [6, true], [7, true]] as const) {
  // Serial: ava runs these first, in order, and the coverage check after them.
  test.serial(`seed ${seed}${flows ? ' (flow logs)' : ''}: policy diffs over netlink leave the kernel as nft's text path does`, async (t) => {
    const viaText = tablesIn(t, 'a'), viaNetlink = tablesIn(t, 'b')
    const r = rng(seed)
    const state = baseState()
    const compiler = flows ? new FlowCompiler({ flowLogs: { ...FLOW_LOG_DEFAULTS, clusterWide: true } }) : new Compiler()
    const compile = () => compiler.compile({ ...state, pods: new Map(state.pods), namespaces: new Map(state.namespaces), policies: new Map(state.policies), clusterNetworkPolicies: new Map(state.clusterNetworkPolicies) }, locals(state)).ir
    let ir = compile()
    if (flows) t.truthy(ir.flowLog, 'flow logs are on')
    await runText(viaText, renderFull(ir))
    await runText(viaNetlink, renderFull(ir))
    const shapes = new Set<string>(), unsupported: string[] = []
    let netlinkSteps = 0, ruleSteps = 0
    for (let k = 0; k < 40; k++) {
      const what = k === 0 ? anonymousSets(state) : step(state, r, k)
      const next = compile()
      const plan = planDiff(ir, next)
      await runText(viaText, plan.text)
      let via = 'nft'
      if (plan.commands) {
        try {
          await runCommands(viaNetlink, plan.commands)
          via = 'netlink'
        } catch (err) {
          if (!(err instanceof UnsupportedElements)) throw err
          unsupported.push(err.message.slice(0, 100))
        }
      }
      if (via === 'nft') await runText(viaNetlink, plan.text)
      else {
        netlinkSteps++
        if (plan.commands!.some((c) => !isElementCommand(c))) ruleSteps++
        for (const c of plan.commands!) {
          if (isElementCommand(c)) continue
          sentKinds.add(`${c.verb} ${c.kind}`)
          if (c.kind === 'set' && c.interval) sentKinds.add(`${c.verb} interval set`)
          if (c.kind === 'rule' && c.verb !== 'delete') { shapes.add(shape(c.rule)); sentShapes.add(shape(c.rule)) }
        }
      }
      const a = ruleset(viaNetlink.ns), b = ruleset(viaText.ns)
      t.deepEqual(a.json, b.json, `step ${k} (${what}, ${via}):\n${plan.text}`)
      t.is(a.text, b.text, `step ${k} (${what}, ${via}): text listing`)
      ir = next
    }
    // The test means something only if netlink carried chain rewrites of every kind and shape.
    t.log(`${netlinkSteps} of 40 steps over netlink, ${ruleSteps} with chains or rules; not encoded:\n${unsupported.join('\n')}\nshapes:\n${[...shapes].sort().join('\n')}`)
    t.true(ruleSteps >= 10, `${ruleSteps} steps with chains or rules went over netlink`)
  })
}

test.serial('every rule shape of the renderer went over netlink in the seeded runs (and the kernels agreed)', (t) => {
  // The vocabulary of rules.ts: peer sets both ways and families, tuples, ports, ranges, port sets,
  // port-less protocols, counters, every verdict a pod or tier chain uses. (`meta nfproto` alone, which
  // no NetworkPolicy here produces, is held by commands.test.ts's bytes.)
  const features: [string, RegExp][] = [
    ['ip saddr', /^ip saddr @S /], ['ip6 saddr', /^ip6 saddr @S /], ['ip daddr', /^ip daddr @S /], ['ip6 daddr', /^ip6 daddr @S /],
    ['ip tuple', /^ip daddr \. meta l4proto \. th dport @S /], ['ip6 tuple', /^ip6 daddr \. meta l4proto \. th dport @S /],
    ['a port', /meta l4proto tcp th dport N /], ['a range', /th dport N-N /], ['udp', /meta l4proto udp /], ['sctp', /meta l4proto sctp /],
    ['a protocol without ports', /meta l4proto (tcp|udp|sctp) counter/],
    ['accept', / accept comment$/], ['return', / return comment$/], ['drop', /@S counter name "…" drop comment$/], ['goto', /@S counter name "…" goto C comment$/],
    ['the end of a pod chain', /^counter name "…" drop$/], ['the end of a tier chain', /^goto C$/],
    ['a log rule (flow logs)', /ct state new counter name "…" limit name "…" counter name "…" log group N snaplen N prefix "…"$/],
    ['a named port set', /meta l4proto (tcp|udp|sctp) th dport @S /],
  ]
  // No anonymous set: a port list of two or more is a named set (compile/rules.ts sharePorts).
  t.false([...sentShapes].some((s) => /\{/.test(s)), 'a rule with an anonymous set went over netlink')
  for (const kind of ['add chain', 'flush chain', 'delete chain', 'add rule', 'add set', 'delete set', 'add counter', 'delete counter', 'add interval set']) t.true(sentKinds.has(kind), `no ${kind} was sent over netlink`)
  for (const [what, re] of features) t.true([...sentShapes].some((s) => re.test(s)), `no rule with ${what} went over netlink; sent:\n${[...sentShapes].sort().join('\n')}`)
})

test('a refused batch commits nothing and names the failing line; the commands before it are not committed', async (t) => {
  const x = tablesIn(t, 'e')
  await runText(x, 'table inet cinch {\n\tcounter c1 {\n\t}\n\tset s4 {\n\t\ttype ipv4_addr\n\t}\n\tchain c1 {\n\t}\n}\n')
  const before = ruleset(x.ns)
  const on = { family: 'inet', table: 'cinch' } as const
  const cmds: NftCommand[] = [
    { ...on, kind: 'counter', verb: 'add', name: 'c2' },
    { ...on, kind: 'chain', verb: 'add', name: 'c2', comment: 'new' },
    { ...on, kind: 'rule', verb: 'add', chain: 'c2', rule: 'ip saddr @s4 counter name "c2" accept comment "ok"' },
    { ...on, kind: 'rule', verb: 'add', chain: 'c2', rule: 'ip saddr @nosuch counter name "c2" accept comment "refused"' },
    { ...on, kind: 'chain', verb: 'flush', name: 'c1' },
  ]
  const err = await t.throwsAsync(runCommands(x, cmds), { instanceOf: NftError })
  t.true(isNotFound(err))
  t.is(err!.line, 4)
  t.is(err!.lineText, 'add rule inet cinch c2 ip saddr @nosuch counter name "c2" accept comment "refused"')
  t.deepEqual(ruleset(x.ns), before, 'nothing of the refused batch was committed')
  // A rule jumping to a chain the batch deletes: the kernel refuses the whole batch.
  const busy = await t.throwsAsync(runCommands(x, [{ ...on, kind: 'chain', verb: 'add', name: 'c3' }, { ...on, kind: 'rule', verb: 'add', chain: 'c3', rule: 'goto c1' }, { ...on, kind: 'chain', verb: 'delete', name: 'c1' }]), { instanceOf: NftError })
  t.is(busy!.line, 3)
  t.regex(busy!.stderr, /Device or resource busy/)
  t.deepEqual(ruleset(x.ns), before)
  // Something the encoder does not take throws before anything is sent.
  await t.throwsAsync(runCommands(x, [{ ...on, kind: 'chain', verb: 'add', name: 'c4' }, { ...on, kind: 'rule', verb: 'add', chain: 'c4', rule: 'ip saddr 10.0.0.0/8 accept' }]), { instanceOf: UnsupportedElements })
  t.deepEqual(ruleset(x.ns), before)
})

test('the applier sends chain rewrites over netlink, and replaces the tables whole when the kernel refuses one', async (t) => {
  const x = tablesIn(t, 'f')
  const warnings: { obj: object; msg: string }[] = []
  const applier = new Applier({ run: (text) => runText(x, text), runCommands: (c) => runCommands(x, c), log: { warn: (obj, msg) => warnings.push({ obj, msg }) } })
  const state = baseState()
  const compiler = new Compiler()
  const irOf = () => compiler.compile({ ...state, pods: new Map(state.pods), policies: new Map(state.policies) }, locals(state)).ir
  t.like(await applier.apply(irOf()), { mode: 'full' })
  state.policies.set('l/db', policy('l', 'db', { podSelector: { matchLabels: { role: 'db' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 't1' } } }], ports: [{ protocol: 'TCP', port: 5432 }] }] }))
  t.like(await applier.apply(irOf()), { mode: 'diff', via: 'netlink' })
  t.regex(nft(x.ns, 'list', 'chain', 'inet', 'cinch', Object.keys(applier.applied!.chains).find((n) => n.includes('ingress') && n.includes('p1'))!), /tcp dport 5432/)
  // Someone deletes the db policy's counter behind the agent's back: the next rewrite that names it is refused.
  const counter = nft(x.ns, 'list', 'counters').match(/counter (\S*-db) \{/)![1]!
  nft(x.ns, 'flush', 'chain', 'inet', 'cinch', Object.keys(applier.applied!.chains).find((n) => n.includes('ingress') && n.includes('p1'))!)
  nft(x.ns, 'delete', 'counter', 'inet', 'cinch', counter)
  state.policies.set('l/db', policy('l', 'db', { podSelector: { matchLabels: { role: 'db' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 't1' } } }], ports: [{ protocol: 'TCP', port: 5433 }] }] }))
  const next = irOf()
  t.like(await applier.apply(next), { mode: 'full' })
  t.is(warnings.length, 1)
  t.like(warnings[0], { msg: 'diff apply failed; replacing the tables whole', obj: { via: 'netlink' } })
  t.true(isNotFound((warnings[0]!.obj as { err: unknown }).err))
  const y = tablesIn(t, 'g')
  await runText(y, renderFull(next))
  t.deepEqual(ruleset(x.ns), ruleset(y.ns))
})

// Sets of addresses are created with a size (render/rules.ts setSize: twice their elements, at
// least 256), which the kernel enforces: an element past it is refused (ENFILE). The applier then
// replaces the tables whole, which sizes the set anew, and says why at info level, not as a failure.
test('a set that outgrows the size it was created with: the tables are replaced whole, the set sized anew', async (t) => {
  const x = tablesIn(t, 'h')
  const warnings: string[] = [], infos: { obj: object; msg: string }[] = []
  const applier = new Applier({ run: (text) => runText(x, text), runCommands: (c) => runCommands(x, c), log: { warn: (_obj, msg) => warnings.push(msg), info: (obj, msg) => infos.push({ obj, msg }) } })
  const state = baseState()
  const compiler = new Compiler()
  const irOf = () => compiler.compile({ ...state, pods: new Map(state.pods), policies: new Map(state.policies) }, locals(state)).ir
  const peerSet = () => Object.keys(applier.applied!.sets).find((n) => n.startsWith('peer-v4-') && applier.applied!.sets[n]!.comment.includes('app=a'))!
  t.like(await applier.apply(irOf()), { mode: 'full', via: 'netlink' })
  const name = peerSet()
  t.regex(nft(x.ns, 'list', 'set', 'inet', 'cinch', name), /size 256\b/)
  // 300 more pods with app=a: the set would hold 301 elements.
  for (let i = 0; i < 300; i++) state.pods.set(`r0/y${i}`, { namespace: 'r0', name: `y${i}`, labels: { app: 'a' }, ips: [`10.3.${i >> 8}.${i & 255}`], ports: [] })
  const next = irOf()
  t.is(next.sets[name]!.elements.length, 301)
  t.like(await applier.apply(next), { mode: 'full', via: 'netlink' })
  t.deepEqual(warnings, [])
  t.is(infos.length, 1)
  t.like(infos[0], { msg: 'a set outgrew the size it was created with; replacing the tables whole', obj: { via: 'netlink' } })
  t.regex((infos[0]!.obj as { reason: string }).reason, /Too many open files in system/) // ENFILE
  const listed = nft(x.ns, 'list', 'set', 'inet', 'cinch', name)
  t.regex(listed, /size 1024\b/)
  t.is(listed.match(/10\.3\.\d+\.\d+/g)!.length, 300)
  // The same through nft's text: the replace's text sizes it the same way.
  const y = tablesIn(t, 'i')
  await runText(y, renderFull(next))
  t.deepEqual(ruleset(x.ns), ruleset(y.ns))
  // And later diffs go on over netlink.
  state.pods.delete('r0/y0')
  t.like(await applier.apply(irOf()), { mode: 'diff', via: 'netlink' })
})

// A replace sizes each set at least as large as it is in the kernel (RenderOptions.setSizes): a
// set that shrank keeps its size, and growing back to where it was is a diff, not one more
// replace (sizes from each replace's counts alone made one replace per shrink and regrowth).
test('a set that shrank keeps its size across a replace: growing back is a diff', async (t) => {
  const x = tablesIn(t, 'j')
  const infos: string[] = []
  const applier = new Applier({ run: (text) => runText(x, text), runCommands: (c) => runCommands(x, c), log: { warn: () => {}, info: (_obj, msg) => infos.push(msg) } })
  const state = baseState()
  state.policies.set('l/b', policy('l', 'b', { podSelector: { matchLabels: { role: 'db' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'b' } }, namespaceSelector: {} }] }] }))
  const compiler = new Compiler()
  const irOf = () => compiler.compile({ ...state, pods: new Map(state.pods), policies: new Map(state.policies) }, locals(state)).ir
  const setOf = (app: string) => Object.keys(applier.applied!.sets).find((n) => n.startsWith('peer-v4-') && applier.applied!.sets[n]!.comment.includes(`app=${app}`))!
  const grow = (app: string, net: number) => { for (let i = 0; i < 300; i++) state.pods.set(`r0/${app}${i}`, { namespace: 'r0', name: `${app}${i}`, labels: { app }, ips: [`10.${net}.${i >> 8}.${i & 255}`], ports: [] }) }
  const shrink = (app: string) => { for (let i = 0; i < 300; i++) state.pods.delete(`r0/${app}${i}`) }
  const replaced = 'a set outgrew the size it was created with; replacing the tables whole'
  t.like(await applier.apply(irOf()), { mode: 'full' })
  const a = setOf('a'), b = setOf('b')
  grow('a', 3)
  t.like(await applier.apply(irOf()), { mode: 'full' }) // a outgrew 256
  t.regex(nft(x.ns, 'list', 'set', 'inet', 'cinch', a), /size 1024\b/)
  shrink('a')
  t.like(await applier.apply(irOf()), { mode: 'diff' })
  grow('b', 4)
  t.like(await applier.apply(irOf()), { mode: 'full' }) // b outgrew 256; a holds 1 address now
  t.regex(nft(x.ns, 'list', 'set', 'inet', 'cinch', a), /size 1024\b/, 'a keeps the size it had')
  t.regex(nft(x.ns, 'list', 'set', 'inet', 'cinch', b), /size 1024\b/)
  grow('a', 3)
  t.like(await applier.apply(irOf()), { mode: 'diff', via: 'netlink' }, 'a grows back within its size')
  t.deepEqual(infos, [replaced, replaced])
})
