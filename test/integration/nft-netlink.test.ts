// Element diffs over nf_tables netlink (lib/nft/elements-netlink.ts) against the real kernel:
// random pod, namespace and local-pod changes are compiled and diffed by the agent's own code;
// each element-only diff goes through netlink into one namespace and through nft's text path
// into another, and the two rulesets must be the same after every step. Also: a refused batch
// commits nothing and reports like nft (isNotFound / isExists, the failing line), and the applier
// falls back to a full replace when the kernel no longer holds what it thinks.
import test, { type ExecutionContext } from 'ava'
import { execFileSync } from 'node:child_process'
import { Compiler } from '../../policy-agent/compile/index.js'
import type { ClusterState, LocalPod, Pod } from '../../policy-agent/model/cluster.js'
import { elementCommandsOf, planDiff, renderFull } from '../../policy-agent/render/index.js'
import { Applier } from '../../policy-agent/apply/applier.js'
import { NftTable, NftError, isExists, isNotFound, type ElementCommand } from '../../lib/nft/index.js'
import { clusterOf, policy } from '../kit/policy-state.js'
import { cinchTablesIn, comparableRuleset } from '../kit/nft-kernel.js'
import { NFT } from '../kit/proc.js'
import { rng } from '../kit/random.js'

interface Tables { ns: string; policy: NftTable; bridge: NftTable }

const tablesIn = (t: ExecutionContext, tag: string): Tables => cinchTablesIn(t, `cinch-t-nl${tag}`)
const runText = (x: Tables, text: string) => x.policy.runText(text, { also: [x.bridge] })
const runElements = (x: Tables, cmds: ElementCommand[]) => x.policy.runCommands(cmds, { also: [x.bridge] })

const ruleset = comparableRuleset


const APPS = ['a', 'b', 'c']
const http = [{ name: 'http', containerPort: 8080, protocol: 'TCP' as const }]

/** Namespaces l (local pods, isolated by policies), o (local pods no policy selects), r0..r2 (remote pods). */
function baseState(): ClusterState {
  return clusterOf({
    namespaces: { l: {}, o: {}, r0: { team: 't1' }, r1: { team: 't2' }, r2: {} },
    pods: {
      'l/p0': { labels: { role: 'web' }, ips: ['10.1.0.1', 'fd00:1::1'], ports: http },
      'l/p1': { labels: { role: 'db' }, ips: ['10.1.0.2'] },
      'o/q0': { ips: ['10.1.1.1', 'fd00:1:1::1'] },
      'r0/x0': { labels: { app: 'a' }, ips: ['10.2.0.1', 'fd00:2::1'], ports: http },
      'r1/x0': { labels: { app: 'b' }, ips: ['10.2.1.1'], ports: http },
      'r2/x0': { labels: { app: 'c' }, ips: ['fd00:2:2::1'] },
    },
    policies: [
      policy('l', 'web', {
        podSelector: { matchLabels: { role: 'web' } }, policyTypes: ['Ingress', 'Egress'],
        ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'a' } } }] }, { from: [{ ipBlock: { cidr: '192.168.0.0/16', except: ['192.168.1.0/24'] } }] }],
        egress: [{ to: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'b' } } }], ports: [{ port: 'http' }] }],
      }),
      policy('l', 'db', {
        podSelector: { matchLabels: { role: 'db' } }, policyTypes: ['Ingress'],
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 't1' } } }] }],
      }),
    ],
  })
}

const veth = (p: { namespace: string; name: string }) => `cinch${p.namespace}${p.name}`.slice(0, 15)
const locals = (s: ClusterState): LocalPod[] =>
  [...s.pods.values()].filter((p) => p.namespace === 'l' || p.namespace === 'o').map((p) => ({ namespace: p.namespace, name: p.name, ips: p.ips, hostVeth: veth(p) }))

/** One random change that the compiler turns into set or map elements (or, rarely, more). */
function step(s: ClusterState, r: (n: number) => number, k: number): string {
  const remote = [...s.pods.values()].filter((p) => p.namespace.startsWith('r'))
  const ips = (): string[] => [[`10.3.${k}.${1 + r(200)}`], [`fd00:3::${k.toString(16)}:${(1 + r(200)).toString(16)}`], [`10.3.${k}.${1 + r(200)}`, `fd00:3::${k.toString(16)}:1`]][r(3)]!
  const put = (p: Pod) => s.pods.set(`${p.namespace}/${p.name}`, p)
  switch (r(6)) {
    case 0: { // a remote pod's app label
      const p = remote[r(remote.length)]
      if (!p) return 'none'
      put({ ...p, labels: { app: APPS[r(3)]! } })
      return 'relabel'
    }
    case 1: { // a new remote pod, maybe serving the named port
      put({ namespace: `r${r(3)}`, name: `n${k}`, labels: { app: APPS[r(3)]! }, ips: ips(), ports: r(2) ? http : [] })
      return 'create'
    }
    case 2: { // a remote pod deleted
      const p = remote[r(remote.length)]
      if (!p || remote.length < 3) return 'none'
      s.pods.delete(`${p.namespace}/${p.name}`)
      return 'delete'
    }
    case 3: { // a namespace changes team
      const n = `r${r(3)}`
      s.namespaces.set(n, { name: n, labels: { team: `t${1 + r(2)}` } })
      return 'namespace'
    }
    case 4: { // a local pod gets new addresses (verdict maps, anti-spoofing)
      const p = s.pods.get(['l/p0', 'l/p1', 'o/q0'][r(3)]!)!
      put({ ...p, ips: ips() })
      return 'local-ips'
    }
    default: { // a local pod no policy selects comes or goes (veths, anti-spoofing)
      const key = `o/q${1 + r(2)}`
      if (s.pods.has(key)) s.pods.delete(key)
      else put({ namespace: 'o', name: key.slice(2), labels: {}, ips: ips(), ports: [] })
      return 'local-pod'
    }
  }
}

for (const seed of [1, 2]) {
  test(`seed ${seed}: element diffs over netlink leave the kernel as nft's text path does`, async (t) => {
    const viaText = tablesIn(t, 'a'), viaNetlink = tablesIn(t, 'b')
    const r = rng(seed)
    const state = baseState()
    const compiler = new Compiler()
    let ir = compiler.compile(state, locals(state)).ir
    await runText(viaText, renderFull(ir))
    await runText(viaNetlink, renderFull(ir))
    const sent = new Set<string>()
    let netlinkSteps = 0
    for (let k = 0; k < 30; k++) {
      const what = step(state, r, k)
      const next = compiler.compile({ ...state, pods: new Map(state.pods), namespaces: new Map(state.namespaces) }, locals(state)).ir
      const plan = planDiff(ir, next)
      await runText(viaText, plan.text)
      const elements = elementCommandsOf(plan)
      if (elements) {
        const committed = await runElements(viaNetlink, elements)
        // the kernel's round trip, which the agent logs apart from its own work
        t.true(committed.kernelMs! > 0 && committed.kernelMs! < 10_000, `kernelMs ${committed.kernelMs}`)
        netlinkSteps++
        for (const c of elements) sent.add(`${c.verdict ? 'map' : 'set'} ${c.key.join(' . ')}`)
      } else await runText(viaNetlink, plan.text)
      t.deepEqual(ruleset(viaNetlink.ns), ruleset(viaText.ns), `step ${k} (${what}):\n${plan.text}`)
      ir = next
    }
    // The test means something only if the netlink path carried most steps and every key kind.
    t.true(netlinkSteps >= 15, `${netlinkSteps} of 30 steps went over netlink`)
    for (const kind of ['set ipv4_addr', 'set ipv6_addr', 'set ipv4_addr . inet_proto . inet_service', 'map ipv4_addr', 'map ipv6_addr', 'set ifname', 'set ifname . ipv4_addr', 'set ifname . ipv6_addr', 'set ifname . raw128']) {
      t.true(sent.has(kind), `no ${kind} command was sent (sent: ${[...sent].join(', ')})`)
    }
  })
}

test('a refused batch commits nothing and reports like nft: ENOENT element, ENOENT set, EEXIST map element', async (t) => {
  const x = tablesIn(t, 'e')
  await x.policy.runText('table inet cinch {\n\tchain c1 {\n\t}\n\tchain c2 {\n\t}\n\tset s4 {\n\t\ttype ipv4_addr\n\t}\n\tmap m4 {\n\t\ttype ipv4_addr : verdict\n\t\telements = { 10.0.0.1 : jump c1 }\n\t}\n}\n')
  const cmd = (c: Partial<ElementCommand>): ElementCommand => ({ verb: 'add', family: 'inet', table: 'cinch', set: 's4', key: ['ipv4_addr'], elements: ['10.9.9.9'], ...c })
  const before = ruleset(x.ns)

  let err = await t.throwsAsync(runElements(x, [cmd({}), cmd({ verb: 'delete', elements: ['10.8.8.8'] })]), { instanceOf: NftError })
  t.true(isNotFound(err))
  t.is(err!.line, 2)
  t.is(err!.lineText, 'delete element inet cinch s4 { 10.8.8.8 }')
  t.regex(err!.stderr, /^line 2:1-\d+: Error: Could not process rule: No such file or directory/)
  t.deepEqual(ruleset(x.ns), before, 'the first command of the refused batch was not committed')

  err = await t.throwsAsync(runElements(x, [cmd({ set: 'nosuchset' })]), { instanceOf: NftError })
  t.true(isNotFound(err))

  // The same address jumping elsewhere: the kernel refuses it (nft's text path says the same).
  const clash = cmd({ set: 'm4', verdict: true, elements: ['10.0.0.1 : jump c2'] })
  err = await t.throwsAsync(runElements(x, [clash]), { instanceOf: NftError })
  t.true(isExists(err), err!.message)
  const textErr = await t.throwsAsync(x.policy.runText(`add element inet cinch m4 { 10.0.0.1 : jump c2 }\n`), { instanceOf: NftError })
  t.true(isExists(textErr))
  t.deepEqual(ruleset(x.ns), before)

  // What nft accepts, this path accepts the same way: an element already there is no error.
  await runElements(x, [cmd({ set: 'm4', verdict: true, elements: ['10.0.0.1 : jump c1'] }), cmd({})])
  t.regex(execFileSync('ip', ['netns', 'exec', x.ns, NFT, 'list', 'set', 'inet', 'cinch', 's4'], { encoding: 'utf8' }), /10\.9\.9\.9/)
  // Only the tables it was given.
  await t.throwsAsync(runElements(x, [cmd({ table: 'other' })]), { message: /may only name inet cinch, bridge cinch/ })
})

test('the applier sends element-only diffs over netlink, and replaces the tables whole when the kernel refuses one', async (t) => {
  const x = tablesIn(t, 'f')
  const warnings: { obj: object; msg: string }[] = []
  const applier = new Applier({ run: (text) => runText(x, text), runCommands: (c) => runElements(x, c as ElementCommand[]), log: { warn: (obj, msg) => warnings.push({ obj, msg }) } })
  const state = baseState()
  const compiler = new Compiler()
  const irOf = () => compiler.compile({ ...state, pods: new Map(state.pods) }, locals(state)).ir
  t.like(await applier.apply(irOf()), { mode: 'full' })
  state.pods.set('r2/x9', { namespace: 'r2', name: 'x9', labels: { app: 'a' }, ips: ['10.4.0.9'], ports: [] })
  t.like(await applier.apply(irOf()), { mode: 'diff', via: 'netlink' })
  // Someone removes the element behind the agent's back: deleting it again is refused (ENOENT).
  execFileSync('ip', ['netns', 'exec', x.ns, NFT, 'flush', 'set', 'inet', 'cinch', Object.keys(applier.applied!.sets).find((n) => applier.applied!.sets[n]!.elements.includes('10.4.0.9'))!])
  state.pods.delete('r2/x9')
  const next = irOf()
  t.like(await applier.apply(next), { mode: 'full' })
  t.is(warnings.length, 1)
  t.like(warnings[0], { msg: 'diff apply failed; replacing the tables whole', obj: { via: 'netlink' } })
  t.true(isNotFound((warnings[0]!.obj as { err: unknown }).err))
  // The kernel holds exactly what a full render of the last IR gives.
  const y = tablesIn(t, 'g')
  await runText(y, renderFull(next))
  t.deepEqual(ruleset(x.ns), ruleset(y.ns))
})
