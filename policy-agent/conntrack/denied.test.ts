import { describe, expect, it } from 'vitest'
import { deniedEntries, isLive } from './denied.js'
import { emptyClusterState } from '../model/cluster.js'
import { IPPROTO, IPS, SCTP_CONNTRACK, TCP_CONNTRACK, type CtEntry } from '../../lib/net/conntrack.js'

// x/a (10.0.0.2, fd00::2) is isolated for ingress by a deny-all; the node's bridge address is
// 10.0.0.1 / fd00::1; 10.0.0.3 is another local pod without policy.
const state = emptyClusterState()
state.namespaces.set('x', { name: 'x', labels: { 'kubernetes.io/metadata.name': 'x' } })
state.pods.set('x/a', { namespace: 'x', name: 'a', labels: { pod: 'a' }, ips: ['10.0.0.2', 'fd00::2'], nodeName: 'n1', ports: [] })
state.pods.set('x/b', { namespace: 'x', name: 'b', labels: {}, ips: ['10.0.0.3'], nodeName: 'n1', ports: [] })
state.policies.set('x/deny-a', { metadata: { namespace: 'x', name: 'deny-a' }, spec: { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Ingress'] } })
const local = new Set(['10.0.0.2', '10.0.0.3', 'fd00::2'])
const node = new Set(['10.0.0.1', 'fd00::1'])

/** An entry from src to dst (reply from `via`, the post-DNAT destination, when given). */
function entry(src: string, dst: string, o: { proto?: number; state?: number; status?: number; via?: string } = {}): CtEntry {
  const proto = o.proto ?? IPPROTO.TCP
  const to = o.via ?? dst
  return {
    family: src.includes(':') ? 6 : 4,
    orig: { src, dst, proto, sport: 40000, dport: 80 },
    reply: { src: to, dst: src, proto, sport: 80, dport: 40000 },
    status: o.status ?? IPS.SEEN_REPLY | IPS.ASSURED,
    state: o.state ?? (proto === IPPROTO.TCP ? TCP_CONNTRACK.ESTABLISHED : undefined),
  }
}
const denied = deniedEntries(state, local, node)

describe('deniedEntries', () => {
  it('ends flows into an isolated pod from another pod, v4 and v6, TCP and UDP', () => {
    expect([entry('10.0.0.3', '10.0.0.2'), entry('fd00::3', 'fd00::2'), entry('10.0.0.3', '10.0.0.2', { proto: IPPROTO.UDP, status: 0 })].map(denied)).toEqual([true, true, true])
  })

  it('judges a Service connection by where DNAT sent it (the reply\'s source), not the ClusterIP', () => {
    expect(denied(entry('10.0.0.3', '10.96.0.10', { via: '10.0.0.2' }))).toBe(true)
    expect(denied(entry('10.0.0.2', '10.96.0.10', { via: '10.0.0.3' }))).toBe(false)
  })

  it('judges by what the kernel enforces: an audit policy (only logged) or a skipped one (invalid, over cost) ends nothing', () => {
    const audited = { ...state, policies: new Map(state.policies) }
    audited.policies.set('x/deny-b', { metadata: { namespace: 'x', name: 'deny-b', annotations: { 'cinch.dev/audit': 'true' } }, spec: { podSelector: {}, policyTypes: ['Ingress'] } })
    // deny-b audits every pod of x; deny-a still enforces on x/a.
    expect([entry('10.0.0.2', '10.0.0.3'), entry('10.0.0.3', '10.0.0.2')].map(deniedEntries(audited, local, node))).toEqual([false, true])
    // The compiler skipped deny-a (say, over the cost bound): the kernel has no rule of it.
    expect(deniedEntries(state, local, node, ['x/deny-a'])(entry('10.0.0.3', '10.0.0.2'))).toBe(false)
  })

  it('ends every flow of a pod direction that fails closed (its policies cost too much), as its chain drops them', () => {
    // x/b has no policy; its egress fails closed (--max-pod-policy-cost): all it opened is denied,
    // by address (canonical, as conntrack names it: the agent canonicalizes the records'), what it receives is not.
    const closed = { ingress: new Set<string>(), egress: new Set(['x/b', '10.0.0.3', 'fd00::3']) }
    const d = deniedEntries(state, new Set([...local, 'fd00::3']), node, [], closed)
    const flows = [entry('10.0.0.3', '192.0.2.9'), entry('fd00::3', '2001:db8::1'), entry('10.0.0.2', '10.0.0.3')]
    expect(flows.map(deniedEntries(state, new Set([...local, 'fd00::3']), node))).toEqual([false, false, false])
    expect(flows.map(d)).toEqual([true, true, false])
    // its ingress closed instead: flows to it end, even from a pod no policy isolates
    const inClosed = deniedEntries(state, local, node, [], { ingress: new Set(['10.0.0.3']), egress: new Set<string>() })
    expect([entry('192.0.2.9', '10.0.0.3'), entry('10.0.0.3', '192.0.2.9')].map(inClosed)).toEqual([true, false])
  })

  it('never ends a flow the node itself opened: the node always reaches its pods', () => {
    expect([entry('10.0.0.1', '10.0.0.2'), entry('fd00::1', 'fd00::2')].map(denied)).toEqual([false, false])
  })

  it('keeps flows no policy denies, flows not touching a local pod, and protocols without ports', () => {
    expect([entry('10.0.0.2', '10.0.0.3'), entry('192.0.2.1', '192.0.2.2'), entry('10.0.0.3', '10.0.0.2', { proto: 1 })].map(denied)).toEqual([false, false, false])
  })

  it('leaves connections that are over: TCP TIME_WAIT and CLOSE, closed SCTP, dying entries', () => {
    for (const e of [
      entry('10.0.0.3', '10.0.0.2', { state: TCP_CONNTRACK.TIME_WAIT }),
      entry('10.0.0.3', '10.0.0.2', { state: TCP_CONNTRACK.CLOSE }),
      entry('10.0.0.3', '10.0.0.2', { proto: IPPROTO.SCTP, state: SCTP_CONNTRACK.CLOSED }),
      entry('10.0.0.3', '10.0.0.2', { status: IPS.DYING }),
    ]) expect([isLive(e), denied(e)]).toEqual([false, false])
    // Half-closed TCP still carries data one way.
    expect(denied(entry('10.0.0.3', '10.0.0.2', { state: TCP_CONNTRACK.FIN_WAIT }))).toBe(true)
  })
})
