// Flow logging and audit in the rules: golden text of the log rules (every verdict point, the
// limit and its counters, the audit pass), nft's parser on it, and in a real kernel renderDiff ==
// renderFull across the transitions an operator makes (a namespace opts in and out, a policy goes
// to audit and back, a ClusterNetworkPolicy arrives), with the FlowCompiler the agent runs.
import { describe, expect, test } from 'vitest'
import { allLocal, clusterOf, policy } from '../compile/testkit.js'
import type { ClusterState, NetworkPolicy } from '../model/cluster.js'
import type { PolicyIR } from '../compile/ir.js'
import { renderDiff, renderFull } from '../render/index.js'
import { applyAndList, haveKernelNft, nftCheck } from '../render/nft-kernel.js'
import { FlowCompiler } from './compiler.js'
import { FLOW_LOG_DEFAULTS } from './options.js'
import { encodePrefix, refId } from './prefix.js'
import { RefTable, refSourceFromIR } from './refs.js'

const kernel = haveKernelNft()
const dbFromApi = policy('shop', 'db-from-api', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'api' } } }] }, { from: [{ ipBlock: { cidr: '192.0.2.0/24' } }] }] })
const audited = (p: NetworkPolicy): NetworkPolicy => ({ ...p, metadata: { ...p.metadata, annotations: { 'cinch.dev/audit': 'true' } } })
const lockdown = policy('lab', 'lockdown', { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'api' } } }] }] })
const cnp = {
  apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name: 'adm' },
  spec: { tier: 'Admin', priority: 10, subject: { namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } } }, ingress: [
    { name: 'no-81', action: 'Deny', from: [{ namespaces: {} }], protocols: [{ tcp: { destinationPort: { number: 81 } } }] },
    { name: 'web-pass', action: 'Pass', from: [{ namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'web' } } }] },
  ] },
}

function state(o: { logs?: string[]; policies?: NetworkPolicy[]; cnp?: boolean } = {}): ClusterState {
  const s = clusterOf({
    namespaces: { shop: {}, web: {}, lab: {} },
    pods: { 'shop/db': { labels: { app: 'db' }, ips: ['10.0.1.1', 'fd00::1'] }, 'shop/api': { labels: { app: 'api' }, ips: ['10.0.1.2'] }, 'lab/box': { ips: ['10.0.1.3'] }, 'web/front': { ips: ['10.0.1.4'] } },
    policies: o.policies ?? [dbFromApi],
  })
  for (const ns of o.logs ?? []) s.namespaces.set(ns, { ...s.namespaces.get(ns)!, annotations: { 'cinch.dev/flow-logs': 'true' } })
  if (o.cnp) s.clusterNetworkPolicies.set('adm', cnp as never)
  return s
}
const compileWith = (c: FlowCompiler, s: ClusterState) => c.compile(s, allLocal(s)).ir
const fresh = () => new FlowCompiler({ flowLogs: { ...FLOW_LOG_DEFAULTS, group: 6784 } })

describe('flow-log rules', () => {
  const ir = compileWith(fresh(), state({ logs: ['shop', 'lab'], policies: [dbFromApi, audited(lockdown)], cnp: true }))
  const text = renderFull(ir)

  test('golden text: log rules at each verdict point, the limit, the audit pass', async () => {
    await expect(text).toMatchFileSnapshot('./__golden__/flowlog.nft')
    if (kernel) expect(nftCheck(text)).toBe('')
  })

  test('every prefix in the text decodes to something the id table of the same IR names', () => {
    const refs = new RefTable(refSourceFromIR(ir))
    const prefixes = [...text.matchAll(/prefix "([^"]+)"/g)].map((m) => m[1]!)
    expect(prefixes).toContain(encodePrefix({ direction: 'ingress', tier: 'networkpolicy', hit: 'rule', action: 'allow', id: refId('np', 'shop/db-from-api'), rule: 1 }))
    expect(prefixes).toContain(encodePrefix({ direction: 'ingress', tier: 'admin', hit: 'rule', action: 'pass', id: refId('cnp', 'adm'), rule: 1 }))
    for (const p of prefixes) {
      const [, letters, id] = p.split(':') as [string, string, string]
      const space = letters[2] === 'x' ? 'chain' : letters[1] === 'n' ? 'np' : 'cnp'
      expect(refs.resolve(space, id), p).toBeDefined()
    }
    // The audit chain of lab/box exists, and no audit policy is counted as if enforced.
    expect(Object.values(ir.chains).filter((c) => c.audit).map((c) => c.pod)).toEqual(['lab/box'])
    expect(Object.keys(ir.policyCounters)).not.toContain('lab/lockdown')
    expect(ir.auditMaps!['ingress-v4']['10.0.1.3']).toMatch(/^audit-ingress-lab-box/)
  })

  test('a namespace without the annotation gets no log rule; with none anywhere the text only gains the limit objects', () => {
    const quiet = renderFull(compileWith(fresh(), state()))
    expect(quiet).not.toMatch(/log group/)
    expect(quiet).toMatch(/limit flowlog \{/)
    expect(renderFull(compileWith(fresh(), state({ logs: ['web'] })))).not.toMatch(/log group/)
  })
})

describe.skipIf(!kernel)('flow-log rules in the kernel', () => {
  test('diff from each state to the next == full render (opt-in, audit, CNP, and back)', () => {
    const steps = [
      state(),
      state({ logs: ['shop'] }),
      state({ logs: ['shop', 'lab'], policies: [dbFromApi, audited(lockdown)] }),
      state({ logs: ['shop', 'lab'], policies: [dbFromApi, audited(lockdown)], cnp: true }),
      state({ logs: ['lab'], policies: [dbFromApi, lockdown], cnp: true }),
      state({ logs: ['shop'], policies: [audited(dbFromApi)] }),
      state(),
    ]
    const c = fresh()
    let prev: PolicyIR | undefined
    for (const [i, s] of steps.entries()) {
      const ir = compileWith(c, s)
      const full = applyAndList([renderFull(ir)])
      if (prev) expect(applyAndList([renderFull(prev), renderDiff(prev, ir)]), `step ${i}`).toEqual(full)
      prev = ir
    }
  })
})
