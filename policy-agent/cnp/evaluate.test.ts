// The evaluator with address endpoints (outside the cluster, node addresses) and its verdict shape.
import { describe, expect, test } from 'vitest'
import { clusterOf } from '../../test/kit/policy-state.js'
import { convertPolicy } from './convert.js'
import { evaluator, type CnpNode } from './evaluate.js'
import { networkPolicyTier } from './netpol.js'

const state = clusterOf({
  namespaces: { x: {}, y: {} },
  pods: { 'x/a': { ips: ['10.0.0.1', 'fd00::1'] }, 'y/b': { ips: ['10.0.0.2', 'fd00::2'] } },
})
const nodes: CnpNode[] = [{ name: 'n1', labels: { zone: 'z1' }, addresses: ['192.168.0.1', 'fd00:ffff::1'] }]
const policy = (spec: Record<string, unknown>) => {
  const r = convertPolicy({ apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name: 'p' }, spec: { tier: 'Admin', priority: 1, subject: { namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'x' } } }, ...spec } })
  if ('invalid' in r) throw new Error(r.invalid.reason)
  return r.policy
}
const ev = (spec: Record<string, unknown>) => evaluator({ state, nodes }, [policy(spec)], networkPolicyTier(state))

describe('evaluator with addresses', () => {
  const deny = ev({ egress: [{ name: 'no-zone-1', action: 'Deny', to: [{ nodes: { matchLabels: { zone: 'z1' } } }] }, { name: 'no-internet', action: 'Deny', to: [{ networks: ['8.8.0.0/16', '2001:db8::/32'] }] }] })
  test.each([
    ['an outside address in the networks', { ip: '8.8.8.8' }, false, 'no-internet'],
    ['an outside IPv6 address in the networks', { ip: '2001:db8::5' }, false, 'no-internet'],
    ['an outside address elsewhere', { ip: '1.1.1.1' }, true, undefined],
    ['a node address of a matching node', { ip: '192.168.0.1' }, false, 'no-zone-1'],
    ['a node IPv6 address', { ip: 'fd00:ffff::1' }, false, 'no-zone-1'],
    ['a pod by address', { ip: '10.0.0.2' }, true, undefined],
  ])('x/a -> %s', (_, to, allowed, rule) => {
    const d = deny({ from: { namespace: 'x', name: 'a' }, to, protocol: 'TCP', port: 443 })
    expect(d.allowed).toBe(allowed)
    expect(d.egress.rule?.name).toBe(rule)
    expect(d.egress.decidedBy).toBe(rule ? 'Admin' : 'default')
  })
  test('an outside source is no subject; ingress peers never match addresses', () => {
    const d = ev({ ingress: [{ action: 'Deny', from: [{ namespaces: {} }] }] })({ from: { ip: '8.8.8.8' }, to: { namespace: 'x', name: 'a' }, protocol: 'UDP', port: 53 })
    expect(d).toMatchObject({ allowed: true, egress: { decidedBy: 'default' }, ingress: { decidedBy: 'default' } })
    expect(d.egress.reasons[0]).toContain('not a pod-network pod')
  })
  test('a pod to its own address in the other family is hairpin too', () => {
    const d = ev({ egress: [{ action: 'Deny', to: [{ networks: ['::/0'] }] }] })({ from: { namespace: 'x', name: 'a' }, to: { ip: 'fd00::1' }, protocol: 'TCP', port: 80 })
    expect(d.allowed).toBe(true)
    expect(d.egress.reasons[0]).toContain('hairpin')
  })
  test('an unknown pod or a bad address throws, naming it', () => {
    expect(() => ev({})({ from: { namespace: 'x', name: 'nope' }, to: { ip: '1.1.1.1' }, protocol: 'TCP', port: 1 })).toThrow('x/nope')
    expect(() => ev({})({ from: { namespace: 'x', name: 'a' }, to: { ip: 'not-an-ip' }, protocol: 'TCP', port: 1 })).toThrow('not-an-ip')
  })
})

describe('two pods on one address', () => {
  // A terminating pod may still list an address its node already gave to a new pod. The evaluator
  // must name the pod flow records and `cinch explain` name (model/pod-addresses.ts: the greatest
  // key), whatever order the source stored them in.
  test.each([
    ['old stored first', ['y/old', 'y/new']],
    ['new stored first', ['y/new', 'y/old']],
  ])('%s: the greatest key holds it', (_, order) => {
    const spec: Record<string, { labels: Record<string, string>; ips: string[] }> = {
      'y/old': { labels: { role: 'db' }, ips: ['10.0.0.9'] },
      'y/new': { labels: { role: 'web' }, ips: ['10.0.0.9'] },
    }
    const s = clusterOf({ namespaces: { x: {}, y: {} }, pods: { 'x/a': { ips: ['10.0.0.1'] }, ...Object.fromEntries(order.map((k) => [k, spec[k]!])) } })
    const noDb = evaluator({ state: s, nodes }, [policy({ egress: [{ name: 'no-db', action: 'Deny', to: [{ pods: { namespaceSelector: {}, podSelector: { matchLabels: { role: 'db' } } } }] }] })], networkPolicyTier(s))
    const d = noDb({ from: { namespace: 'x', name: 'a' }, to: { ip: '10.0.0.9' }, protocol: 'TCP', port: 5432 })
    expect(d.allowed).toBe(false) // "old" > "new": y/old (role=db) holds the address
    expect(d.egress.rule?.name).toBe('no-db')
  })
})
