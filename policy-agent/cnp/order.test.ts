// Tier order (priority, then name by code units) and same-priority overlap warnings.
import { describe, expect, test } from 'vitest'
import { clusterOf } from '../../test/kit/policy-state.js'
import { convertPolicy } from './convert.js'
import { findOverlaps, tierOrder } from './order.js'
import type { Policy } from './types.js'

function cnp(name: string, tier: string, priority: number, subject: unknown, rules: { ingress?: unknown[]; egress?: unknown[] } = { ingress: [{ action: 'Deny', from: [{ namespaces: {} }] }] }): Policy {
  const r = convertPolicy({ apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name }, spec: { tier, priority, subject, ...rules } })
  if ('invalid' in r) throw new Error(r.invalid.reason)
  return r.policy
}
const nsSubject = (n: string) => ({ namespaces: { matchLabels: { 'kubernetes.io/metadata.name': n } } })

describe('tierOrder', () => {
  test('priority ascending, then name by code units (not locale), per tier', () => {
    const ps = [cnp('b', 'Admin', 5, {namespaces: {}}), cnp('a', 'Admin', 7, {namespaces: {}}), cnp('0b', 'Admin', 5, {namespaces: {}}),
      cnp('a.b', 'Admin', 5, {namespaces: {}}), cnp('a-b', 'Admin', 5, {namespaces: {}}), cnp('z', 'Baseline', 0, {namespaces: {}})]
    expect(tierOrder(ps, 'Admin').map((p) => p.name)).toEqual(['0b', 'a-b', 'a.b', 'b', 'a'])
    expect(tierOrder(ps, 'Baseline').map((p) => p.name)).toEqual(['z'])
    expect(tierOrder([...ps].reverse(), 'Admin').map((p) => p.name)).toEqual(['0b', 'a-b', 'a.b', 'b', 'a'])
  })
})

describe('findOverlaps', () => {
  const state = clusterOf({
    namespaces: { x: {}, y: {} },
    pods: { 'x/a': { ips: ['10.0.0.1'], labels: { app: 'a' } }, 'x/b': { ips: ['10.0.0.2'] }, 'y/c': { ips: ['10.0.0.3'] }, 'y/h': { ips: ['192.168.0.1'], hostNetwork: true } },
  })
  test('same tier and priority, shared subject pods, rules in a common direction: one warning naming the order', () => {
    const o = findOverlaps([cnp('zeta', 'Admin', 3, nsSubject('x')), cnp('alpha', 'Admin', 3, { pods: { podSelector: { matchLabels: { app: 'a' } } } })], state)
    expect(o).toEqual([expect.objectContaining({ tier: 'Admin', priority: 3, first: 'alpha', second: 'zeta', directions: ['ingress'], pods: ['x/a'], podCount: 1 })])
    expect(o[0]!.words).toContain('cinch applies alpha first')
  })
  test.each([
    ['different priority', [cnp('p', 'Admin', 3, nsSubject('x')), cnp('q', 'Admin', 4, nsSubject('x'))]],
    ['different tier', [cnp('p', 'Admin', 3, nsSubject('x')), cnp('q', 'Baseline', 3, nsSubject('x'))]],
    ['disjoint subjects', [cnp('p', 'Admin', 3, nsSubject('x')), cnp('q', 'Admin', 3, nsSubject('y'))]],
    ['different directions', [cnp('p', 'Admin', 3, nsSubject('x')), cnp('q', 'Admin', 3, nsSubject('x'), { egress: [{ action: 'Deny', to: [{ namespaces: {} }] }] })]],
    ['only a host-network pod in common', [cnp('p', 'Admin', 3, { pods: { podSelector: {}, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } } }),
      cnp('q', 'Admin', 3, { pods: { podSelector: { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'zz' } } } })]],
  ])('no warning: %s', (_, ps) => {
    expect(findOverlaps(ps, state)).toEqual([])
  })
})
