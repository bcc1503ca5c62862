// normalizePolicy memoises peers (per JSON, then per namespace) and ports, and builds an error's
// path only when there is an error. A policy's normal form and error must not depend on which
// policies were normalised before it: held here to the plain, memo-free normalisation (the
// algorithm as it stood before the memos), over random policies whose peers and ports repeat
// across namespaces, valid and not, in several orders.
import { describe, expect, test } from 'vitest'
import { normalizePolicy } from './normalize.js'
import { compileSelector } from '../model/selector.js'
import { LENIENT, cidrWithin, formatCidr, parseCidr } from '../../lib/ip/index.js'
import type { NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort } from '../model/cluster.js'
import { rng } from '../../test/kit/random.js'

// ---- the reference: no memo, every path built as it goes -------------------------------------------
function reference(p: NetworkPolicy): unknown {
  try { return plain(p) } catch (e) { return { error: (e as Error).message } }
}
function wrap<T>(where: string, f: () => T): T {
  try { return f() } catch (e) { throw new Error(`${where}: ${(e as Error).message}`) }
}
function plain(p: NetworkPolicy) {
  const namespace = p.metadata?.namespace ?? 'default'
  const name = p.metadata?.name
  if (!name) throw new Error('metadata.name is missing')
  const spec = p.spec ?? {}
  const podSel = wrap('spec.podSelector', () => compileSelector(spec.podSelector ?? {}))
  const types = spec.policyTypes ?? ['Ingress', ...((spec.egress?.length ?? 0) > 0 ? ['Egress'] : [])]
  for (const t of types) if (t !== 'Ingress' && t !== 'Egress') throw new Error(`spec.policyTypes: unknown type ${JSON.stringify(t)}`)
  const rules = (dir: 'ingress' | 'egress', list: { from?: NetworkPolicyPeer[]; to?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }[] | undefined) =>
    (list ?? []).map((r, i) => {
      const where = `spec.${dir}[${i}]`
      const peersRaw = dir === 'ingress' ? r.from : r.to
      return {
        peers: peersRaw && peersRaw.length > 0 ? peersRaw.map((x, j) => peer(x, namespace, `${where}.${dir === 'ingress' ? 'from' : 'to'}[${j}]`)) : null,
        ports: r.ports && r.ports.length > 0 ? r.ports.map((x, j) => port(x, `${where}.ports[${j}]`)) : null,
      }
    })
  return {
    key: `${namespace}/${name}`, namespace, name, podSel,
    ingress: types.includes('Ingress') ? rules('ingress', spec.ingress) : null,
    egress: types.includes('Egress') ? rules('egress', spec.egress) : null,
  }
}
function peer(x: NetworkPolicyPeer, namespace: string, where: string) {
  if (x.ipBlock) {
    if (x.podSelector || x.namespaceSelector) throw new Error(`${where}: ipBlock cannot be combined with a selector`)
    const cidr = parseCidr(String(x.ipBlock.cidr ?? ''), LENIENT)?.cidr
    if (!cidr) throw new Error(`${where}.ipBlock.cidr: ${JSON.stringify(x.ipBlock.cidr)} is not a valid CIDR`)
    const except = (x.ipBlock.except ?? []).map((e, k) => {
      const c = parseCidr(String(e), LENIENT)?.cidr
      if (!c) throw new Error(`${where}.ipBlock.except[${k}]: ${JSON.stringify(e)} is not a valid CIDR`)
      if (!cidrWithin(c, cidr) || c.prefix === cidr.prefix) throw new Error(`${where}.ipBlock.except[${k}]: ${e} is not inside ${formatCidr(cidr)}`)
      return c
    })
    const kept = except.filter((c, i) => !except.some((o, j) => j !== i && cidrWithin(c, o) && (o.prefix < c.prefix || j < i)))
      .sort((a, b) => (a.network < b.network ? -1 : a.network > b.network ? 1 : a.prefix - b.prefix))
    const key = `block ${formatCidr(cidr)} except ${kept.map(formatCidr).join(',')}`
    const words = `ipBlock ${formatCidr(cidr)}${kept.length ? ` except ${kept.map(formatCidr).join(', ')}` : ''}`
    return { kind: 'block', cidr, except: kept, key, words }
  }
  if (!x.podSelector && !x.namespaceSelector) throw new Error(`${where}: a peer needs podSelector, namespaceSelector or ipBlock`)
  const podSel = x.podSelector ? wrap(`${where}.podSelector`, () => compileSelector(x.podSelector)) : null
  const nsSel = x.namespaceSelector ? wrap(`${where}.namespaceSelector`, () => compileSelector(x.namespaceSelector)) : null
  const key = JSON.stringify(['pods', nsSel ? 'sel' : 'ns', nsSel ? nsSel.key : namespace, podSel ? podSel.key : null])
  const nsWords = !nsSel ? `namespace ${namespace}` : nsSel.words === 'all' ? 'any namespace' : `namespaces with ${nsSel.words}`
  const words = `${podSel && podSel.words !== 'all' ? `pods with ${podSel.words}` : 'all pods'} in ${nsWords}`
  return { kind: 'pods', podSel, nsSel, namespace, key, words }
}
function port(x: NetworkPolicyPort, where: string) {
  const protocol = x.protocol ?? 'TCP'
  if (!['TCP', 'UDP', 'SCTP'].includes(protocol)) throw new Error(`${where}.protocol: unknown protocol ${JSON.stringify(x.protocol)}`)
  const endPort = x.endPort
  if (x.port === undefined || x.port === null) {
    if (endPort !== undefined) throw new Error(`${where}.endPort: needs a numeric port`)
    return { protocol, kind: 'all' }
  }
  if (typeof x.port === 'string' && !/^\d+$/.test(x.port)) {
    if (endPort !== undefined) throw new Error(`${where}.endPort: cannot be used with named port ${x.port}`)
    return { protocol, kind: 'named', name: x.port }
  }
  const from = Number(x.port)
  const to = endPort === undefined ? from : Number(endPort)
  if (!Number.isInteger(from) || from < 1 || from > 65535) throw new Error(`${where}.port: ${x.port} is not a port number`)
  if (!Number.isInteger(to) || to < from || to > 65535) throw new Error(`${where}.endPort: ${endPort} must be a port >= ${from}`)
  return { protocol, kind: 'range', from, to }
}

// ---- random policies from small pools, so peers and ports repeat across namespaces ---------------
const SELECTORS: unknown[] = [
  {}, { matchLabels: { app: 'a' } }, { matchLabels: { app: 'b', tier: 'db' } },
  { matchExpressions: [{ key: 'env', operator: 'In', values: ['prod', 'dev'] }] },
  { matchExpressions: [{ key: 'env', operator: 'Exists' }] },
  { matchExpressions: [{ key: 'env', operator: 'Bogus', values: ['x'] }] }, // invalid
  { matchExpressions: [{ key: '', operator: 'In', values: ['x'] }] }, // invalid
]
const BLOCKS: unknown[] = [
  { cidr: '10.0.0.0/8' }, { cidr: '10.0.0.0/8', except: ['10.1.0.0/16', '10.1.2.0/24'] }, { cidr: '::/0', except: ['fd00::/8'] },
  { cidr: '10.0.0.0/33' }, { cidr: '10.0.0.0/8', except: ['11.0.0.0/16'] }, { cidr: '10.0.0.0/8', except: ['10.0.0.0/8'] },
]
const PORTS: unknown[] = [
  {}, { port: 80 }, { port: '80' }, { port: 'http' }, { protocol: 'UDP', port: 53 }, { protocol: 'SCTP', port: 'dns' },
  { port: 8000, endPort: 8100 }, { port: '8000', endPort: 8100 }, { protocol: 'TCP', port: 443 }, { port: 0 }, { port: 70000 },
  { port: 100, endPort: 50 }, { port: 'http', endPort: 90 }, { endPort: 90 }, { protocol: 'ICMP', port: 1 },
  { protocol: 'TCP\n', port: 1 }, { port: 'a\nb' }, { port: '1\n2' }, { port: null }, { port: 1.5 }, { port: 80, endPort: '90' },
]
function randomPolicy(r: (n: number) => number, i: number): NetworkPolicy {
  const pick = <T>(l: T[]): T => l[r(l.length)]!
  const peer = (): unknown => {
    switch (r(5)) {
      case 0: return { podSelector: pick(SELECTORS) }
      case 1: return { namespaceSelector: pick(SELECTORS) }
      case 2: return { podSelector: pick(SELECTORS), namespaceSelector: pick(SELECTORS) }
      case 3: return { ipBlock: pick(BLOCKS) }
      default: return r(8) === 0 ? pick([{}, { ipBlock: pick(BLOCKS), podSelector: {} }]) : { ipBlock: pick(BLOCKS) }
    }
  }
  const rule = (field: 'from' | 'to') => {
    const out: Record<string, unknown> = {}
    if (r(4)) out[field] = Array.from({ length: r(3) }, peer)
    if (r(3)) out.ports = Array.from({ length: r(3) }, () => pick(PORTS))
    return out
  }
  const spec: Record<string, unknown> = { podSelector: r(10) ? pick(SELECTORS.slice(0, 5)) : pick(SELECTORS) }
  if (r(2)) spec.ingress = Array.from({ length: r(3) }, () => rule('from'))
  if (r(2)) spec.egress = Array.from({ length: r(3) }, () => rule('to'))
  if (r(3) === 0) spec.policyTypes = pick([['Ingress'], ['Egress'], ['Ingress', 'Egress'], ['Sideways']])
  const metadata = r(50) ? { namespace: `ns-${r(6)}`, name: `p${i}` } : pick([{ name: `p${i}` }, { namespace: 'ns-1', name: '' }])
  return { metadata, spec } as NetworkPolicy
}

/** A comparable text: keys in their order, bigints, and a selector's function by its key (compileSelector builds a new closure each time). */
const text = (v: unknown): string => JSON.stringify(v, function (k, x) {
  if (typeof x === 'bigint') return `${x}n`
  if (typeof x === 'function') return `fn of ${(this as { key?: string }).key}`
  if (x === undefined) return '(undefined)'
  return x
})

describe('normalizePolicy with its memos', () => {
  for (const seed of [1, 2, 3]) {
    test(`equals the memo-free normalisation, whatever came before (seed ${seed})`, () => {
      const r = rng(seed)
      const policies = Array.from({ length: 3000 }, (_, i) => randomPolicy(r, i))
      const expected = policies.map(reference)
      // Each policy object is normalised once (cached per object): copies, in another order, meet the
      // memos filled by the first pass.
      const again = [...policies.keys()].sort(() => r(3) - 1).map((i) => [i, structuredClone(policies[i]!)] as const)
      let errors = 0
      for (const [i, p] of policies.entries()) {
        const got = normalizePolicy(p)
        if ('error' in got) errors++
        expect(text(got)).toBe(text(expected[i]))
      }
      for (const [i, p] of again) expect(text(normalizePolicy(p))).toBe(text(expected[i]))
      // Both kinds of outcome are exercised.
      expect(errors).toBeGreaterThan(300)
      expect(errors).toBeLessThan(2700)
    })
  }
})

describe('normalizePolicy memos keep only small peers', () => {
  // A tenant rewriting one policy with a new megabyte-long selector each time must not pin each one
  // (50,000 memo entries of 1 MB): what is memoised is shared, so sharing is what this observes.
  const withPeer = (name: string, values: string[]): NetworkPolicy => ({
    metadata: { namespace: 'x', name },
    spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values }] } }] }] },
  })
  const peerOf = (p: NetworkPolicy) => {
    const n = normalizePolicy(p)
    if ('error' in n) throw new Error(n.error)
    return n.ingress![0]!.peers![0]
  }
  test('a small peer is shared by every policy that has it', () => {
    expect(peerOf(withPeer('a', ['web']))).toBe(peerOf(withPeer('b', ['web'])))
  })
  test('a huge one is compiled for its policy and not kept', () => {
    const values = Array.from({ length: 20_000 }, (_, i) => `v${i}`)
    const a = peerOf(withPeer('a', values)), b = peerOf(withPeer('b', [...values]))
    expect(a).not.toBe(b)
    expect(JSON.stringify(a)).toBe(JSON.stringify(b))
  })
})
