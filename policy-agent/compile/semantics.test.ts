// Every point of networking.k8s.io/v1 NetworkPolicy semantics as a table of synthetic cluster
// states and flows. Each flow is checked twice: through decide() (the API semantics in words) and
// through the compiled IR walked as the kernel walks it, over IPv4 and, where both ends have one,
// IPv6 addresses.
import { describe, expect, test } from 'vitest'
import type { NetworkPolicy, Protocol } from '../model/cluster.js'
import { LENIENT, parseIp } from '../../lib/ip/index.js'
import { compile, decide, type Endpoint } from './index.js'
import { evalForward } from '../../test/kit/ir-eval.js'
import { allLocal, clusterOf, policy } from '../../test/kit/policy-state.js'

const tcp = (port: number) => ({ name: 'http', containerPort: port, protocol: 'TCP' as const })
function base(policies: NetworkPolicy[]) {
  return clusterOf({
    namespaces: { x: { team: 'blue', env: 'prod' }, y: { team: 'red', env: 'dev' }, z: { team: 'red' } },
    pods: {
      'x/a': { labels: { app: 'web', tier: 'fe' }, ips: ['10.0.1.1', 'fd00::1:1'], nodeName: 'n1',
        ports: [tcp(8080), { name: 'dns', containerPort: 53, protocol: 'UDP' }, { name: 'sig', containerPort: 9000, protocol: 'SCTP' }] },
      'x/b': { labels: { app: 'db' }, ips: ['10.0.1.2', 'fd00::1:2'], ports: [tcp(9090)] },
      'x/c': { labels: { app: 'web' }, ips: ['10.0.1.3', 'fd00::1:3'], ports: [tcp(7070)] },
      'x/h': { labels: { app: 'client' }, ips: ['192.168.0.10'], hostNetwork: true },
      'y/a': { labels: { app: 'web' }, ips: ['10.0.2.1', 'fd00::2:1'] },
      'y/b': { labels: { app: 'client', role: 'admin' }, ips: ['10.0.2.2', 'fd00::2:2'] },
      'y/c': { labels: { app: 'db' }, ips: ['10.0.2.3', 'fd00::2:3'] },
      'z/a': { labels: { app: 'client' }, ips: ['10.0.3.1'] },
    },
    nodes: [{ name: 'n1', internalIPs: ['192.168.0.10'] }],
    policies,
  })
}

type End = string | { ip: string }
type F = [from: End, to: End, port: number, protocol: Protocol, allowed: boolean]
interface Case { name: string; policies: NetworkPolicy[]; flows: F[]; irSkip?: boolean }

const web = { matchLabels: { app: 'web' } }
const ingressTo = (sel: object, ingress: object[]) => policy('x', 'p', { podSelector: sel, policyTypes: ['Ingress'], ingress })
const egressOf = (sel: object, egress: object[]) => policy('x', 'p', { podSelector: sel, policyTypes: ['Egress'], egress })

const cases: Case[] = [
  { name: 'no policy: every flow is allowed', policies: [], flows: [['y/b', 'x/a', 8080, 'TCP', true], ['x/a', 'z/a', 80, 'UDP', true]] },
  { name: 'empty podSelector with no ingress rules isolates every pod of the namespace',
    policies: [policy('x', 'deny', { podSelector: {}, policyTypes: ['Ingress'] })],
    flows: [['y/b', 'x/a', 8080, 'TCP', false], ['y/b', 'x/b', 9090, 'TCP', false], ['x/a', 'x/b', 9090, 'TCP', false], ['x/a', 'y/a', 80, 'TCP', true]] },
  { name: 'policyTypes absent: Ingress always, Egress because egress rules exist',
    policies: [policy('x', 'p', { podSelector: web, egress: [{ to: [{ podSelector: { matchLabels: { app: 'db' } } }] }] })],
    flows: [['x/a', 'x/b', 9090, 'TCP', true], ['x/a', 'y/a', 80, 'TCP', false], ['y/b', 'x/a', 8080, 'TCP', false], ['x/b', 'y/a', 80, 'TCP', true]] },
  { name: 'policyTypes absent and egress: [] only isolates ingress',
    policies: [policy('x', 'p', { podSelector: {}, egress: [] })],
    flows: [['x/a', 'y/a', 80, 'TCP', true], ['y/a', 'x/a', 8080, 'TCP', false]] },
  { name: 'policyTypes [Egress] leaves ingress open',
    policies: [policy('x', 'p', { podSelector: web, policyTypes: ['Egress'] })],
    flows: [['x/a', 'y/a', 80, 'TCP', false], ['y/b', 'x/a', 8080, 'TCP', true], ['x/b', 'y/a', 80, 'TCP', true]] },
  { name: 'podSelector peer means pods of the policy namespace only',
    policies: [ingressTo(web, [{ from: [{ podSelector: { matchLabels: { app: 'db' } } }] }])],
    flows: [['x/b', 'x/a', 8080, 'TCP', true], ['y/c', 'x/a', 8080, 'TCP', false], ['x/c', 'x/a', 8080, 'TCP', false]] },
  { name: 'namespaceSelector peer means every pod of the matching namespaces',
    policies: [ingressTo(web, [{ from: [{ namespaceSelector: { matchLabels: { team: 'red' } } }] }])],
    flows: [['y/a', 'x/a', 8080, 'TCP', true], ['z/a', 'x/a', 8080, 'TCP', true], ['x/b', 'x/a', 8080, 'TCP', false]] },
  { name: 'podSelector and namespaceSelector in one peer: both must match',
    policies: [ingressTo(web, [{ from: [{ namespaceSelector: { matchLabels: { team: 'red' } }, podSelector: { matchLabels: { app: 'client' } } }] }])],
    flows: [['y/b', 'x/a', 8080, 'TCP', true], ['z/a', 'x/a', 8080, 'TCP', true], ['y/a', 'x/a', 8080, 'TCP', false], ['x/b', 'x/a', 8080, 'TCP', false]] },
  { name: 'two peers in one rule: either matches',
    policies: [ingressTo(web, [{ from: [{ namespaceSelector: { matchLabels: { team: 'red' } } }, { podSelector: { matchLabels: { app: 'db' } } }] }])],
    flows: [['y/a', 'x/a', 8080, 'TCP', true], ['x/b', 'x/a', 8080, 'TCP', true], ['x/c', 'x/a', 8080, 'TCP', false]] },
  { name: 'matchExpressions In',
    policies: [ingressTo({ matchLabels: { tier: 'fe' } }, [{ from: [{ podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['db', 'web'] }] } }] }])],
    flows: [['x/b', 'x/a', 8080, 'TCP', true], ['x/c', 'x/a', 8080, 'TCP', true], ['y/a', 'x/a', 8080, 'TCP', false]] },
  { name: 'matchExpressions NotIn matches objects without the key too',
    policies: [ingressTo(web, [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] } }] }])],
    flows: [['y/a', 'x/a', 8080, 'TCP', true], ['z/a', 'x/a', 8080, 'TCP', true], ['x/b', 'x/a', 8080, 'TCP', false]] },
  { name: 'matchExpressions Exists',
    policies: [ingressTo(web, [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'Exists' }] } }] }])],
    flows: [['y/a', 'x/a', 8080, 'TCP', true], ['x/b', 'x/a', 8080, 'TCP', true], ['z/a', 'x/a', 8080, 'TCP', false]] },
  { name: 'matchExpressions DoesNotExist',
    policies: [ingressTo(web, [{ from: [{ namespaceSelector: {}, podSelector: { matchExpressions: [{ key: 'role', operator: 'DoesNotExist' }] } }] }])],
    flows: [['y/a', 'x/a', 8080, 'TCP', true], ['y/b', 'x/a', 8080, 'TCP', false]] },
  { name: 'ipBlock with except',
    policies: [ingressTo(web, [{ from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.2.0/24'] } }] }])],
    flows: [['x/b', 'x/a', 8080, 'TCP', true], ['z/a', 'x/a', 8080, 'TCP', true], ['y/a', 'x/a', 8080, 'TCP', false], [{ ip: '172.16.0.5' }, 'x/a', 8080, 'TCP', false]] },
  { name: 'ipBlock over IPv6',
    policies: [ingressTo(web, [{ from: [{ ipBlock: { cidr: 'fd00::2:0/112', except: ['fd00::2:3/128'] } }] }])],
    flows: [[{ ip: 'fd00::2:1' }, { ip: 'fd00:0::1:1' }, 8080, 'TCP', true], [{ ip: 'fd00::1:2' }, { ip: 'fd00::1:1' }, 8080, 'TCP', false],
      [{ ip: 'fd00::2:3' }, { ip: 'fd00::1:1' }, 8080, 'TCP', false], [{ ip: '10.0.2.1' }, { ip: '10.0.1.1' }, 8080, 'TCP', false]] },
  { name: 'ipBlock admits a source outside the cluster',
    policies: [ingressTo(web, [{ from: [{ ipBlock: { cidr: '172.16.0.0/12' } }] }])],
    flows: [[{ ip: '172.16.0.5' }, 'x/a', 8080, 'TCP', true], ['y/a', 'x/a', 8080, 'TCP', false]] },
  { name: 'egress to an ipBlock with a port',
    policies: [egressOf(web, [{ to: [{ ipBlock: { cidr: '8.8.8.0/24' } }], ports: [{ protocol: 'UDP', port: 53 }] }])],
    flows: [['x/a', { ip: '8.8.8.8' }, 53, 'UDP', true], ['x/a', { ip: '8.8.8.8' }, 53, 'TCP', false], ['x/a', { ip: '1.1.1.1' }, 53, 'UDP', false]] },
  { name: 'port by number, protocol TCP by default',
    policies: [ingressTo(web, [{ ports: [{ port: 8080 }] }])],
    flows: [['y/b', 'x/a', 8080, 'TCP', true], ['y/b', 'x/a', 8080, 'UDP', false], ['y/b', 'x/a', 80, 'TCP', false]] },
  { name: 'named port on ingress resolves on each selected (destination) pod',
    policies: [ingressTo(web, [{ ports: [{ port: 'http' }] }])],
    flows: [['y/b', 'x/a', 8080, 'TCP', true], ['y/b', 'x/a', 7070, 'TCP', false], ['y/b', 'x/c', 7070, 'TCP', true], ['y/b', 'x/c', 8080, 'TCP', false]] },
  { name: 'named port on egress resolves on each destination pod',
    policies: [egressOf({ matchLabels: { app: 'db' } }, [{ to: [{ podSelector: web }], ports: [{ port: 'http' }] }])],
    flows: [['x/b', 'x/a', 8080, 'TCP', true], ['x/b', 'x/c', 7070, 'TCP', true], ['x/b', 'x/a', 7070, 'TCP', false], ['x/b', 'x/c', 8080, 'TCP', false], ['x/b', 'y/a', 8080, 'TCP', false]] },
  { name: 'named port on egress without peers: any pod that has it',
    policies: [egressOf({ matchLabels: { app: 'db' } }, [{ ports: [{ port: 'http' }, { port: 443 }] }])],
    flows: [['x/b', 'x/a', 8080, 'TCP', true], ['x/b', 'y/a', 8080, 'TCP', false], ['x/b', { ip: '8.8.8.8' }, 8080, 'TCP', false], ['x/b', { ip: '8.8.8.8' }, 443, 'TCP', true]] },
  { name: 'endPort makes a range',
    policies: [ingressTo(web, [{ ports: [{ port: 8000, endPort: 8100 }] }])],
    flows: [['y/b', 'x/a', 8000, 'TCP', true], ['y/b', 'x/a', 8080, 'TCP', true], ['y/b', 'x/a', 8100, 'TCP', true], ['y/b', 'x/a', 8101, 'TCP', false], ['y/b', 'x/a', 7999, 'TCP', false]] },
  { name: 'UDP and SCTP ports',
    policies: [ingressTo(web, [{ ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'SCTP', port: 'sig' }] }])],
    flows: [['y/b', 'x/a', 53, 'UDP', true], ['y/b', 'x/a', 53, 'TCP', false], ['y/b', 'x/a', 9000, 'SCTP', true], ['y/b', 'x/a', 9000, 'TCP', false]] },
  { name: 'a port entry with a protocol alone matches every port of it',
    policies: [ingressTo(web, [{ ports: [{ protocol: 'UDP' }] }])],
    flows: [['y/b', 'x/a', 1234, 'UDP', true], ['y/b', 'x/a', 1234, 'TCP', false]] },
  { name: 'an empty rule allows everything',
    policies: [ingressTo(web, [{}])],
    flows: [['y/b', 'x/a', 1, 'TCP', true], [{ ip: '8.8.8.8' }, 'x/a', 53, 'UDP', true]] },
  { name: 'several policies add up',
    policies: [
      policy('x', 'p1', { podSelector: web, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { role: 'admin' } } }], ports: [{ port: 8080 }] }] }),
      policy('x', 'p2', { podSelector: { matchLabels: { tier: 'fe' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'z' } } }] }] }),
    ],
    flows: [['y/b', 'x/a', 8080, 'TCP', true], ['y/b', 'x/a', 80, 'TCP', false], ['z/a', 'x/a', 80, 'TCP', true], ['z/a', 'x/c', 80, 'TCP', false], ['y/a', 'x/a', 8080, 'TCP', false]] },
  { name: "a flow needs the sender's egress and the receiver's ingress",
    policies: [
      policy('x', 'no-egress', { podSelector: web, policyTypes: ['Egress'] }),
      policy('y', 'all-in', { podSelector: {}, ingress: [{}] }),
      policy('y', 'b-out', { podSelector: { matchLabels: { app: 'client' } }, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: {} }] }] }),
      policy('x', 'a-in', { podSelector: { matchLabels: { tier: 'fe' } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'db' } } }] }] }),
    ],
    flows: [['x/a', 'y/a', 80, 'TCP', false], ['x/b', 'y/a', 80, 'TCP', true], ['y/b', 'x/a', 8080, 'TCP', false], ['y/b', 'x/b', 9090, 'TCP', true], ['y/c', 'x/a', 8080, 'TCP', true]] },
  { name: 'pods with hostNetwork are not selected by podSelector peers',
    policies: [ingressTo(web, [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'client' } } }] }])],
    flows: [['x/h', 'x/c', 7070, 'TCP', false], ['y/b', 'x/c', 7070, 'TCP', true]] },
  { name: 'pods with hostNetwork are matched by ipBlock (their node address)',
    policies: [ingressTo(web, [{ from: [{ ipBlock: { cidr: '192.168.0.0/24' } }] }])],
    flows: [['x/h', 'x/c', 7070, 'TCP', true], ['y/b', 'x/c', 7070, 'TCP', false]] },
  { name: 'the node always reaches its local pods (kubelet probes)', irSkip: true,
    policies: [policy('x', 'deny', { podSelector: {} })],
    flows: [[{ ip: '192.168.0.10' }, 'x/a', 8080, 'TCP', true], [{ ip: '192.168.0.11' }, 'x/a', 8080, 'TCP', false]] },
  { name: 'named ports missing on the pod: the rule allows nothing, the pod stays isolated',
    policies: [ingressTo({ matchLabels: { app: 'db' } }, [{ ports: [{ port: 'nope' }] }])],
    flows: [['y/b', 'x/b', 9090, 'TCP', false]] },
]

function endpoint(e: End): Endpoint {
  if (typeof e !== 'string') return e
  const [namespace, name] = e.split('/') as [string, string]
  return { namespace, name }
}

describe('NetworkPolicy semantics', () => {
  test.each(cases)('$name', ({ policies, flows, irSkip }) => {
    const state = base(policies)
    const { ir, invalid } = compile(state, allLocal(state))
    expect(invalid).toEqual([])
    const addrs = (e: End) => (typeof e === 'string' ? state.pods.get(e)!.ips : [e.ip])
    for (const [from, to, port, protocol, allowed] of flows) {
      const what = `${JSON.stringify(from)} -> ${JSON.stringify(to)} ${protocol}/${port}`
      const d = decide(state, { from: endpoint(from), to: endpoint(to), port, protocol })
      expect(d.allowed, `decide ${what}: ${[...d.egress.reasons, ...d.ingress.reasons].join('; ')}`).toBe(allowed)
      expect(d.egress.reasons.length + d.ingress.reasons.length).toBeGreaterThan(1)
      if (irSkip) continue
      let checked = 0
      for (const family of [4, 6]) {
        const s = addrs(from).find((a) => parseIp(a, LENIENT)!.family === family)
        const t = addrs(to).find((a) => parseIp(a, LENIENT)!.family === family)
        if (!s || !t) continue
        // The first family both ends have is the one decide() chose; the other one (an ipBlock is
        // of one family) is held against decide() on the addresses themselves.
        const want = checked === 0 ? allowed : decide(state, { from: { ip: s }, to: { ip: t }, port, protocol }).allowed
        const r = evalForward(ir, { saddr: s, daddr: t, protocol: protocol.toLowerCase() as 'tcp', dport: port })
        expect(r.allowed, `IR ${what} over ${s} -> ${t}: ${r.by.join('; ')}`).toBe(want)
        checked++
      }
      expect(checked, `no address family to check ${what}`).toBeGreaterThan(0)
    }
  })
})

describe('invalid policies', () => {
  const bad = [
    ['bad-cidr', { ipBlock: { cidr: '10.0.0.0/33' } }, 'is not a valid CIDR'],
    ['except-outside', { ipBlock: { cidr: '10.0.0.0/16', except: ['10.1.0.0/24'] } }, 'is not inside 10.0.0.0/16'],
    ['bad-operator', { podSelector: { matchExpressions: [{ key: 'app', operator: 'Foo', values: ['x'] }] } }, 'unknown operator'],
  ] as const
  const policies = [
    ...bad.map(([name, peer]) => policy('x', name, { podSelector: {}, ingress: [{ from: [peer as object] }] })),
    policy('x', 'bad-protocol', { podSelector: {}, ingress: [{ ports: [{ protocol: 'ICMP', port: 1 }] }] }),
    policy('x', 'good', { podSelector: web, ingress: [{ from: [{ namespaceSelector: {} }], ports: [{ port: 8080 }] }] }),
  ]
  test('are reported by name and skipped whole while the others apply', () => {
    const state = base(policies)
    const { ir, invalid } = compile(state, allLocal(state))
    expect(invalid.map((i) => i.policy)).toEqual(['x/bad-cidr', 'x/bad-operator', 'x/bad-protocol', 'x/except-outside'])
    for (const [name, , reason] of bad) expect(invalid.find((i) => i.policy === `x/${name}`)!.reason).toContain(reason)
    expect(invalid.find((i) => i.policy === 'x/bad-protocol')!.reason).toContain('unknown protocol "ICMP"')
    // The invalid ones select every pod of x: applied, they would isolate x/b. They do not.
    expect(decide(state, { from: { namespace: 'y', name: 'a' }, to: { namespace: 'x', name: 'b' }, port: 9090, protocol: 'TCP' }).allowed).toBe(true)
    expect(evalForward(ir, { saddr: '10.0.2.1', daddr: '10.0.1.2', protocol: 'tcp', dport: 9090 }).allowed).toBe(true)
    expect(evalForward(ir, { saddr: '10.0.2.1', daddr: '10.0.1.1', protocol: 'tcp', dport: 8080 }).allowed).toBe(true)
    expect(evalForward(ir, { saddr: '10.0.2.1', daddr: '10.0.1.1', protocol: 'tcp', dport: 80 }).allowed).toBe(false)
    expect(Object.keys(ir.policyCounters)).toEqual(['x/good'])
  })
})

describe('decide in words', () => {
  test('names the isolating policies when it denies, and the allowing rule when it allows', () => {
    const state = base([ingressTo(web, [{ from: [{ namespaceSelector: { matchLabels: { team: 'red' } } }], ports: [{ port: 'http' }] }])])
    const deny = decide(state, { from: { namespace: 'x', name: 'b' }, to: { namespace: 'x', name: 'a' }, port: 8080, protocol: 'TCP' })
    expect(deny.ingress.reasons.join(' ')).toMatch(/x\/a is isolated for ingress by x\/p.*no ingress rule of them allows TCP\/8080 from x\/b/)
    const allow = decide(state, { from: { namespace: 'y', name: 'b' }, to: { namespace: 'x', name: 'a' }, port: 8080, protocol: 'TCP' })
    expect(allow.ingress.reasons).toEqual(['allowed by x/p ingress[0]: y/b is in all pods in namespaces with team=red, TCP port named http'])
    expect(allow.egress.reasons[0]).toContain('y/b is not isolated for egress')
  })
})
