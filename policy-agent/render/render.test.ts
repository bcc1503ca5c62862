// The renderer: golden text for a small state and renderDiff on typical changes. What needs the
// kernel (nft's own parser on the text, renderDiff == renderFull once applied) is the integration
// test test/integration/render-kernel.test.ts.
import { describe, expect, test } from 'vitest'
import { compile } from '../compile/index.js'
import { allLocal, hostileState, policy, smallState as small } from '../../test/kit/policy-state.js'
import type { ClusterState, LocalPod } from '../model/cluster.js'
import { elementCommandsOf, planDiff, renderDiff, renderFull } from './index.js'
import { elementCommandText } from '../../lib/nft/elements.js'
import { MAP_NAMES } from '../compile/ir.js'

const localsOf = (s: ClusterState, only?: string[]): LocalPod[] =>
  allLocal(s).filter((p) => p.namespace === 'x' && (!only || only.includes(`${p.namespace}/${p.name}`)))
const irOf = (s: ClusterState, only?: string[]) => compile(s, localsOf(s, only)).ir

describe('renderFull', () => {
  test('golden text of a small state', async () => {
    await expect(renderFull(irOf(small()))).toMatchFileSnapshot('./__golden__/small.nft')
  })
  test('every programmed veth may send from its own addresses only, fail open or not', () => {
    for (const failOpen of [false, true]) {
      const text = renderFull(irOf(small()), { failOpen })
      expect(text).toContain('elements = { "cinchxa" . 10.0.1.1, "cinchxb" . 10.0.1.2 }')
      expect(text).toContain('elements = { "cinchxa" . fd00::1:1, "cinchxb" . fd00::1:2 }')
      // A pod's own IPv4 decides first (every frame from a pod walks this chain), then the rest.
      expect(text).toMatch(/chain prerouting \{\n\t\ttype filter hook prerouting priority filter; policy accept;\n\t\tmeta protocol ip iifname \. ip saddr @pod-v4 accept\n\t\tiifname != @veths accept\n\t\ticmpv6 type nd-neighbor-advert [^\n]* drop\n\t\tmeta protocol ip6 iifname \. ip6 saddr @pod-v6 accept\n/)
      expect(text).toMatch(/\t\tcounter name "drop-spoofed" drop\n\t\}/)
    }
  })
  test('fail open leaves the veth guard out', () => {
    const closed = renderFull(irOf(small())), open = renderFull(irOf(small()), { failOpen: true })
    expect(closed).toContain('iifname "cinch*" iifname != @veths counter name "drop-unprogrammed" drop')
    expect(open).not.toContain('"cinch*"')
    // No empty base chains either: the kernel would call each for every frame on its hook.
    const bridge = (t: string) => t.slice(t.indexOf('table bridge cinch {'))
    expect(bridge(closed).match(/hook \w+/g)).toEqual(['hook prerouting', 'hook forward', 'hook input', 'hook output'])
    expect(bridge(open).match(/hook \w+/g)).toEqual(['hook prerouting'])
  })
  test('a TCP packet that starts a conntrack entry without SYN is dropped for pods under policy, before the verdict maps', () => {
    // A connection whose entry the agent removed must not be revived in the reverse direction.
    const text = renderFull(irOf(small()))
    const chain = (name: string) => text.slice(text.indexOf(`\tchain ${name} {`), text.indexOf('\t}', text.indexOf(`\tchain ${name} {`)))
    const guard = 'ct state new tcp flags & (fin | syn | rst | ack) != syn'
    const fwd = chain('forward')
    // The test once per packet in the base chain, the lookups in a chain of their own, in order.
    expect(fwd).toContain(`${guard} jump midstream-forward`)
    // In plain sets of the verdict maps' addresses: a lookup in a map makes every commit validate
    // the chains it jumps to (rules.ts isolatedSetName).
    expect(chain('midstream-forward').split('\n').filter((l) => l.includes('drop'))).toEqual(['ingress', 'egress'].flatMap((m) => ['saddr', 'daddr'].flatMap((e) =>
      [`\t\tip ${e} @isolated-${m}-v4 drop`, `\t\tip6 ${e} @isolated-${m}-v6 drop`])))
    const ir = irOf(small())
    for (const m of MAP_NAMES) {
      const set = text.slice(text.indexOf(`\tset isolated-${m} {`), text.indexOf('\t}', text.indexOf(`\tset isolated-${m} {`)))
      const keys = Object.keys(ir.maps[m])
      expect(set).toContain(keys.length ? `elements = { ${keys.join(', ')} }` : `type ${m.endsWith('v4') ? 'ipv4_addr' : 'ipv6_addr'}\n`)
    }
    expect(Object.keys(ir.maps['ingress-v4']).length).toBeGreaterThan(0)
    expect(fwd.indexOf(guard)).toBeLessThan(fwd.indexOf('vmap'))
    expect(fwd.indexOf('ct state established,related accept')).toBeLessThan(fwd.indexOf(guard))
    // The node's own packets are only held to it towards egress-isolated pods, and only mid-stream.
    expect(chain('output').split('\n').slice(2).filter(Boolean)).toEqual([`\t\t${guard} jump midstream-output`])
    expect(chain('midstream-output').split('\n').filter((l) => l.includes('drop'))).toEqual([`\t\tip daddr @isolated-egress-v4 drop`, `\t\tip6 daddr @isolated-egress-v6 drop`])
  })
  test('replaces only cinch tables, atomically declared then deleted then filled', () => {
    const text = renderFull(irOf(small()))
    expect(text.split('\n').slice(0, 3)).toEqual(['table inet cinch', 'delete table inet cinch', 'table inet cinch {'])
    expect(text.match(/^(?:table|delete table) \S+ \S+/gm)!.every((l) => / (inet|bridge) cinch$/.test(l))).toBe(true)
    expect(text).not.toMatch(/flush ruleset/)
  })
})

describe('hostile names (manifests are not checked by an API server)', () => {
  const hostile = hostileState()
  const ir = compile(hostile, allLocal(hostile)).ir
  const text = renderFull(ir)
  test('names are nft identifiers of at most 200 characters, comments at most 120 printable bytes', () => {
    const names = [...Object.keys(ir.chains), ...Object.keys(ir.sets), ...Object.values(ir.policyCounters), ...Object.values(ir.chains).map((c) => c.dropCounter)]
    for (const n of names) {
      expect(n).toMatch(/^[a-z][a-z0-9_.-]*$/)
      expect(n.length).toBeLessThanOrEqual(200)
    }
    for (const [, c] of text.matchAll(/comment "([^"]*)"/g)) {
      expect(Buffer.byteLength(c!)).toBeLessThanOrEqual(120)
      expect(c).toMatch(/^[\x20-\x7e]*$/)
    }
    expect(Object.keys(ir.chains).some((n) => n.startsWith('pod-ingress-ns-ppp') && /-[0-9a-f]{10}$/.test(n))).toBe(true)
  })
})

describe('renderDiff', () => {
  const before = irOf(small())
  test('nothing changed: empty', () => expect(renderDiff(before, irOf(small()))).toBe(''))
  test('a label change only adds the pod to the peer sets', () => {
    const after = irOf(small({ labels: { 'y/b': { app: 'client' } } }))
    const lines = renderDiff(before, after).trim().split('\n')
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(/^add element inet cinch peer-v4-\w+ \{ 10\.0\.2\.2 \}$/)
    expect(lines[1]).toMatch(/^add element inet cinch tuple-v4-\w+ \{ 10\.0\.2\.2 \. tcp \. 8080 \}$|^add element inet cinch peer-v4/)
  })
  test('a new policy adds its counter, sets, chain and map entries and leaves other chains alone', () => {
    const extra = policy('x', 'new', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ ipBlock: { cidr: '172.16.0.0/12' } }] }] })
    const after = irOf(small({ policies: [...small().policies.values(), extra] }))
    const diff = renderDiff(before, after)
    expect(diff).toContain('add counter inet cinch policy-x-new')
    expect(diff).toMatch(/add set inet cinch block-v4-\w+ \{ type ipv4_addr; flags interval;/)
    expect(diff).toContain('flush chain inet cinch pod-ingress-x-b')
    expect(diff).not.toContain('pod-ingress-x-a')
    expect(diff).not.toContain('delete')
  })
  test('a pod removal deletes its map entries, chains, counters and veth', () => {
    const after = irOf(small(), ['x/b'])
    const diff = renderDiff(before, after)
    expect(diff).toContain('delete element inet cinch ingress-v4 { 10.0.1.1 }')
    expect(diff).toContain('delete chain inet cinch pod-ingress-x-a')
    expect(diff).toContain('delete counter inet cinch drop-egress-x-a')
    expect(diff).toContain('delete element bridge cinch veths { "cinchxa" }')
    // and the addresses its veth could send from
    expect(diff).toContain('delete element bridge cinch pod-v4 { "cinchxa" . 10.0.1.1 }')
    expect(diff).toContain('delete element bridge cinch pod-v6 { "cinchxa" . fd00::1:1 }')
    expect(diff).toContain('delete element bridge cinch pod-nd-v6 { "cinchxa" . 0xfd000000000000000000000000010001 }')
    expect(diff).not.toContain('pod-ingress-x-b')
  })
})

describe('planDiff', () => {
  test('a label change is element commands only, and they make up the whole script', () => {
    const plan = planDiff(irOf(small()), irOf(small({ labels: { 'y/b': { app: 'client' } } })))
    const elements = elementCommandsOf(plan)
    expect(elements?.length).toBeGreaterThan(0)
    expect(plan.text).toBe(elements!.map(elementCommandText).join('\n') + '\n')
    expect(elements!.every((c) => c.family === 'inet' && c.table === 'cinch' && c.key.length > 0)).toBe(true)
  })
  test('a diff that also writes rules or declares sets has no element commands', () => {
    const withPolicy = small({ policies: [...small().policies.values(), policy('x', 'new', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.9.0.0/16' } }] }] })] })
    const plan = planDiff(irOf(small()), irOf(withPolicy))
    expect(plan.text).toContain('add rule')
    expect(elementCommandsOf(plan)).toBeUndefined()
  })
})
