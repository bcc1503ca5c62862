import { describe, expect, it } from 'vitest'
import { parseConntrack } from './conntrack.js'

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
