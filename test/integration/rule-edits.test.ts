// A big pod chain (one tenant's many small policies on one pod) changed rule by rule in the real
// kernel (render/rule-edits.ts, the applier's rule handles): after it was written whole once, each
// change of one policy deletes and inserts only that policy's rules, and the kernel holds exactly
// what a full replace of the same IR holds (a second namespace, compared in JSON and nft's text,
// rule order included). Other tables' commits change nothing; a rule of ours someone deleted makes
// the next edit fail, and the tables are replaced whole. Echoes past the receive buffer drop.
import test from 'ava'
import { execFileSync } from 'node:child_process'
import { Compiler } from '../../policy-agent/compile/index.js'
import type { ClusterState, LocalPod, NetworkPolicy } from '../../policy-agent/model/cluster.js'
import { renderFull } from '../../policy-agent/render/index.js'
import { MAX_INSERTED, RULE_EDIT_MIN } from '../../policy-agent/render/rule-edits.js'
import { Applier } from '../../policy-agent/apply/applier.js'
import { cinchTablesIn, listedRuleset } from '../kit/nft-kernel.js'
import { clusterOf, policy } from '../kit/policy-state.js'
import { NFT } from '../kit/proc.js'
import { rng } from '../kit/random.js'
import { readGeneration } from '../../lib/nft/generation.js'
import { nsPath } from '../kit/netns.js'
import { NFNL_SUBSYS, NfnlSocket } from '../../lib/net/nfnetlink.js'
import { withNetns } from '../../lib/net/netns.js'
import { elementBatch } from '../../lib/nft/elements-netlink.js'
import { decodeRuleHandle } from '../../lib/nft/rule-handles.js'

const N = 150 // two rules each (one per family): a chain of 2N + 1 rules
const small = (i: number, port = 1000 + i): NetworkPolicy => policy('t', `p${String(i).padStart(3, '0')}`, {
  podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { peer: String(i % 5) } } }], ports: [{ protocol: 'TCP', port }] }],
})
const CHAIN = 'pod-ingress-t-a'
const locals: LocalPod[] = [{ namespace: 't', name: 'a', ips: ['10.1.0.1', 'fd00:1::1'], hostVeth: 'cinchta' }, { namespace: 't', name: 'b', ips: ['10.1.0.2', 'fd00:1::2'], hostVeth: 'cinchtb' }]
const state = (policies: NetworkPolicy[]): ClusterState => clusterOf({
  namespaces: { t: {} },
  pods: {
    't/a': { labels: { app: 'a' }, ips: ['10.1.0.1', 'fd00:1::1'] },
    't/b': { labels: { app: 'b' }, ips: ['10.1.0.2', 'fd00:1::2'] },
    ...Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`t/q${i}`, { labels: { peer: String(i) }, ips: [`10.1.1.${i + 1}`, `fd00:1:1::${i + 1}`] }])),
  },
  policies,
})

test('a big chain is changed rule by rule once written, and holds what a full replace holds; others\' commits and deleted rules are survived', async (t) => {
  const x = cinchTablesIn(t, 'cinch-t-re')
  const ref = cinchTablesIn(t, 'cinch-t-rf')
  const warnings: string[] = []
  const applier = new Applier({
    run: (text) => x.policy.runText(text, { also: [x.bridge] }),
    runCommands: (cmds, o) => x.policy.runCommands(cmds, { also: [x.bridge], ...o }),
    ruleHandles: (chain) => x.policy.ruleHandles(chain),
    log: { warn: (_o, msg) => warnings.push(msg), info: (o, msg) => t.log(msg, JSON.stringify(o)) },
  })
  const compiler = new Compiler()
  const policies = new Map(Array.from({ length: N }, (_, i) => [i, small(i)]))
  // The kernel lists objects in the order they were made (a diff's new ones last, a replace's in
  // its order): compared sorted, except each chain's rules, in the chain's order (a stable sort by
  // chain name).
  const comparable = (ns: string) => {
    const nftables = listedRuleset(ns).json as object[]
    const rules = nftables.filter((o) => 'rule' in o), others = nftables.filter((o) => !('rule' in o))
    const chainOf = (o: object) => (o as { rule: { chain: string } }).rule.chain
    return [...others.map((o) => JSON.stringify(o)).sort(), ...rules.sort((a, b) => chainOf(a).localeCompare(chainOf(b)))]
  }
  const chainText = (ns: string) => execFileSync('ip', ['netns', 'exec', ns, NFT, 'list', 'chain', 'inet', 'cinch', CHAIN], { encoding: 'utf8' })
  const compare = () => {
    t.deepEqual(comparable(x.ns), comparable(ref.ns))
    t.is(chainText(x.ns), chainText(ref.ns))
  }
  const apply = async (o = { compare: true }) => {
    const { ir } = compiler.compile(state([...policies.values()]), locals)
    const r = await applier.apply(ir)
    // The reference: the same IR as a full replace, in a namespace of its own.
    await ref.policy.runText(renderFull(ir), { also: [ref.bridge] })
    if (o.compare) compare()
    return r
  }
  const chainLength = () => execFileSync('ip', ['netns', 'exec', x.ns, NFT, '-a', 'list', 'chain', 'inet', 'cinch', CHAIN], { encoding: 'utf8' }).split('\n').filter((l) => /# handle \d+$/.test(l.trim()) && !l.includes('chain ')).length

  t.is((await apply()).mode, 'full')
  t.true(chainLength() >= RULE_EDIT_MIN, `the chain holds ${chainLength()} rules`)
  // The replace read the big chain's handles: the first change is rule by rule already.
  policies.set(75, small(75, 5000))
  const first = await apply()
  t.is(first.mode, 'diff')
  t.true(first.lines <= 6, `${first.lines} lines`)

  // From then on: a changed policy's own rules, a new one's, a deleted one's; random, 30 steps.
  const r = rng(7)
  let next = N
  const lines: number[] = []
  for (let step = 0; step < 30; step++) {
    const keys = [...policies.keys()]
    const k = keys[r(keys.length)]!
    const what = r(3)
    if (what === 0) policies.set(k, small(k, 20000 + step))
    else if (what === 1) policies.set(next, small(next++))
    else policies.delete(k)
    const res = await apply()
    lines.push(res.lines)
    t.true(res.lines <= 6, `step ${step}: ${res.lines} lines (${['update', 'create', 'delete'][what]})`)
  }
  t.log(`lines per change: ${lines.join(' ')}`)
  t.deepEqual(warnings, [])

  // A chain that grows past RULE_EDIT_MIN in a diff (t/b: one policy of K peers, 2K + 1 rules) is
  // written whole, its handles read after the commit; its next change is rule by rule.
  const wideB = (k: number) => policy('t', 'b-wide', { podSelector: { matchLabels: { app: 'b' } }, ingress: [{ from: Array.from({ length: k }, (_, i) => ({ podSelector: { matchLabels: { peer: String(i % 5), n: String(i) } } })) }] })
  policies.set(-1, wideB(60))
  await apply()
  policies.set(-1, wideB(140))
  t.true((await apply()).lines > 2 * 140, 'grown past the bound: written whole')
  policies.set(-1, wideB(141))
  const grown = await apply()
  t.true(grown.lines <= 8, `then rule by rule: ${grown.lines} lines (its two rules, two sets)`)

  // The most one edit inserts (MAX_INSERTED): a policy of 64 peers, 128 rules, each echoed with
  // its handle; every handle came back, so the change after it is rule by rule again.
  policies.set(next, policy('t', `p${next++}`, {
    podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: Array.from({ length: MAX_INSERTED / 2 }, (_, i) => ({ podSelector: { matchLabels: { peer: `w${i}` } } })), ports: [{ protocol: 'TCP', port: 7 }] }],
  }))
  const wide = await apply()
  // its 128 rules, 128 peer sets (64 peers, two families) and its counter; no flush of the chain
  t.is(wide.lines, 2 * MAX_INSERTED + 1)
  policies.set(next - 2, small(next - 2, 31000))
  t.true((await apply()).lines <= 6, 'after 128 echoed rules: rule by rule')

  // Other tables' commits (kube-proxy's, on a node) change no handle of ours: still rule by rule.
  execFileSync('ip', ['netns', 'exec', x.ns, NFT, 'add', 'table', 'inet', 'other'])
  execFileSync('ip', ['netns', 'exec', x.ns, NFT, 'add', 'chain', 'inet', 'other', 'c'])
  const k0 = [...policies.keys()][0]!
  policies.set(k0, small(k0, 30001))
  t.true((await apply({ compare: false })).lines <= 6, 'after another table\'s commits: still rule by rule')
  execFileSync('ip', ['netns', 'exec', x.ns, NFT, 'delete', 'table', 'inet', 'other'])
  compare()

  // Someone deleted the rule of ours an edit inserts before (the first rule after a policy's): the
  // kernel refuses the edit (the handle is gone), and the applier replaces the tables whole.
  const listing = execFileSync('ip', ['netns', 'exec', x.ns, NFT, '-a', 'list', 'chain', 'inet', 'cinch', CHAIN], { encoding: 'utf8' }).split('\n')
  const k = [...policies.keys()].sort((a, b) => a - b)[3]!
  const name = `p${String(k).padStart(3, '0')}`
  let last = -1
  listing.forEach((l, i) => { if (l.includes(`-${name}"`)) last = i })
  const after = /# handle (\d+)$/.exec(listing[last + 1]!.trim())
  t.truthy(after, `a rule after ${name}'s: ${listing[last + 1]}`)
  execFileSync('ip', ['netns', 'exec', x.ns, NFT, 'delete', 'rule', 'inet', 'cinch', CHAIN, 'handle', after![1]!])
  policies.set(k, small(k, 30004))
  t.is((await apply()).mode, 'full')
  t.deepEqual(warnings, ['diff apply failed; replacing the tables whole'])
  // and the handles are read anew right after the replace: the next change is rule by rule
  policies.set(k, small(k, 30005))
  t.true((await apply()).lines <= 6, 'after the replace: rule by rule')

  // A restarted agent that adopts the tables (its proof says the kernel holds its IR) reads the
  // big chain's handles too: its first change is rule by rule, and the kernel still matches.
  const { ir } = compiler.compile(state([...policies.values()]), locals)
  const adopting = new Applier({
    run: (text) => x.policy.runText(text, { also: [x.bridge] }),
    runCommands: (cmds, o) => x.policy.runCommands(cmds, { also: [x.bridge], ...o }),
    ruleHandles: (chain) => x.policy.ruleHandles(chain),
    prove: async () => ({ holds: true, genId: await readGeneration({ netns: nsPath(x.ns) }) }),
    log: { warn: (_o, msg) => warnings.push(msg), info: (o, msg) => t.log(msg, JSON.stringify(o)) },
  })
  t.is((await adopting.apply(ir)).mode, 'adopted')
  policies.set(k, small(k, 30006))
  const changed = compiler.compile(state([...policies.values()]), locals).ir
  t.true((await adopting.apply(changed)).lines <= 6, 'adopted: rule by rule from the first change')
  await ref.policy.runText(renderFull(changed), { also: [ref.bridge] })
  compare()
  t.deepEqual(warnings, ['diff apply failed; replacing the tables whole'])
})

// Echoes past the receive buffer: with NETLINK_NO_ENOBUFS (lib/net/sockopt.ts) the kernel drops
// what does not fit, and the batch settles; without it the next read fails with ENOBUFS, which
// the `netlink` binding cannot report without aborting the process (seen: a 380-rule batch on a
// default buffer killed it). A small buffer here makes the overflow certain.
test('more echoed rules than the receive buffer holds drop, and the process and its socket go on', async (t) => {
  const x = cinchTablesIn(t, 'cinch-t-rx')
  const T = { family: 'inet', table: 'cinch' } as const
  await x.policy.runCommands([{ ...T, kind: 'table', verb: 'add' }, { ...T, kind: 'chain', verb: 'add', name: 'c', comment: 'c' }])
  const sock = withNetns(nsPath(x.ns), () => new NfnlSocket({ recvBufferSize: 16 * 1024, noEnobufs: true }))
  t.teardown(() => sock.close())
  const send = (n: number) => {
    const b = elementBatch(Array.from({ length: n }, (_, i) => ({ ...T, kind: 'rule' as const, verb: 'add' as const, chain: 'c', rule: `meta l4proto tcp th dport ${1 + i} accept`, echo: true })))
    let echoes = 0
    const done = sock.batch(b.messages.map(({ m }) => ({ subsys: NFNL_SUBSYS.NFTABLES, msg: m.msg, family: m.family, flags: m.flags, attrs: m.attrs })), { resId: NFNL_SUBSYS.NFTABLES, ackLastOnly: true, timeoutMs: 2000, echo: (m) => { if (decodeRuleHandle(m)) echoes++ } })
    return done.then((r) => ({ ok: r.batchErrno === 0 && r.errnos.every((e) => e === 0), echoes }), (err: Error) => ({ ok: false, echoes, err: err.message }))
  }
  const flood = await send(400)
  t.log(flood)
  t.true(flood.echoes < 400, 'the buffer overflowed')
  // settled either way: committed (its answer fit) or timed out (its answer was dropped)
  t.true(flood.ok || /no answer within/.test((flood as { err?: string }).err ?? ''), JSON.stringify(flood))
  const after = await send(2)
  t.deepEqual(after, { ok: true, echoes: 2 })
})
