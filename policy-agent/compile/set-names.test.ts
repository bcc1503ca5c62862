// Shared port sets (rules.ts sharePorts) are named by their elements: two different lists must
// never share a name, or the first list's elements would serve the rules of both ("the same name
// always means the same set").
import { describe, expect, test } from 'vitest'
import { compile, decide } from './index.js'
import { evalForward } from '../../test/kit/ir-eval.js'
import { allLocal, clusterOf, policy } from '../../test/kit/policy-state.js'

// Two TCP lists whose 40-bit name hash (names.ts shortHash: 10 hex digits of sha256) is the same,
// found by a birthday search over `a,b` lists (1.56M lists, ~5 s of CPU). A tenant who knows
// another's list (80,443 say) finds one of its own with that hash by a 2^40 search: a minute on a
// GPU. Its rules would then open the other's pods on its ports, or close them.
const LIST_A = [14, 36198]
const LIST_B = [24, 55288]

describe('port set names', () => {
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
    for (const daddr of ['10.0.0.1', '10.0.0.2']) {
      for (const port of [...LIST_A, ...LIST_B]) {
        const want = decide(s, { from: { ip: '10.0.1.1' }, to: { ip: daddr }, port, protocol: 'TCP' }).allowed
        expect(evalForward(ir, { saddr: '10.0.1.1', daddr, protocol: 'tcp', dport: port }).allowed, `${daddr}:${port}`).toBe(want)
      }
    }
  })
})
