// The renderer's text in a real kernel (a throwaway `unshare -n` namespace per call,
// test/kit/nft-kernel.ts): nft's own parser accepts it, hostile names included, and
// renderDiff(prev, next) after renderFull(prev) leaves the kernel exactly as renderFull(next).
// The golden text and the shape of diffs are unit tests (policy-agent/render/render.test.ts).
import test from 'ava'
import { compile } from '../../policy-agent/compile/index.js'
import type { ClusterState, LocalPod } from '../../policy-agent/model/cluster.js'
import { renderDiff, renderFull, renderTeardown } from '../../policy-agent/render/index.js'
import { applyAndList, nftCheck } from '../kit/nft-kernel.js'
import { allLocal, hostileState, policy, smallState as small } from '../kit/policy-state.js'

const localsOf = (s: ClusterState, only?: string[]): LocalPod[] =>
  allLocal(s).filter((p) => p.namespace === 'x' && (!only || only.includes(`${p.namespace}/${p.name}`)))
const irOf = (s: ClusterState, only?: string[]) => compile(s, localsOf(s, only)).ir

test('nft accepts the text (check mode): a state, no local pods, the teardown', (t) => {
  t.is(nftCheck(renderFull(irOf(small()))), '')
  t.is(nftCheck(renderFull(irOf(small(), []))), '')
  t.is(nftCheck(renderTeardown()), '')
})

test('nft accepts the whole text of hostile names', (t) => {
  const hostile = hostileState()
  t.is(nftCheck(renderFull(compile(hostile, allLocal(hostile)).ir)), '')
})

const states: [string, ClusterState, string[] | undefined][] = [
  ['small', small(), undefined],
  ['label change', small({ labels: { 'y/b': { app: 'client' }, 'x/b': { app: 'web' } } }), undefined],
  ['new policy', small({ policies: [...small().policies.values(), policy('x', 'new', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: 'fd00::/8', except: ['fd00::1:0/112'] } }] }] })] }), undefined],
  ['pod removed', small(), ['x/b']],
  // shared port sets (one per protocol) and ipBlocks merged into one interval set
  ['big rule', small({ policies: [...small().policies.values(), policy('x', 'big', { podSelector: {}, policyTypes: ['Ingress', 'Egress'],
    ingress: [{ from: [{ ipBlock: { cidr: '10.9.0.0/16', except: ['10.9.1.0/24'] } }, { ipBlock: { cidr: '10.8.0.0/16' } }, { podSelector: {} }],
      ports: [...Array.from({ length: 40 }, (_, i) => ({ port: 100 + 3 * i })), { protocol: 'UDP', port: 5000, endPort: 6000 }] }],
    egress: [{ to: [{ ipBlock: { cidr: 'fd00:9::/48', except: ['fd00:9::/64'] } }], ports: Array.from({ length: 20 }, (_, i) => ({ protocol: 'UDP', port: 7000 + 2 * i })) }] })] }), undefined],
  ['no policies', small({ policies: [] }), undefined],
  ['no local pods', small(), []],
]
for (const [pn, ps, pl] of states) {
  for (const [nn, ns, nl] of states) {
    if (pn === nn) continue
    test(`renderDiff after renderFull == renderFull: ${pn} -> ${nn}`, (t) => {
      const prev = irOf(ps, pl), next = irOf(ns, nl)
      const direct = applyAndList([renderFull(next)])
      t.deepEqual(applyAndList([renderFull(prev), renderDiff(prev, next)]), direct)
      // and a full render over an existing table replaces it exactly
      t.deepEqual(applyAndList([renderFull(prev), renderFull(next)]), direct)
    })
  }
}

test('teardown removes both tables and nothing else', (t) => {
  const foreign = 'table inet kube-proxy {\n\tchain x {\n\t\ttype filter hook forward priority 0;\n\t}\n}\n'
  const after = applyAndList([foreign, renderFull(irOf(small())), renderTeardown()]) as { objects: string[] }
  t.notRegex(after.objects.join(), /"cinch"/)
  t.regex(after.objects.join(), /kube-proxy/)
})
