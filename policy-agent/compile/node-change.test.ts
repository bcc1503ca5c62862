// A Node change reaches the tier chains only through a ClusterNetworkPolicy `nodes` peer. Without
// one, the compile after it must hand back the very tier chains of the compile before (nothing
// rebuilt, nothing for renderDiff to walk); with one, the chains follow the Node's addresses.
// Each step is also held to a fresh Compiler (incremental == full).
import { describe, expect, it } from 'vitest'
import { Compiler } from './compiler.js'
import { allLocal, clusterOf } from '../../test/kit/policy-state.js'
import type { ClusterState } from '../model/cluster.js'

const fromY = [{ namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }]
const subjectX = { namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'x' } } }
const cnp = (name: string, to: unknown[]) => ({
  apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name },
  // Nodes peers are egress only (ClusterNetworkPolicyEgressPeer); the other rule is ingress, so
  // both directions have a tier chain.
  spec: { tier: 'Admin', priority: 1, subject: subjectX, ingress: [{ name: 'r', action: 'Deny', from: fromY }], egress: [{ name: 'e', action: 'Deny', to }] },
})
const toNodes = [{ nodes: { matchLabels: { role: 'infra' } } }]

function state(cnps: object[], nodeIp: string, nodeLabels: Record<string, string>): ClusterState {
  const s = clusterOf({ namespaces: { x: {}, y: {} }, pods: { 'x/a': { ips: ['10.0.1.1'] }, 'y/b': { ips: ['10.0.2.1'] } } })
  s.nodes = new Map([['n1', { name: 'n1', internalIPs: [nodeIp], podCIDRs: [], labels: nodeLabels }]])
  for (const c of cnps) s.clusterNetworkPolicies.set((c as { metadata: { name: string } }).metadata.name, c as never)
  return s
}

const adminChain = (ir: { chains: Record<string, unknown> }, dir = 'egress') => Object.entries(ir.chains).find(([n]) => n.startsWith(`admin-${dir}`))

describe('Node changes and tier chains', () => {
  it('without a nodes peer, a Node change keeps every tier chain (the same objects)', () => {
    const c = new Compiler()
    const s1 = state([cnp('deny-y', fromY)], '192.168.0.1', { role: 'infra' })
    const ir1 = c.compile(s1, allLocal(s1)).ir
    const before = adminChain(ir1)
    expect(before).toBeDefined()
    for (const [ip, labels] of [['192.168.0.2', { role: 'infra' }], ['192.168.0.2', { role: 'web' }]] as const) {
      const s2 = state([cnp('deny-y', fromY)], ip, labels)
      s2.clusterNetworkPolicies = s1.clusterNetworkPolicies // the source keeps the unchanged map
      const ir2 = c.compile(s2, allLocal(s2)).ir
      expect(adminChain(ir2)![1]).toBe(before![1])
      expect(adminChain(ir2, 'ingress')![1]).toBe(adminChain(ir1, 'ingress')![1])
      expect(ir2.chains).toBe(ir1.chains)
      expect(ir2).toEqual(new Compiler().compile(s2, allLocal(s2)).ir)
    }
  })

  it('with a nodes peer, a Node change reaches the tier chain', () => {
    const c = new Compiler()
    const s1 = state([cnp('deny-infra', toNodes)], '192.168.0.1', { role: 'infra' })
    const ir1 = c.compile(s1, allLocal(s1)).ir
    const s2 = state([cnp('deny-infra', toNodes)], '192.168.0.2', { role: 'infra' })
    s2.clusterNetworkPolicies = s1.clusterNetworkPolicies
    const ir2 = c.compile(s2, allLocal(s2)).ir
    expect(ir2).toEqual(new Compiler().compile(s2, allLocal(s2)).ir)
    expect(JSON.stringify(ir2.sets)).toContain('192.168.0.2')
    expect(JSON.stringify(ir2.sets)).not.toContain('192.168.0.1')
    expect(adminChain(ir2)![1]).not.toEqual(adminChain(ir1)![1])
    expect(adminChain(ir2, 'ingress')![1]).toEqual(adminChain(ir1, 'ingress')![1])
  })

  it('a nodes peer added after a Node change sees the Nodes of now', () => {
    const c = new Compiler()
    const s1 = state([cnp('deny-y', fromY)], '192.168.0.1', { role: 'infra' })
    c.compile(s1, allLocal(s1))
    const s2 = state([cnp('deny-y', fromY)], '192.168.0.2', { role: 'infra' })
    s2.clusterNetworkPolicies = s1.clusterNetworkPolicies
    c.compile(s2, allLocal(s2))
    const s3 = state([cnp('deny-y', fromY), cnp('deny-infra', toNodes)], '192.168.0.2', { role: 'infra' })
    s3.nodes = s2.nodes
    const ir3 = c.compile(s3, allLocal(s3)).ir
    expect(ir3).toEqual(new Compiler().compile(s3, allLocal(s3)).ir)
    expect(JSON.stringify(ir3.sets)).toContain('192.168.0.2')
  })
})
