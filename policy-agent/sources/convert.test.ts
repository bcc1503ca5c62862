// The converter is strict: a field of an unexpected type rejects the object, naming the field,
// instead of reading as absent (an absent `from` or `podSelector` means "everything").
import { describe, expect, it } from 'vitest'
import { convertAs, type Kind } from './convert.js'
import type { Namespace, Pod } from '../model/cluster.js'

const pol = (spec: unknown) => ({ metadata: { namespace: 'x', name: 'p' }, spec })
const rejected: [string, Kind, unknown, string][] = [
  ['from as a string', 'NetworkPolicy', pol({ ingress: [{ from: 'y' }] }), 'spec.ingress[0].from: expected a list, got string "y"'],
  ['from as an object', 'NetworkPolicy', pol({ ingress: [{ from: { podSelector: {} } }] }), 'spec.ingress[0].from: expected a list, got object'],
  ['to as a number', 'NetworkPolicy', pol({ egress: [{ to: 5 }] }), 'spec.egress[0].to: expected a list, got number 5'],
  ['a peer as a string', 'NetworkPolicy', pol({ ingress: [{ from: ['y/a'] }] }), 'spec.ingress[0].from[0]: expected an object, got string "y/a"'],
  ['podSelector as a list', 'NetworkPolicy', pol({ podSelector: [] }), 'spec.podSelector: expected an object, got array'],
  ['a peer podSelector as a string', 'NetworkPolicy', pol({ ingress: [{ from: [{ podSelector: 'app=x' }] }] }), 'spec.ingress[0].from[0].podSelector: expected an object, got string "app=x"'],
  ['matchLabels value as a number', 'NetworkPolicy', pol({ podSelector: { matchLabels: { a: 1 } } }), 'spec.podSelector.matchLabels.a: expected a string, got number 1'],
  ['matchExpressions values as a string', 'NetworkPolicy', pol({ podSelector: { matchExpressions: [{ key: 'a', operator: 'In', values: 'b' }] } }), 'spec.podSelector.matchExpressions[0].values: expected a list, got string "b"'],
  ['ipBlock as a string', 'NetworkPolicy', pol({ ingress: [{ from: [{ ipBlock: '10.0.0.0/8' }] }] }), 'spec.ingress[0].from[0].ipBlock: expected an object, got string "10.0.0.0/8"'],
  ['except as a string', 'NetworkPolicy', pol({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: '10.1.0.0/16' } }] }] }), 'spec.ingress[0].from[0].ipBlock.except: expected a list, got string "10.1.0.0/16"'],
  ['ports as an object', 'NetworkPolicy', pol({ ingress: [{ ports: { port: 80 } }] }), 'spec.ingress[0].ports: expected a list, got object'],
  ['a port as a float', 'NetworkPolicy', pol({ ingress: [{ ports: [{ port: 80.5 }] }] }), 'spec.ingress[0].ports[0].port: expected an integer, got number 80.5'],
  ['endPort as a string', 'NetworkPolicy', pol({ ingress: [{ ports: [{ port: 80, endPort: '90' }] }] }), 'spec.ingress[0].ports[0].endPort: expected an integer, got string "90"'],
  ['policyTypes as a string', 'NetworkPolicy', pol({ policyTypes: 'Ingress' }), 'spec.policyTypes: expected a list, got string "Ingress"'],
  ['ingress as an object', 'NetworkPolicy', pol({ ingress: { from: [] } }), 'spec.ingress: expected a list, got object'],
  ['spec as a string', 'NetworkPolicy', pol('x'), 'spec: expected an object, got string "x"'],
  ['labels as a list', 'Pod', { metadata: { name: 'a', labels: ['x'] } }, 'metadata.labels: expected an object, got array'],
  ['a label as a number', 'Pod', { metadata: { name: 'a', labels: { a: 1 } } }, 'metadata.labels.a: expected a string, got number 1'],
  ['podIPs as a string', 'Pod', { metadata: { name: 'a' }, status: { podIPs: '10.0.0.1' } }, 'status.podIPs: expected a list, got string "10.0.0.1"'],
  ['a pod ip as a number', 'Pod', { metadata: { name: 'a' }, status: { podIPs: [{ ip: 1 }] } }, 'status.podIPs[0].ip: expected a string, got number 1'],
  ['containerPort as a string', 'Pod', { metadata: { name: 'a' }, spec: { containers: [{ ports: [{ containerPort: '80' }] }] } }, 'spec.containers[0].ports[0].containerPort: expected an integer, got string "80"'],
  ['an unknown container protocol', 'Pod', { metadata: { name: 'a' }, spec: { containers: [{ ports: [{ containerPort: 80, protocol: 'ICMP' }] }] } }, 'spec.containers[0].ports[0].protocol: unknown protocol "ICMP"'],
  ['hostNetwork as a string', 'Pod', { metadata: { name: 'a' }, spec: { hostNetwork: 'true' } }, 'spec.hostNetwork: expected a boolean, got string "true"'],
  ['no name', 'Namespace', { metadata: {} }, 'metadata.name: expected a string, got undefined'],
  ['namespace labels as a string', 'Namespace', { metadata: { name: 'x', labels: 'a=b' } }, 'metadata.labels: expected an object, got string "a=b"'],
  ['podCIDRs as a string', 'Node', { metadata: { name: 'n' }, spec: { podCIDRs: '10.0.0.0/24' } }, 'spec.podCIDRs: expected a list, got string "10.0.0.0/24"'],
  ['an address as a number', 'Node', { metadata: { name: 'n' }, status: { addresses: [{ type: 'InternalIP', address: 1 }] } }, 'status.addresses[0].address: expected a string, got number 1'],
]

describe('convertAs', () => {
  it.each(rejected)('rejects %s', (_, kind, o, message) => {
    expect(() => convertAs(kind, o)).toThrow(message)
  })

  it('names the failing field by its full path, indexes included, although a valid object is converted without building paths', () => {
    const ok = { podSelector: {} }
    const exact = (kind: Kind, o: unknown) => { try { convertAs(kind, o) } catch (err) { return (err as Error).message } }
    expect(exact('NetworkPolicy', pol({ ingress: [{ from: [ok] }, { from: [ok, ok, { podSelector: { matchExpressions: [{ key: 'a', operator: 'Exists' }, { key: 'b', operator: 5 }] } }] }] })))
      .toBe('spec.ingress[1].from[2].podSelector.matchExpressions[1].operator: expected a string, got number 5')
    expect(exact('NetworkPolicy', pol({ egress: [{}, {}, { ports: [{ port: 1 }, { port: 2, endPort: 'x' }] }] }))).toBe('spec.egress[2].ports[1].endPort: expected an integer, got string "x"')
    expect(exact('NetworkPolicy', pol({ ingress: [{ from: [{ namespaceSelector: { matchLabels: { a: 'b', c: 1 } } }] }] }))).toBe('spec.ingress[0].from[0].namespaceSelector.matchLabels.c: expected a string, got number 1')
    expect(exact('Pod', { metadata: { name: 'a' }, spec: { containers: [{}, { ports: [{ containerPort: 1 }, { containerPort: 2, protocol: 'ICMP' }] }] } })).toBe('spec.containers[1].ports[1].protocol: unknown protocol "ICMP"')
    expect(exact('Pod', { metadata: { name: 'a' }, status: { podIPs: [{ ip: 'x' }, { ip: 2 }] } })).toBe('status.podIPs[1].ip: expected a string, got number 2')
    expect(exact('Node', { metadata: { name: 'n' }, status: { addresses: [{ type: 'a', address: 'b' }, { type: 'c', address: null }] } })).toBe('status.addresses[1].address: expected a string, got null')
    // After a failure the next object is converted as before, and its own error is as full.
    expect(convertAs('NetworkPolicy', pol({ ingress: [{ from: [ok] }] })).value).toEqual({ metadata: { namespace: 'x', name: 'p' }, spec: { ingress: [{ from: [{ podSelector: {} }] }] } })
    expect(exact('NetworkPolicy', pol({ ingress: [{}, { from: 'y' }] }))).toBe('spec.ingress[1].from: expected a list, got string "y"')
  })

  it('reads null as absent (YAML writes it so), an empty peer or port list as absent (the API server omits it, protobuf cannot carry it), and keeps an empty selector distinct from absence', () => {
    const c = convertAs('NetworkPolicy', pol({ podSelector: null, ingress: [{ from: null, ports: [] }, { from: [] }, { from: [{ podSelector: {} }] }] }))
    expect(c.value).toEqual({ metadata: { namespace: 'x', name: 'p' }, spec: { ingress: [{}, {}, { from: [{ podSelector: {} }] }] } })
  })

  it('keeps a __proto__ label as a label', () => {
    const ns = convertAs('Namespace', JSON.parse('{"metadata":{"name":"x","labels":{"__proto__":"y"}}}')).value as Namespace
    expect(Object.getPrototypeOf(ns.labels)).toBe(Object.prototype)
    expect(Object.keys(ns.labels)).toContain('__proto__')
  })

  it('freezes every object of a policy, as a generic deep walk finds them', () => {
    const sel = () => ({ matchLabels: { a: 'b' }, matchExpressions: [{ key: 'k', operator: 'In', values: ['v'] }, { key: 'j', operator: 'Exists' }] })
    const peers = () => [{ podSelector: sel(), namespaceSelector: sel() }, { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }, { ipBlock: { cidr: '::/0' } }]
    const p = convertAs('NetworkPolicy', { metadata: { name: 'p', namespace: 'x', annotations: { 'cinch.dev/audit': 'true' } }, spec: {
      podSelector: sel(), policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: peers(), ports: [{ port: 80 }, { protocol: 'UDP', port: 'dns', endPort: 60 }] }, {}],
      egress: [{ to: peers() }, { ports: [{ port: 1 }] }],
    } }).value
    const unfrozen: string[] = []
    const walk = (v: unknown, path: string) => {
      if (typeof v !== 'object' || v === null) return
      if (!Object.isFrozen(v)) unfrozen.push(path)
      for (const [k, x] of Object.entries(v)) walk(x, `${path}.${k}`)
    }
    walk(p, 'policy')
    expect(unfrozen).toEqual([])
  })

  it('freezes what it returns', () => {
    const pod = convertAs('Pod', { metadata: { name: 'a', namespace: 'x', labels: { a: 'b' } }, status: { podIPs: [{ ip: '10.0.0.1' }] } }).value as Pod
    expect(Object.isFrozen(pod) && Object.isFrozen(pod.labels) && Object.isFrozen(pod.ips)).toBe(true)
  })
})
