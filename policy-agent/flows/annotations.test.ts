// The opt-ins reach the model through the one converter: only cinch.dev/* annotations are kept
// (on NetworkPolicy, ClusterNetworkPolicy and Namespace), and a malformed one is reported and
// never switches a policy off.
import { describe, expect, it } from 'vitest'
import { convertAs } from '../sources/convert.js'
import type { ClusterNetworkPolicyObject, Namespace, NetworkPolicy } from '../model/cluster.js'
import { emptyClusterState } from '../model/cluster.js'
import { annotationProblems, namespaceFlowLogs, splitAudit } from './audit.js'

const annotations = { 'cinch.dev/audit': 'true', 'kubectl.kubernetes.io/last-applied-configuration': '{"big":1}', note: 'x' }

describe('cinch.dev annotations at arrival', () => {
  it('keeps only cinch.dev/* keys on NetworkPolicy, ClusterNetworkPolicy and Namespace', () => {
    const np = convertAs('NetworkPolicy', { metadata: { namespace: 'a', name: 'p', annotations }, spec: {} }).value as NetworkPolicy
    expect(np.metadata).toEqual({ namespace: 'a', name: 'p', annotations: { 'cinch.dev/audit': 'true' } })
    const cnp = convertAs('ClusterNetworkPolicy', { metadata: { name: 'c', annotations }, spec: {} }).value as ClusterNetworkPolicyObject
    expect(cnp.metadata).toEqual({ name: 'c', annotations: { 'cinch.dev/audit': 'true' } })
    const ns = convertAs('Namespace', { metadata: { name: 'a', annotations: { 'cinch.dev/flow-logs': 'true', other: 'y' } } }).value as Namespace
    expect(ns.annotations).toEqual({ 'cinch.dev/flow-logs': 'true' })
  })

  it('adds nothing when there is no cinch.dev annotation, and tolerates odd foreign ones', () => {
    const np = convertAs('NetworkPolicy', { metadata: { namespace: 'a', name: 'p', annotations: { other: 5 } }, spec: {} }).value as NetworkPolicy
    expect(np.metadata).toEqual({ namespace: 'a', name: 'p' })
    const weird = convertAs('Namespace', { metadata: { name: 'a', annotations: ['x'] } }).value as Namespace
    expect(weird.annotations).toBeUndefined()
  })

  it('a non-string cinch.dev value (YAML true) is reported and the policy stays enforced', () => {
    const np = convertAs('NetworkPolicy', { metadata: { namespace: 'a', name: 'p', annotations: { 'cinch.dev/audit': true } }, spec: {} }).value as NetworkPolicy
    const s = emptyClusterState()
    s.policies.set('a/p', np)
    const split = splitAudit(s)
    expect(split.audit.size).toBe(0)
    expect(split.enforced.policies.has('a/p')).toBe(true)
    expect(annotationProblems(s)).toEqual([{ where: 'NetworkPolicy/a/p', reason: expect.stringMatching(/not "true" or "false"; enforced/) }])
  })

  it('namespace opt-in: annotation over the cluster-wide flag, malformed reported', () => {
    const ns = (v?: string): Namespace => ({ name: 'a', labels: {}, ...(v ? { annotations: { 'cinch.dev/flow-logs': v } } : {}) })
    expect(namespaceFlowLogs(ns('true'), false)).toBe(true)
    expect(namespaceFlowLogs(ns('false'), true)).toBe(false)
    expect(namespaceFlowLogs(ns(), true)).toBe(true)
    expect(namespaceFlowLogs(undefined, false)).toBe(false)
    const s = emptyClusterState()
    s.namespaces.set('a', ns('yes'))
    expect(namespaceFlowLogs(ns('yes'), false)).toBe(false)
    expect(annotationProblems(s)[0]!.where).toBe('Namespace/a')
  })
})

describe('cinch explain with an audit policy', async () => {
  const { explainText } = await import('../../cli/explain.js')
  const { clusterOf, policy } = await import('../../test/kit/policy-state.js')
  it('judges without the audit policy and says what it would deny', () => {
    const lockdown = policy('shop', 'db-lockdown', { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Ingress'] })
    lockdown.metadata = { ...lockdown.metadata, annotations: { 'cinch.dev/audit': 'true' } }
    const s = clusterOf({ namespaces: { shop: {}, web: {} }, pods: { 'web/front': { ips: ['10.244.1.2'] }, 'shop/db': { labels: { app: 'db' }, ips: ['10.244.1.3'] } }, policies: [lockdown] })
    const out = explainText(s, { namespace: 'web', name: 'front' }, { namespace: 'shop', name: 'db' }, { port: 5432, protocol: 'TCP' })
    expect(out.allowed).toBe(true)
    expect(out.text).toContain('audit (not enforced: shop/db-lockdown): would deny: shop/db-lockdown ingress')
  })
})
