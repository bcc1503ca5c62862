// convertPolicy: the CRD's validation (kubebuilder markers and CEL of apis/v1alpha2 v0.2.0) as
// tables of invalid policies, the fail-closed shapes of a newer API, and what a valid one becomes.
import { describe, expect, test } from 'vitest'
import { convertPolicy } from './convert.js'

type Spec = Record<string, unknown>
const ns = (n: string) => ({ namespaces: { matchLabels: { 'kubernetes.io/metadata.name': n } } })
const base = (spec: Spec = {}): Record<string, unknown> => ({
  apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name: 'p' },
  spec: { tier: 'Admin', priority: 5, subject: ns('a'), ...spec },
})
const ingress = (rule: Spec) => base({ ingress: [{ action: 'Deny', from: [ns('b')], ...rule }] })
const egress = (rule: Spec) => base({ egress: [{ action: 'Deny', to: [ns('b')], ...rule }] })
const many = <T>(n: number, x: T) => Array.from({ length: n }, () => x)
const reasonOf = (raw: unknown) => { const r = convertPolicy(raw); return 'invalid' in r ? r.invalid.reason : null }
const policyOf = (raw: unknown) => { const r = convertPolicy(raw); if ('invalid' in r) throw new Error(r.invalid.reason); return r.policy }

describe('convertPolicy: invalid, skipped whole (reason names the field)', () => {
  test.each([
    ['not an object', 'x', 'object'],
    ['other kind', { ...base(), kind: 'NetworkPolicy' }, 'kind'],
    ['other version', { ...base(), apiVersion: 'policy.networking.k8s.io/v1alpha1' }, 'apiVersion'],
    ['no name', { ...base(), metadata: {} }, 'metadata.name'],
    ['bad name', { ...base(), metadata: { name: 'Bad_Name' } }, 'metadata.name'],
    ['no spec', { ...base(), spec: undefined }, 'spec'],
    ['tier unknown', base({ tier: 'Developer' }), 'spec.tier'],
    ['tier missing', base({ tier: undefined }), 'spec.tier'],
    ['priority -1', base({ priority: -1 }), 'spec.priority'],
    ['priority 1001', base({ priority: 1001 }), 'spec.priority'],
    ['priority 1.5', base({ priority: 1.5 }), 'spec.priority'],
    ['priority as a string', base({ priority: '5' }), 'spec.priority'],
    ['subject missing', base({ subject: undefined }), 'spec.subject'],
    ['subject empty', base({ subject: {} }), 'spec.subject'],
    ['subject with both fields', base({ subject: { namespaces: {}, pods: { podSelector: {} } } }), 'spec.subject'],
    ['subject field unknown', base({ subject: { serviceAccounts: {} } }), 'spec.subject.serviceAccounts'],
    ['subject pods without podSelector', base({ subject: { pods: { namespaceSelector: {} } } }), 'spec.subject.pods.podSelector'],
    ['selector operator unknown', base({ subject: { namespaces: { matchExpressions: [{ key: 'k', operator: 'Like', values: ['x'] }] } } }), 'spec.subject.namespaces'],
    ['selector In without values', base({ subject: { namespaces: { matchExpressions: [{ key: 'k', operator: 'In' }] } } }), 'spec.subject.namespaces'],
    ['selector label value a number', base({ subject: { namespaces: { matchLabels: { k: 1 } } } }), 'spec.subject.namespaces.matchLabels'],
    ['ingress not a list', base({ ingress: {} }), 'spec.ingress'],
    ['26 ingress rules', base({ ingress: many(26, { action: 'Deny', from: [ns('b')] }) }), 'spec.ingress'],
    ['26 egress rules', base({ egress: many(26, { action: 'Deny', to: [ns('b')] }) }), 'spec.egress'],
    ['action unknown', ingress({ action: 'Allow' }), 'spec.ingress[0].action'],
    ['action missing', ingress({ action: undefined }), 'spec.ingress[0].action'],
    ['rule name 101 characters', ingress({ name: 'x'.repeat(101) }), 'spec.ingress[0].name'],
    ['rule name a number', ingress({ name: 7 }), 'spec.ingress[0].name'],
    ['from missing', ingress({ from: undefined }), 'spec.ingress[0].from'],
    ['from empty', ingress({ from: [] }), 'spec.ingress[0].from'],
    ['26 peers', ingress({ from: many(26, ns('b')) }), 'spec.ingress[0].from'],
    ['peer with two fields', ingress({ from: [{ ...ns('b'), pods: { podSelector: {} } }] }), 'spec.ingress[0].from[0]'],
    ['protocols empty', ingress({ protocols: [] }), 'spec.ingress[0].protocols'],
    ['26 protocols', ingress({ protocols: many(26, { tcp: { destinationPort: { number: 80 } } }) }), 'spec.ingress[0].protocols'],
    ['protocol with two fields', ingress({ protocols: [{ tcp: { destinationPort: { number: 80 } }, udp: { destinationPort: { number: 80 } } }] }), 'spec.ingress[0].protocols[0]'],
    ['port 0', ingress({ protocols: [{ tcp: { destinationPort: { number: 0 } } }] }), 'destinationPort.number'],
    ['port 65536', ingress({ protocols: [{ udp: { destinationPort: { number: 65536 } } }] }), 'destinationPort.number'],
    ['port as a string', ingress({ protocols: [{ tcp: { destinationPort: { number: '80' } } }] }), 'destinationPort.number'],
    ['port number and range', ingress({ protocols: [{ tcp: { destinationPort: { number: 80, range: { start: 1, end: 2 } } } }] }), 'destinationPort'],
    ['range start = end', ingress({ protocols: [{ sctp: { destinationPort: { range: { start: 80, end: 80 } } } }] }), 'destinationPort.range'],
    ['range start > end', ingress({ protocols: [{ tcp: { destinationPort: { range: { start: 90, end: 80 } } } }] }), 'destinationPort.range'],
    ['range without end', ingress({ protocols: [{ tcp: { destinationPort: { range: { start: 90 } } } }] }), 'destinationPort.range.end'],
    ['named port not a string', ingress({ protocols: [{ destinationNamedPort: 80 }] }), 'destinationNamedPort'],
    ['networks empty', egress({ to: [{ networks: [] }] }), 'spec.egress[0].to[0].networks'],
    ['networks 26', egress({ to: [{ networks: Array.from({ length: 26 }, (_, i) => `10.0.${i}.0/24`) }] }), 'networks'],
    ['networks not a CIDR', egress({ to: [{ networks: ['10.0.0.0'] }] }), 'networks[0]'],
    ['networks leading zero', egress({ to: [{ networks: ['010.0.0.0/8'] }] }), 'networks[0]'],
    ['networks prefix 33', egress({ to: [{ networks: ['10.0.0.0/33'] }] }), 'networks[0]'],
    ['networks duplicate', egress({ to: [{ networks: ['10.0.0.0/8', '10.0.0.0/8'] }] }), 'networks'],
    ['networks longer than 43 (valid otherwise)', egress({ to: [{ networks: ['1111:2222:3333:4444:5555:6666:255.255.255.255/128'] }] }), 'networks[0]'],
    ['domainNames bad', egress({ action: 'Accept', to: [{ domainNames: ['-bad-.com'] }] }), 'domainNames[0]'],
    ['domainNames partial wildcard', egress({ action: 'Accept', to: [{ domainNames: ['w*.kubernetes.io'] }] }), 'domainNames[0]'],
    ['named port with networks (CEL)', egress({ to: [{ networks: ['10.0.0.0/8'] }], protocols: [{ destinationNamedPort: 'web' }] }), 'spec.egress[0]'],
    ['named port with nodes (CEL)', egress({ to: [ns('b'), { nodes: {} }], protocols: [{ destinationNamedPort: 'web' }] }), 'spec.egress[0]'],
  ])('%s', (_, raw, where) => {
    const reason = reasonOf(raw)
    expect(reason).not.toBeNull()
    expect(reason).toContain(where)
  })

  test('the report names the policy', () => {
    expect(convertPolicy(base({ priority: 2000 }))).toEqual({ invalid: { policy: 'p', reason: expect.stringContaining('0 to 1000') } })
  })
})

describe('convertPolicy: a newer API fails closed, the policy still applies', () => {
  test.each([
    ['ingress peer with no field', ingress({ from: [{}] })],
    ['ingress peer field unknown', ingress({ from: [{ serviceAccounts: { names: ['x'] } }] })],
    ['ingress peer with networks (egress only)', ingress({ from: [{ networks: ['10.0.0.0/8'] }] })],
    ['egress peer with a known and an unknown field', egress({ to: [{ ...ns('b'), ports: [1] }] })],
    ['protocol with no field', ingress({ protocols: [{}] })],
    ['protocol unknown', ingress({ protocols: [{ icmp: { type: 8 } }] })],
    ['tcp with no field', ingress({ protocols: [{ tcp: {} }] })],
    ['tcp field unknown', ingress({ protocols: [{ tcp: { sourcePort: { number: 1 } } }] })],
    ['port with no field', ingress({ protocols: [{ udp: { destinationPort: {} } }] })],
    ['port field unknown', ingress({ protocols: [{ udp: { destinationPort: { list: [1, 2] } } }] })],
    ['range field unknown', ingress({ protocols: [{ udp: { destinationPort: { range: { start: 1, end: 2, step: 1 } } } }] })],
    ['named port empty (omitempty: absent)', ingress({ protocols: [{ destinationNamedPort: '' }] })],
    ['rule field unknown', ingress({ ports: [80] })],
    ['domainNames in a Deny rule', egress({ to: [{ domainNames: ['example.com'] }] })],
  ])('%s', (_, raw) => {
    const p = policyOf(raw)
    const rule = [...p.ingress, ...p.egress][0]!
    expect(rule.failClosed).toEqual(expect.any(String))
    expect(p.warnings).toEqual([expect.stringContaining('fails closed (denies all)')])
  })

  test('an Accept rule that fails closed says it matches nothing', () => {
    const p = policyOf(ingress({ action: 'Accept', from: [{}] }))
    expect(p.warnings).toEqual([expect.stringContaining('fails closed (matches nothing)')])
  })
})

describe('convertPolicy: valid', () => {
  test('the conformance suite\'s shapes', () => {
    const p = policyOf(base({
      tier: 'Baseline', priority: 0,
      subject: { pods: { namespaceSelector: { matchLabels: { house: 'g' } }, podSelector: {} } },
      ingress: [{ name: 'in', action: 'Pass', from: [{ pods: { podSelector: { matchExpressions: [{ key: 'app', operator: 'Exists' }] } } }],
        protocols: [{ tcp: { destinationPort: { number: 80 } } }, { udp: { destinationPort: { range: { start: 5000, end: 5100 } } } }, { destinationNamedPort: 'dns' }] }],
      egress: [{ action: 'Accept', to: [{ networks: ['10.1.2.3/8', '::/0'] }, { nodes: {} }] }],
    }))
    expect(p).toMatchObject({ name: 'p', tier: 'Baseline', priority: 0, warnings: [] })
    expect(p.subject.words).toBe('all pods in namespaces with house=g')
    expect(p.ingress[0]!.protocols!.map((x) => x.words)).toEqual(['TCP/80', 'UDP/5000-5100', "the destination pod's port named dns"])
    expect(p.ingress[0]!.peers[0]!.words).toBe('pods with has app in any namespace')
    // CIDR: host bits are accepted (netip.ParsePrefix) and cleared.
    expect(p.egress[0]!.peers.map((x) => x.words)).toEqual(['networks 10.0.0.0/8, ::/0', 'any node'])
    expect(p.egress[0]).toMatchObject({ index: 0, name: '', action: 'Accept', protocols: null, failClosed: null })
    expect(Object.isFrozen(p.egress[0])).toBe(true)
  })

  test('priority 1000, 25 rules of 25 peers and 25 protocols, a 100-character name', () => {
    const rule = { name: 'x'.repeat(100), action: 'Deny', from: many(25, ns('b')), protocols: Array.from({ length: 25 }, (_, i) => ({ tcp: { destinationPort: { number: i + 1 } } })) }
    expect(policyOf(base({ priority: 1000, ingress: many(25, rule) })).ingress).toHaveLength(25)
  })

  test('domainNames in an Accept rule: accepted, warned as unsupported by its words', () => {
    const p = policyOf(egress({ action: 'Accept', to: [{ domainNames: ['*.kubernetes.io', 'example.com.'] }] }))
    expect(p.egress[0]!.failClosed).toBeNull()
    expect(p.egress[0]!.peers[0]!.words).toContain('unsupported')
  })

  test('no rules: the policy affects nothing; unknown spec fields are warned about', () => {
    const p = policyOf({ ...base(), spec: { ...(base().spec as Spec), match: 'x' } })
    expect(p).toMatchObject({ ingress: [], egress: [], warnings: ['spec.match: unknown field, ignored'] })
  })

  test('null optional fields are absent fields', () => {
    const p = policyOf(base({ ingress: null, egress: [{ action: 'Deny', to: [ns('b')], protocols: null, name: null }] }))
    expect(p.egress[0]).toMatchObject({ name: '', protocols: null })
  })
})
