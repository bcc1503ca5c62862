import { describe, expect, it } from 'vitest'
import { clusterCidrs, renderNoMasq } from './nomasq.js'

const nodes = [
  { name: 'a', podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'], internalIPs: [] },
  { name: 'b', podCIDRs: ['10.244.2.0/24', 'fd00:10:244:2::/64'], internalIPs: [] },
]

describe('clusterCidrs', () => {
  it('takes every Node pod CIDR when none is configured', () => {
    expect(clusterCidrs([], nodes)).toEqual({ 4: ['10.244.1.0/24', '10.244.2.0/24'], 6: ['fd00:10:244:1::/64', 'fd00:10:244:2::/64'] })
  })
  it('prefers the configured cluster CIDRs', () => {
    expect(clusterCidrs(['10.244.0.0/16', 'fd00:10:244::/56'], nodes)).toEqual({ 4: ['10.244.0.0/16'], 6: ['fd00:10:244::/56'] })
  })
  it('keeps disjoint CIDRs and drops exact duplicates', () => {
    expect(clusterCidrs(['10.244.0.0/16', '10.96.0.0/12', '10.244.0.0/16'], [])).toEqual({ 4: ['10.244.0.0/16', '10.96.0.0/12'], 6: [] })
  })
  it('drops duplicates, CIDRs inside others, host bits and garbage (an interval set refuses overlaps)', () => {
    expect(clusterCidrs(['10.244.0.0/16', '10.244.3.0/24', '10.244.0.0/16', ' 10.9.9.9/8', 'nope'], [])).toEqual({ 4: ['10.0.0.0/8'], 6: [] })
  })
})

describe('renderNoMasq', () => {
  it('declares both sets as cinch-bridge does and replaces their contents in one transaction', () => {
    expect(renderNoMasq({ 4: ['10.244.0.0/16'], 6: [] })).toBe(
      'add table inet cinch-nat\n' +
        'add set inet cinch-nat cluster-cidrs-v4 { type ipv4_addr; flags interval; }\n' +
        'flush set inet cinch-nat cluster-cidrs-v4\n' +
        'add element inet cinch-nat cluster-cidrs-v4 { 10.244.0.0/16 }\n' +
        'add set inet cinch-nat cluster-cidrs-v6 { type ipv6_addr; flags interval; }\n' +
        'flush set inet cinch-nat cluster-cidrs-v6\n',
    )
  })
  it("with this node's pod CIDRs, masquerades its pods leaving the cluster, and nothing else", () => {
    const text = renderNoMasq({ 4: ['10.244.0.0/16'], 6: ['fd00:10:244::/56'] }, ['fd00:10:244:1::/64', '10.244.1.0/24'])
    expect(text).toContain('add element inet cinch-nat node-pod-cidrs-v4 { 10.244.1.0/24 }\n')
    expect(text).toContain('add element inet cinch-nat node-pod-cidrs-v6 { fd00:10:244:1::/64 }\n')
    expect(text.split('\n').filter((l) => / node-masquerade( |$)/.test(l) && !l.startsWith('add chain'))).toEqual([
      'flush chain inet cinch-nat node-masquerade',
      'add rule inet cinch-nat node-masquerade ip saddr @node-pod-cidrs-v4 ip daddr @cluster-cidrs-v4 return',
      'add rule inet cinch-nat node-masquerade ip saddr @node-pod-cidrs-v4 ip daddr 224.0.0.0/4 return',
      'add rule inet cinch-nat node-masquerade ip saddr @node-pod-cidrs-v4 masquerade',
      'add rule inet cinch-nat node-masquerade ip6 saddr @node-pod-cidrs-v6 ip6 daddr @cluster-cidrs-v6 return',
      'add rule inet cinch-nat node-masquerade ip6 saddr @node-pod-cidrs-v6 ip6 daddr ff00::/8 return',
      'add rule inet cinch-nat node-masquerade ip6 saddr @node-pod-cidrs-v6 masquerade',
    ])
  })
})
