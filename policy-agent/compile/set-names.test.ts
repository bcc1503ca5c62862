// Shared sets are named by what they hold (rules.ts: a port list's elements, a peer's canonical
// selector, ipBlocks' keys): two different contents must never share a name, or the first one's
// members would serve the rules of both ("the same name always means the same set").
import { describe, expect, test } from 'vitest'
import { compile } from './index.js'
import { disagreements, packets } from '../../test/kit/ir-eval.js'
import { allLocal, clusterOf, policy } from '../../test/kit/policy-state.js'

// Two TCP lists whose 40-bit name hash (names.ts shortHash: 10 hex digits of sha256) is the same,
// found by a birthday search over `a,b` lists (1.56M lists, ~5 s of CPU). A tenant who knows
// another's list (80,443 say) finds one of its own with that hash by a 2^40 search: a minute on a
// GPU. Its rules would then open the other's pods on its ports, or close them.
const LIST_A = [14, 36198]
const LIST_B = [24, 55288]

// Two pod selectors of namespace x whose peer keys (`["pods","ns","x","[[\"app\",\"In\",[...]]]"]`)
// have the same 40-bit hash, found the same way (1.25M labels, ~4 s).
const APP_A = 'vhm61'
const APP_B = 'vquu8'

describe('set names', () => {
  test('two lists with the same 40-bit hash get sets of their own, held to decide()', () => {
    const allow = (name: string, app: string, ports: number[]) => policy('x', name, {
      podSelector: { matchLabels: { app } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: ports.map((port) => ({ port })) }],
    })
    const s = clusterOf({
      namespaces: { x: {} },
      pods: {
        'x/a': { labels: { app: 'a' }, ips: ['10.0.0.1'] },
        'x/b': { labels: { app: 'b' }, ips: ['10.0.0.2'] },
        'x/c': { labels: { app: 'client' }, ips: ['10.0.1.1'] },
      },
      policies: [allow('a', 'a', LIST_A), allow('b', 'b', LIST_B)],
    })
    const { ir } = compile(s, allLocal(s))
    expect(Object.values(ir.sets).filter((x) => x.kind === 'ports').map((x) => x.elements)).toEqual(expect.arrayContaining([LIST_A.map(String), LIST_B.map(String)]))
    expect(disagreements(s, ir, packets([['10.0.1.1', '10.0.0.1'], ['10.0.1.1', '10.0.0.2']], ['tcp'], [...LIST_A, ...LIST_B]))).toEqual([])
  })
  test('two peers with the same 40-bit key hash get sets of their own, held to decide()', () => {
    const allow = (name: string, app: string, from: string) => policy('x', name, {
      podSelector: { matchLabels: { app } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: from } } }] }],
    })
    const s = clusterOf({
      namespaces: { x: {} },
      pods: {
        'x/a': { labels: { app: 'a' }, ips: ['10.0.0.1'] },
        'x/b': { labels: { app: 'b' }, ips: ['10.0.0.2'] },
        'x/ca': { labels: { app: APP_A }, ips: ['10.0.1.1'] },
        'x/cb': { labels: { app: APP_B }, ips: ['10.0.1.2'] },
      },
      policies: [allow('a', 'a', APP_A), allow('b', 'b', APP_B)],
    })
    const { ir } = compile(s, allLocal(s))
    expect(disagreements(s, ir, packets([['10.0.1.1', '10.0.0.1'], ['10.0.1.2', '10.0.0.1'], ['10.0.1.1', '10.0.0.2'], ['10.0.1.2', '10.0.0.2']], ['tcp'], [80]))).toEqual([])
  })
  test('two named port lists that join to the same text get tuple sets of their own, held to decide()', () => {
    // A manifest's port name is not validated by an API server: `a,TCP:b` is one (odd) name.
    const egress = (name: string, app: string, ports: string[]) => policy('x', name, {
      podSelector: { matchLabels: { app } }, policyTypes: ['Egress'],
      egress: [{ to: [{ podSelector: { matchLabels: { app: 'srv' } } }], ports: ports.map((port) => ({ port })) }],
    })
    const s = clusterOf({
      namespaces: { x: {} },
      pods: {
        'x/one': { labels: { app: 'one' }, ips: ['10.0.0.1'] },
        'x/two': { labels: { app: 'two' }, ips: ['10.0.0.2'] },
        'x/srv': { labels: { app: 'srv' }, ips: ['10.0.1.1'], ports: [{ name: 'a', containerPort: 80, protocol: 'TCP' }, { name: 'b', containerPort: 81, protocol: 'TCP' }] },
      },
      policies: [egress('one', 'one', ['a,TCP:b']), egress('two', 'two', ['a', 'b'])],
    })
    const { ir } = compile(s, allLocal(s))
    expect(disagreements(s, ir, packets([['10.0.0.1', '10.0.1.1'], ['10.0.0.2', '10.0.1.1']], ['tcp'], [80, 81]))).toEqual([])
  })
  test('two selectors that joined to the same text (a manifest\'s label value `a,b` and `In (a, b)`) get sets of their own, held to decide()', () => {
    const from = (ns: string, name: string, app: string, nsSel: object) => policy(ns, name, { podSelector: { matchLabels: { app } }, ingress: [{ from: [{ namespaceSelector: nsSel }] }] })
    const s = clusterOf({
      namespaces: { x: {}, y: {}, na: { team: 'a' }, nab: { team: 'a,b' } },
      pods: { 'x/v': { labels: { app: 'v' }, ips: ['10.0.0.1'] }, 'y/m': { labels: { app: 'm' }, ips: ['10.0.0.2'] }, 'na/c': { labels: {}, ips: ['10.0.1.1'] }, 'nab/c': { labels: {}, ips: ['10.0.1.2'] } },
      policies: [
        from('y', 'm', 'm', { matchLabels: { team: 'a,b' } }),
        from('x', 'v', 'v', { matchExpressions: [{ key: 'team', operator: 'In', values: ['a', 'b'] }] }),
      ],
    })
    const { ir } = compile(s, allLocal(s))
    expect(disagreements(s, ir, packets([['10.0.1.1', '10.0.0.1'], ['10.0.1.2', '10.0.0.1'], ['10.0.1.1', '10.0.0.2'], ['10.0.1.2', '10.0.0.2']], ['tcp'], [80]))).toEqual([])
  })
})
