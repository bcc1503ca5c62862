import { describe, expect, it } from 'vitest'
import { deniedFlows, parseConntrack, type ConntrackFlow } from './conntrack.js'
import { emptyClusterState } from '../model/cluster.js'

describe('parseConntrack', () => {
  it('reads the original direction of tcp, udp and ipv6 entries and skips others', () => {
    const text = [
      'ipv4     2 tcp      6 431999 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=40228 dport=80 src=10.0.0.2 dst=10.0.0.1 sport=80 dport=40228 [ASSURED] mark=0 use=1',
      'ipv4     2 udp      17 29 src=10.0.0.3 dst=10.0.0.2 sport=5000 dport=81 [UNREPLIED] src=10.0.0.2 dst=10.0.0.3 sport=81 dport=5000 mark=0 use=1',
      'ipv6     10 tcp      6 119 SYN_SENT src=fd00::1 dst=fd00::2 sport=1234 dport=443 [UNREPLIED] src=fd00::2 dst=fd00::1 sport=443 dport=1234 mark=0 use=1',
      'ipv4     2 icmp     1 29 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=7 src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=7 mark=0 use=1',
      'conntrack v1.4.7 (conntrack-tools): 4 flow entries have been shown.',
    ].join('\n')
    expect(parseConntrack(text)).toEqual([
      { family: 'ipv4', protocol: 'TCP', src: '10.0.0.1', dst: '10.0.0.2', sport: 40228, dport: 80 },
      { family: 'ipv4', protocol: 'UDP', src: '10.0.0.3', dst: '10.0.0.2', sport: 5000, dport: 81 },
      { family: 'ipv6', protocol: 'TCP', src: 'fd00::1', dst: 'fd00::2', sport: 1234, dport: 443 },
    ])
  })
})

describe('deniedFlows', () => {
  // x/a (10.0.0.2, fd00::2) is isolated for ingress by a deny-all; the node's bridge address is
  // 10.0.0.1 / fd00::1; 10.0.0.3 is another local pod without policy.
  const state = emptyClusterState()
  state.namespaces.set('x', { name: 'x', labels: { 'kubernetes.io/metadata.name': 'x' } })
  state.pods.set('x/a', { namespace: 'x', name: 'a', labels: { pod: 'a' }, ips: ['10.0.0.2', 'fd00::2'], nodeName: 'n1', ports: [] })
  state.pods.set('x/b', { namespace: 'x', name: 'b', labels: {}, ips: ['10.0.0.3'], nodeName: 'n1', ports: [] })
  state.policies.set('x/deny-a', { metadata: { namespace: 'x', name: 'deny-a' }, spec: { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Ingress'] } })
  const flow = (src: string, dst: string, family: 'ipv4' | 'ipv6' = 'ipv4'): ConntrackFlow => ({ family, protocol: 'TCP', src, dst, sport: 40000, dport: 80 })
  const local = new Set(['10.0.0.2', '10.0.0.3', 'fd00::2'])
  const node = new Set(['10.0.0.1', 'fd00::1'])

  it('ends flows into an isolated pod from another pod, v4 and v6 (addresses compared canonically)', () => {
    const flows = [flow('10.0.0.3', '10.0.0.2'), flow('fd00:0:0::3', 'fd00:0::2', 'ipv6')]
    expect(deniedFlows(state, flows, local, node)).toEqual(flows)
  })

  it('never ends a flow the node itself opened: the node always reaches its pods', () => {
    expect(deniedFlows(state, [flow('10.0.0.1', '10.0.0.2'), flow('fd00::1', 'fd00::2', 'ipv6')], local, node)).toEqual([])
  })

  it('keeps flows no policy denies and flows not touching a local pod', () => {
    expect(deniedFlows(state, [flow('10.0.0.2', '10.0.0.3'), flow('192.0.2.1', '192.0.2.2')], local, node)).toEqual([])
  })
})
