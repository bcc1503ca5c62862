// The tiers outside the dataplane: the conntrack cleanup cuts flows a ClusterNetworkPolicy Deny
// now denies (and not those an Admin Accept keeps despite a NetworkPolicy), and `cinch explain`
// names the Admin rule, the NetworkPolicies and the Baseline rule that decide.
import { describe, expect, it } from 'vitest'
import { emptyClusterState, type ClusterState } from '../model/cluster.js'
import { deniedEntries } from '../conntrack/denied.js'
import { explainText } from '../../cli/explain.js'
import { cnpReport } from './tiered.js'
import { IPPROTO, IPS, TCP_CONNTRACK, type CtEntry } from '../../lib/net/conntrack.js'

const cnp = (name: string, tier: string, priority: number, ingress: unknown[]): { apiVersion: string; kind: string; metadata: { name: string }; spec: Record<string, unknown> } => ({
  apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name },
  spec: { tier, priority, subject: { namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'x' } } }, ingress },
})
const fromY = [{ namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }]

function cluster(cnps: ReturnType<typeof cnp>[], denyAllX = false): ClusterState {
  const s = emptyClusterState()
  for (const ns of ['x', 'y']) s.namespaces.set(ns, { name: ns, labels: { 'kubernetes.io/metadata.name': ns } })
  s.pods.set('x/a', { namespace: 'x', name: 'a', labels: {}, ips: ['10.0.0.2'], nodeName: 'n1', ports: [] })
  s.pods.set('y/b', { namespace: 'y', name: 'b', labels: {}, ips: ['10.0.0.3'], nodeName: 'n1', ports: [] })
  if (denyAllX) s.policies.set('x/deny', { metadata: { namespace: 'x', name: 'deny' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } })
  for (const c of cnps) s.clusterNetworkPolicies.set(c.metadata.name, c)
  return s
}
const entry = (src: string, dst: string): CtEntry => ({
  family: 4, orig: { src, dst, proto: IPPROTO.TCP, sport: 40000, dport: 80 }, reply: { src: dst, dst: src, proto: IPPROTO.TCP, sport: 80, dport: 40000 },
  status: IPS.SEEN_REPLY | IPS.ASSURED, state: TCP_CONNTRACK.ESTABLISHED,
})
const local = new Set(['10.0.0.2', '10.0.0.3'])

describe('conntrack cleanup with tiers', () => {
  it('an Admin Deny ends established flows; a Baseline Deny too, unless a NetworkPolicy selects the pod', () => {
    expect(deniedEntries(cluster([]), local)(entry('10.0.0.3', '10.0.0.2'))).toBe(false)
    expect(deniedEntries(cluster([cnp('deny-y', 'Admin', 1, [{ action: 'Deny', from: fromY }])]), local)(entry('10.0.0.3', '10.0.0.2'))).toBe(true)
    expect(deniedEntries(cluster([cnp('deny-y', 'Baseline', 1, [{ action: 'Deny', from: fromY }])]), local)(entry('10.0.0.3', '10.0.0.2'))).toBe(true)
    // An Admin Accept is final: the NetworkPolicy deny-all does not apply to it.
    expect(deniedEntries(cluster([cnp('accept-y', 'Admin', 1, [{ action: 'Accept', from: fromY }])], true), local)(entry('10.0.0.3', '10.0.0.2'))).toBe(false)
    expect(deniedEntries(cluster([], true), local)(entry('10.0.0.3', '10.0.0.2'))).toBe(true)
  })
})

describe('cinch explain walks the tiers', () => {
  it('names the Admin rule and its action', () => {
    const s = cluster([cnp('pass-y', 'Admin', 1, [{ name: 'pass-from-y', action: 'Pass', from: fromY }]), cnp('deny-y', 'Baseline', 5, [{ name: 'no-y', action: 'Deny', from: fromY }])])
    const { text, allowed } = explainText(s, { namespace: 'y', name: 'b' }, { namespace: 'x', name: 'a' }, { port: 80, protocol: 'TCP' })
    expect(allowed).toBe(false)
    expect(text).toContain('ingress to x/a: denied (Baseline ClusterNetworkPolicy deny-y ingress[0] no-y: Deny)')
    expect(text).toMatch(/Admin: pass-y \(priority 1\) ingress\[0\] pass-from-y passes TCP\/80 from y\/b to the next tier/)
    expect(text).toContain('NetworkPolicy: no NetworkPolicy selects x/a for ingress')
    const np = explainText(cluster([cnp('deny-y', 'Baseline', 5, [{ action: 'Deny', from: fromY }])], true), { namespace: 'y', name: 'b' }, { namespace: 'x', name: 'a' }, { port: 80, protocol: 'TCP' })
    expect(np.text).toContain('ingress to x/a: denied (NetworkPolicy)')
  })
  it('reports invalid policies, warnings and same-priority overlaps', () => {
    const s = cluster([
      cnp('a', 'Admin', 7, [{ action: 'Deny', from: fromY }]), cnp('b', 'Admin', 7, [{ action: 'Accept', from: fromY }]),
      { ...cnp('bad', 'Admin', 2000, []) },
      cnp('dns', 'Admin', 3, [{ action: 'Accept', from: [{ someFutureField: {} }] }]),
      { ...cnp('names', 'Admin', 4, []), spec: { tier: 'Admin', priority: 4, subject: { namespaces: {} }, egress: [{ name: 'to-example', action: 'Accept', to: [{ domainNames: ['example.com'] }] }] } },
    ])
    const r = cnpReport(s)
    expect(r.invalid.map((i) => i.policy)).toEqual(['bad'])
    expect(r.warnings.map((w) => w.policy)).toEqual(['dns', 'names'])
    expect(r.warnings[1]!.warning).toBe('spec.egress[0] (to-example): domainNames are not supported by cinch and match nothing')
    expect(r.overlaps).toHaveLength(1)
    expect(r.overlaps[0]).toMatch(/cinch applies a first/)
  })
})
