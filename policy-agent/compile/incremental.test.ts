// The incremental compile (compiler.ts: local pods recompiled from their parts, local-parts.ts)
// against a fresh compile, after every one of a few hundred random writes of every kind a source
// makes: pods created, deleted, relabelled, readdressed, made local or remote (their attachment
// record), namespaces created, deleted, relabelled, opted in to flow logs, NetworkPolicies created,
// updated (audit on and off), deleted, ClusterNetworkPolicies and Nodes. IPv4 and IPv6, every peer
// kind, named ports, local pods the sources do not know, and two local pods whose chain names
// collide (`x-y/z` and `x/y-z`: only a full compile names them). After each step the IR must
// equal a fresh Compiler's (deep, and in key order: the renderer prints in that order), the same
// for the agent's FlowCompiler, and what the step did not touch must be the last IR's objects.
import { describe, expect, test } from 'vitest'
import type { LocalPod } from '../model/cluster.js'
import type { PolicyIR } from './ir.js'
import { MAP_NAMES } from './ir.js'
import { renderDiff } from '../render/index.js'
import { ClusterStore } from '../sources/store.js'
import type { Kind } from '../sources/convert.js'
import { FlowCompiler } from '../flows/compiler.js'
import { FLOW_LOG_DEFAULTS } from '../flows/options.js'
import { Compiler } from './index.js'
import { rng } from '../../test/kit/random.js'

type R = (n: number) => number
const pick = <T>(r: R, xs: readonly T[]): T => xs[r(xs.length)]!

const NS = 30
const PODS = 300
const POLICIES = 200
// Two pods whose chain names collide ("pod-ingress-x-y-z"): first come first served by name order.
const COLLIDING = [['x-y', 'z'], ['x', 'y-z']] as const

const nsName = (i: number) => (i < NS ? `ns${i}` : COLLIDING[i - NS]![0])
const labels = (r: R) => ({ app: `app${r(5)}`, ...(r(3) ? { tier: pick(r, ['fe', 'be', 'db']) } : {}) })

function nsObj(r: R, i: number) {
  return {
    metadata: {
      name: nsName(i), labels: { team: `t${r(4)}`, ...(r(2) ? { env: pick(r, ['prod', 'dev']) } : {}) },
      ...(r(6) === 0 ? { annotations: { 'cinch.dev/flow-logs': 'true' } } : {}),
    },
  }
}

function ipsOf(r: R, i: number, v: number): { ip: string }[] {
  const v4 = { ip: `10.${(i >> 8) & 255}.${i & 255}.${1 + v}` }
  // Non-canonical IPv6 now and then: the compiler canonicalises (fd00:0:0::a -> fd00::a).
  const v6 = { ip: r(5) ? `fd00::${i.toString(16)}:${v}` : `FD00:0:0::${i.toString(16)}:${v}` }
  return pick(r, [[v4, v6], [v4, v6], [v4], [v6]])
}

function podObj(r: R, i: number, ns = nsName(i % NS), name = `pod${i}`) {
  return {
    metadata: { namespace: ns, name, labels: labels(r) },
    spec: {
      nodeName: `node${r(3)}`, hostNetwork: r(30) === 0,
      containers: [{ ports: pick(r, [[{ name: 'http', containerPort: 8000 + r(3) }], [{ name: 'dns', containerPort: 53, protocol: 'UDP' }], [], [{ name: 'http', containerPort: 80 }, { name: 'sctp', containerPort: 9, protocol: 'SCTP' }]]) }],
    },
    status: { podIPs: ipsOf(r, i, r(3)) },
  }
}

function peer(r: R): object {
  const sel = () => pick(r, [
    { matchLabels: { app: `app${r(5)}` } },
    { matchExpressions: [{ key: 'tier', operator: pick(r, ['In', 'NotIn']), values: [pick(r, ['fe', 'be'])] }] },
    { matchExpressions: [{ key: 'tier', operator: pick(r, ['Exists', 'DoesNotExist']) }] },
    {},
  ])
  return pick(r, [
    { podSelector: sel() },
    { namespaceSelector: { matchLabels: { team: `t${r(4)}` } } },
    { namespaceSelector: sel(), podSelector: sel() },
    { namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'In', values: ['prod'] }] } },
    { ipBlock: { cidr: '10.0.0.0/8', except: [`10.0.${r(4)}.0/24`] } },
    { ipBlock: { cidr: 'fd00::/16', except: [`fd00::${r(9)}:0/112`] } },
  ])
}

function policyObj(r: R, k: number, ns = nsName(k % NS)) {
  const ports = () => pick(r, [undefined, [{ port: 'http' }], [{ port: 80, endPort: 90 }, { protocol: 'UDP', port: 'dns' }], [{ protocol: 'SCTP', port: 'sctp' }], [{ port: 443 }]])
  const rule = (dir: 'from' | 'to') => ({ ...(r(4) ? { [dir]: [peer(r), ...(r(2) ? [peer(r)] : [])] } : {}), ...(r(3) ? { ports: ports() } : {}) })
  const types = pick(r, [['Ingress'], ['Egress'], ['Ingress', 'Egress'], undefined])
  return {
    metadata: { namespace: ns, name: `pol${k}`, ...(r(8) === 0 ? { annotations: { 'cinch.dev/audit': 'true' } } : {}) },
    spec: {
      podSelector: pick(r, [{}, { matchLabels: { app: `app${r(5)}` } }, { matchExpressions: [{ key: 'tier', operator: 'In', values: ['fe', 'db'] }] }]),
      ...(types ? { policyTypes: types } : {}),
      ingress: r(12) === 0 ? [{ from: [{ ipBlock: { cidr: 'not-a-cidr' } }] }] : Array.from({ length: r(3) }, () => rule('from')),
      egress: Array.from({ length: r(3) }, () => rule('to')),
    },
  }
}

function cnpObj(r: R, k: number) {
  const tier = pick(r, ['Admin', 'Baseline'])
  const cnpPeer = () => pick(r, [
    { namespaces: { matchLabels: { team: `t${r(4)}` } } },
    { pods: { namespaceSelector: { matchLabels: { env: 'prod' } }, podSelector: { matchLabels: { app: `app${r(5)}` } } } },
    { networks: ['10.0.0.0/16', 'fd00::/64'] },
    { nodes: { matchLabels: { role: pick(r, ['a', 'b']) } } },
  ])
  const action = tier === 'Admin' ? pick(r, ['Accept', 'Deny', 'Pass']) : pick(r, ['Accept', 'Deny'])
  const protocols = pick(r, [undefined, [{ tcp: { destinationPort: { number: 80 } } }], [{ destinationNamedPort: 'http' }]])
  return {
    apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy',
    metadata: { name: `cnp${k}` },
    spec: {
      tier, priority: r(50),
      subject: pick(r, [{ namespaces: { matchLabels: { team: `t${r(4)}` } } }, { pods: { namespaceSelector: {}, podSelector: { matchLabels: { app: `app${r(5)}` } } } }]),
      ingress: [{ name: `in${k}`, action, from: [cnpPeer()], ...(protocols ? { protocols } : {}) }],
      ...(r(2) ? { egress: [{ name: `out${k}`, action, to: [cnpPeer()] }] } : {}),
    },
  }
}

const nodeObj = (r: R, k: number) => ({
  metadata: { name: `node${k}`, labels: { role: pick(r, ['a', 'b']) } },
  spec: { podCIDRs: [`10.${200 + k}.0.0/24`] },
  status: { addresses: [{ type: 'InternalIP', address: `192.168.0.${10 + k + r(2) * 50}` }, { type: 'InternalIP', address: `fd00:192::${k + 1}` }] },
})

function fill(store: ClusterStore, kind: Kind, items: object[]): void {
  const rep = store.replace(kind)
  for (const o of items) rep.add(o as never)
  rep.done()
}

/** What one step wrote: for the identity checks. */
interface Touched { pods: Set<string>; namespaces: Set<string>; wide: boolean }

class World {
  readonly store = new ClusterStore()
  /** the local pods' records: `ns/name` -> record (a pod is local while it has one) */
  readonly locals = new Map<string, LocalPod>()
  /**
   * More records: a local pod's second and third (more cinch networks under Multus: a veth and
   * addresses of their own) by `ns/name#2` and `#3`, and records written without K8S_POD_* (they all name
   * "/") by `/#veth`.
   */
  readonly extra = new Map<string, LocalPod>()
  #veth = 0
  constructor(readonly r: R, readonly side: R) {
    fill(this.store, 'Namespace', Array.from({ length: NS }, (_, i) => nsObj(r, i)))
    fill(this.store, 'Pod', Array.from({ length: PODS }, (_, i) => podObj(r, i)))
    fill(this.store, 'NetworkPolicy', Array.from({ length: POLICIES }, (_, k) => policyObj(r, k)))
    fill(this.store, 'Node', Array.from({ length: 3 }, (_, k) => nodeObj(r, k)))
    fill(this.store, 'ClusterNetworkPolicy', Array.from({ length: 3 }, (_, k) => cnpObj(r, k)))
    for (let i = 0; i < PODS; i += 9) this.makeLocal(`${nsName(i % NS)}/pod${i}`)
  }

  podIps(key: string): string[] {
    // A record of a pod the sources do not know yet; now and then one whose address another record
    // holds too (the verdict map can point it at one chain only: the last pod's in name order).
    return this.store.state().pods.get(key)?.ips ?? [this.r(8) ? `10.99.${this.#veth >> 8 & 255}.${this.#veth & 255}` : '10.99.0.1']
  }

  makeLocal(key: string): void {
    const [namespace, name] = key.split('/') as [string, string]
    this.locals.set(key, { namespace, name, ips: [...this.podIps(key)], hostVeth: `cinch${this.#veth++}` })
  }

  /** the list localPods() gave last */
  #list?: LocalPod[]

  localPods(): LocalPod[] {
    // In an order of their own: the compiler must not depend on it.
    const l = [...this.locals.values(), ...this.extra.values()]
    const list = this.r(2) ? l : l.reverse()
    // The agent passes the same list until the records change (compiler.ts then checks only the
    // local pods a change can have touched): so does this mostly, now and then a new list of the
    // same records. A record changed in place (case 28) keeps the list, as a caller might.
    const last = this.#list
    if (last && this.r(4) && last.length === list.length && list.every((lp) => last.includes(lp))) return last
    return (this.#list = list)
  }

  /** A local pod's second record comes or goes, or a record that names no pod ("/"). */
  #extraRecord(t: Touched): void {
    const r = this.side, v = this.#veth++, addr = `10.98.${(v >> 8) & 255}.${v & 255}`
    if (r(4) === 0) {
      const noPod = [...this.extra.keys()].filter((k) => k.startsWith('/#'))
      if (noPod.length && r(2)) this.extra.delete(pick(r, noPod))
      else this.extra.set(`/#${v}`, { namespace: '', name: '', ips: [addr], hostVeth: `cinch${v}` })
      t.pods.add('/')
      return
    }
    // a second record, now and then a third (a record going then leaves two that share the chains)
    const n = r(3) ? 2 : 3
    const key = r(3) ? pick(r, [...this.locals.keys()]) : pick(r, [...this.extra.keys()].filter((k) => k.endsWith(`#${n}`)).map((k) => k.slice(0, -2)))
    if (!key) return
    const [namespace, name] = key.split('/') as [string, string]
    if (!this.extra.delete(`${key}#${n}`)) this.extra.set(`${key}#${n}`, { namespace, name, ips: r(4) ? [addr] : [addr, `fd98::${v.toString(16)}`], hostVeth: `cinch${v}` })
    t.pods.add(key)
  }

  /** One random write; returns what it touched. */
  write(step: number): Touched {
    const r = this.r, t: Touched = { pods: new Set(), namespaces: new Set(), wide: false }
    const podKey = () => { const i = r(PODS + 40); return `${nsName(i % NS)}/pod${i}` }
    // More records, drawn apart so that the main mix's sequence (and what it reaches) stays as it was.
    if (this.side(5) === 0) this.#extraRecord(t)
    switch (r(29)) {
      case 0: case 1: case 2: { // relabel / readdress / re-port a pod (or create it)
        const i = r(PODS + 40), o = podObj(r, i)
        this.store.upsert('Pod', o as never)
        t.pods.add(`${o.metadata.namespace}/${o.metadata.name}`)
        break
      }
      case 3: { // a pod's address changes, and its record with it when local
        const key = podKey(), p = this.store.state().pods.get(key)
        if (!p) break
        const [namespace, name] = key.split('/') as [string, string]
        const o = { metadata: { namespace, name, labels: p.labels }, spec: { nodeName: p.nodeName, hostNetwork: p.hostNetwork, containers: [{ ports: p.ports.map((x) => ({ name: x.name, containerPort: x.containerPort, protocol: x.protocol })) }] }, status: { podIPs: ipsOf(r, 1000 + step, r(3)) } }
        this.store.upsert('Pod', o as never)
        const lp = this.locals.get(key)
        if (lp && r(4)) this.locals.set(key, { ...lp, ips: o.status.podIPs.map((x) => x.ip) })
        t.pods.add(key)
        break
      }
      case 4: { const key = podKey(); this.store.remove('Pod', { metadata: { namespace: key.split('/')[0], name: key.split('/')[1] } }); t.pods.add(key); break }
      case 5: { // local <-> remote (a record appears or goes; the pod may be unknown to the sources)
        const key = podKey()
        if (this.locals.has(key)) this.locals.delete(key)
        else this.makeLocal(key)
        t.pods.add(key)
        break
      }
      case 6: { // a local pod's record changes its veth (a restarted sandbox), now and then to another record's
        const keys = [...this.locals.keys()], key = pick(r, keys), other = pick(r, keys)
        if (key) { this.locals.set(key, { ...this.locals.get(key)!, hostVeth: r(4) ? `cinch${this.#veth++}` : this.locals.get(other!)!.hostVeth }); t.pods.add(key) }
        break
      }
      case 7: case 8: { const i = r(NS); this.store.upsert('Namespace', nsObj(r, i) as never); t.namespaces.add(nsName(i)); break }
      case 9: { const i = r(NS); this.store.remove('Namespace', { metadata: { name: nsName(i) } }); t.namespaces.add(nsName(i)); break }
      case 10: case 11: case 12: { const k = r(POLICIES + 30), o = policyObj(r, k); this.store.upsert('NetworkPolicy', o as never); t.namespaces.add(o.metadata.namespace); break }
      case 13: { const k = r(POLICIES + 30), ns = nsName(k % NS); this.store.remove('NetworkPolicy', { metadata: { namespace: ns, name: `pol${k}` } }); t.namespaces.add(ns); break }
      case 14: { // a policy moved to another namespace under the same name (delete + create)
        const k = r(POLICIES), ns = nsName(k % NS), to = nsName(r(NS))
        this.store.remove('NetworkPolicy', { metadata: { namespace: ns, name: `pol${k}` } })
        this.store.upsert('NetworkPolicy', policyObj(r, k, to) as never)
        t.namespaces.add(ns).add(to)
        break
      }
      case 15: { // ClusterNetworkPolicies and Nodes: every chain may change
        if (r(2)) this.store.upsert('ClusterNetworkPolicy', cnpObj(r, r(5)) as never)
        else if (r(2)) this.store.remove('ClusterNetworkPolicy', { metadata: { name: `cnp${r(5)}` } })
        else this.store.upsert('Node', nodeObj(r, r(4)) as never)
        t.wide = true
        break
      }
      case 16: { // the colliding pair: pods and records
        const [ns, name] = pick(r, COLLIDING)
        const key = `${ns}/${name}`
        if (r(2)) {
          this.store.upsert('Namespace', { metadata: { name: ns, labels: { team: `t${r(4)}` } } } as never)
          this.store.upsert('Pod', podObj(r, 900 + r(2), ns, name) as never)
          this.store.upsert('NetworkPolicy', policyObj(r, 900, ns) as never)
        }
        if (this.locals.has(key)) this.locals.delete(key)
        else this.makeLocal(key)
        t.pods.add(key)
        t.namespaces.add(ns)
        break
      }
      case 17: { // a relist of the namespaces (equal objects mostly, some relabelled)
        const items = Array.from({ length: NS }, (_, i) => { const n = this.store.state().namespaces.get(nsName(i)); return n && r(5) ? { metadata: { name: n.name, labels: n.labels, ...(n.annotations ? { annotations: n.annotations } : {}) } } : nsObj(r, i) })
        fill(this.store, 'Namespace', items)
        t.wide = true
        break
      }
      case 18: { // a policy re-read with equal content (a manifest re-read, a relist)
        const p = [...this.store.state().policies.values()][r(POLICIES)]
        if (p) this.store.upsert('NetworkPolicy', JSON.parse(JSON.stringify(p)) as never)
        break
      }
      case 19: break // nothing written: a sync for another reason
      case 22: case 23: { // the stale records are gone: each has its pod's addresses and a veth of its own; x/y-z left
        const gone = `${COLLIDING[1][0]}/${COLLIDING[1][1]}`
        if (this.locals.delete(gone)) t.pods.add(gone)
        const ips = new Set<string>(), veths = new Set<string>()
        for (const [key, lp] of this.locals) {
          const fix = lp.ips.some((ip) => ips.has(ip)) || veths.has(lp.hostVeth)
          const next = fix ? { ...lp, ips: [...this.podIps(key)].filter((ip) => !ips.has(ip)), hostVeth: `cinch${this.#veth++}` } : lp
          if (fix) { this.locals.set(key, next); t.pods.add(key) }
          next.ips.forEach((ip) => ips.add(ip))
          veths.add(next.hostVeth)
        }
        break
      }
      case 24: case 25: { // a pod in a namespace known only through its pods: its first pod comes, its last goes
        const ns = `lone${r(2)}`, name = `pod${r(2)}`, key = `${ns}/${name}`
        if (this.store.state().pods.has(key)) this.store.remove('Pod', { metadata: { namespace: ns, name } })
        else this.store.upsert('Pod', podObj(r, 950 + r(9), ns, name) as never)
        t.pods.add(key)
        break
      }
      case 21: { // a record takes another local pod's addresses (a stale record after the address was reused)
        const keys = [...this.locals.keys()], a = pick(r, keys), b = pick(r, keys)
        if (a && b && a !== b) { this.locals.set(b, { ...this.locals.get(b)!, ips: [...this.locals.get(a)!.ips] }); t.pods.add(b) }
        break
      }
      case 26: { // a namespace deleted and made again with other labels, its pods kept (the selector memo's entries)
        const i = r(NS)
        this.store.remove('Namespace', { metadata: { name: nsName(i) } })
        if (r(3)) this.store.state() // another reader's snapshot between the two
        this.store.upsert('Namespace', nsObj(r, i) as never)
        t.namespaces.add(nsName(i))
        break
      }
      case 27: { // a pod moved to another namespace under the same name (delete + create), its record too when local
        const i = r(PODS), from = nsName(i % NS), to = nsName(r(NS)), name = `pod${i}`
        this.store.remove('Pod', { metadata: { namespace: from, name } })
        this.store.upsert('Pod', podObj(r, i, to, name) as never)
        if (this.locals.delete(`${from}/${name}`)) this.makeLocal(`${to}/${name}`)
        t.pods.add(`${from}/${name}`).add(`${to}/${name}`)
        t.namespaces.add(from).add(to)
        break
      }
      case 28: { // a record changed in place: its addresses, or its veth (the list that holds it is kept)
        const key = pick(r, [...this.locals.keys()])
        if (!key) break
        const lp = this.locals.get(key)!
        if (r(2)) lp.ips.splice(0, lp.ips.length, ...ipsOf(r, 3000 + step, r(3)).map((x) => x.ip))
        else lp.hostVeth = `cinch${this.#veth++}`
        t.pods.add(key)
        break
      }
      case 20: { // a local pod's record alone changes its addresses (the sources lag behind the CNI ADD)
        const key = pick(r, [...this.locals.keys()])
        if (key) { this.locals.set(key, { ...this.locals.get(key)!, ips: ipsOf(r, 2000 + step, r(3)).map((x) => x.ip) }); t.pods.add(key) }
        break
      }
    }
    return t
  }
}

const sameList = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i])
const shallowSame = <T>(a: Record<string, T>, b: Record<string, T>, eq: (x: T, y: T) => boolean = (x, y) => x === y) =>
  sameList(Object.keys(a), Object.keys(b)) && Object.keys(a).every((k) => eq(a[k]!, b[k]!))

/**
 * What a step did not touch is handed out as the last IR's objects: each record whose entries are
 * the last one's (what renderDiff skips by identity), and each chain of a pod the step touched
 * neither directly nor through its namespace (when no chain name can have moved to another pod).
 */
function expectKept(prev: PolicyIR, next: PolicyIR, t: Touched, names: boolean, at: string): void {
  if (!t.wide && names) {
    for (const [n, c] of Object.entries(next.chains)) {
      const old = prev.chains[n]
      if (!old || old.pod !== c.pod || t.pods.has(c.pod) || t.namespaces.has(c.pod.split('/')[0]!)) continue
      // The node bound closes or opens an untouched pod's chain when other pods' costs change.
      if (c.failedClosed !== old.failedClosed && [c.failedClosed, old.failedClosed].some((r) => r?.includes('--max-node-policy-cost'))) continue
      expect(c, `${at}: chain ${n} of an untouched pod is the last IR's`).toBe(old)
    }
  }
  const check = <T>(what: string, a: T, b: T, same: boolean) => { if (same) expect(b, `${at}: ${what} unchanged is the last IR's`).toBe(a) }
  check('chains', prev.chains, next.chains, shallowSame(prev.chains, next.chains))
  check('sets', prev.sets, next.sets, shallowSame(prev.sets, next.sets))
  for (const m of MAP_NAMES) check(`map ${m}`, prev.maps[m], next.maps[m], shallowSame(prev.maps[m], next.maps[m]))
  check('maps', prev.maps, next.maps, MAP_NAMES.every((m) => prev.maps[m] === next.maps[m]))
  check('policyCounters', prev.policyCounters, next.policyCounters, shallowSame(prev.policyCounters, next.policyCounters))
  check('ruleCounters', prev.ruleCounters, next.ruleCounters, shallowSame(prev.ruleCounters, next.ruleCounters, (x, y) => JSON.stringify(x) === JSON.stringify(y)))
  check('veths', prev.veths, next.veths, sameList(prev.veths, next.veths))
  check('vethAddrs', prev.vethAddrs, next.vethAddrs, shallowSame(prev.vethAddrs, next.vethAddrs, sameList))
}

/** seeds 3 and 4's --max-pod-policy-cost */
const POD_BOUND = 12
/** seed 4's --max-node-policy-cost: low enough that ~20 directions close by it at each step of its mix */
const NODE_BOUND = 120

describe('incremental compile == fresh compile, random writes of every kind', () => {
  const audit: number[] = []
  for (const seed of [1, 2, 3, 4]) {
    test(`seed ${seed}: ${PODS} pods, ${POLICIES} policies, 250 steps`, () => {
      const r = rng(seed)
      const w = new World(r, rng(seed + 3000))
      // Seeds 3 and 4 bound what the policies selecting one pod add up to, low enough that some
      // chains fail closed and open again as policies come and go (cost.ts).
      // Seed 4 bounds what they add up to over the node too: other pods' changes close and open chains.
      const opts = seed === 4 ? { maxPodPolicyCost: POD_BOUND, maxNodePolicyCost: NODE_BOUND } : seed === 3 ? { maxPodPolicyCost: POD_BOUND } : {}
      const inc = new Compiler(opts)
      const flow = new FlowCompiler({ ...opts, flowLogs: FLOW_LOG_DEFAULTS })
      // As the agent runs it: the policies of namespaces without a local pod checked in slices
      // between compiles (deferRemote until checkDeferred is done; here, always deferring).
      const deferring = new FlowCompiler({ ...opts, flowLogs: FLOW_LOG_DEFAULTS }), checks = rng(seed + 2000)
      let prev = inc.compile(w.store.state(), w.localPods())
      let prevFlow = flow.compile(w.store.state(), w.localPods())
      deferring.compile(w.store.state(), w.localPods(), { deferRemote: true })
      let prevFresh = new Compiler(opts).compile(w.store.state(), w.localPods())
      // What the applier diffs from (apply/applier.ts #last): the last IR the kernel took, which a
      // failed or skipped apply leaves behind the compiler's; its own generator keeps the writes'.
      const lags = rng(seed + 1000)
      let committed = prev.ir, committedFresh = prevFresh.ir
      const seen = { closed: 0, nodeClosed: 0, nodeMoved: 0, chains: 0, audit: 0, flowLogged: 0, tiers: 0, collided: 0, kept: 0, lagged: 0, sameList: 0, multi: 0, threeRecords: 0, noPod: 0 }
      let lastLocals: LocalPod[] | undefined
      for (let step = 0; step < 250; step++) {
        const t: Touched = { pods: new Set(), namespaces: new Set(), wide: false }
        const writes = r(5) === 0 ? 2 + r(4) : 1
        for (let k = 0; k < writes; k++) {
          const one = w.write(step)
          one.pods.forEach((p) => t.pods.add(p))
          one.namespaces.forEach((n) => t.namespaces.add(n))
          t.wide ||= one.wide
          if (r(6) === 0) w.store.state() // another reader's snapshot between two compiles
        }
        const state = w.store.state(), locals = w.localPods()
        if (locals === lastLocals) seen.sameList++
        lastLocals = locals
        const at = `seed ${seed} step ${step}`
        const next = inc.compile(state, locals)
        const fresh = new Compiler(opts).compile(state, locals)
        expect(next.ir, at).toEqual(fresh.ir)
        expect(JSON.stringify(next.ir), `${at}: key order`).toBe(JSON.stringify(fresh.ir))
        expect(next.invalid, at).toEqual(fresh.invalid)
        expect(renderDiff(prev.ir, next.ir), `${at}: diff`).toBe(renderDiff(prevFresh.ir, fresh.ir))
        // The same diff again (a retry), and the diff from the IR last committed.
        expect(renderDiff(prev.ir, next.ir), `${at}: diff again`).toBe(renderDiff(prevFresh.ir, fresh.ir))
        expect(renderDiff(committed, next.ir), `${at}: diff from the committed IR`).toBe(renderDiff(committedFresh, fresh.ir))
        if (committed !== prev.ir) seen.lagged++
        if (lags(4) !== 0) [committed, committedFresh] = [next.ir, fresh.ir]
        const collided = COLLIDING.every(([ns, name]) => w.locals.has(`${ns}/${name}`))
        expectKept(prev.ir, next.ir, t, !collided, at)
        if (writes === 1 && !t.wide && !t.pods.size && !t.namespaces.size) { expect(next.ir, `${at}: nothing changed`).toBe(prev.ir); seen.kept++ }

        const nextFlow = flow.compile(state, locals)
        const freshFlow = new FlowCompiler({ ...opts, flowLogs: FLOW_LOG_DEFAULTS }).compile(state, locals)
        expect(JSON.stringify(nextFlow.ir), `${at}: flow`).toBe(JSON.stringify(freshFlow.ir))
        expect(nextFlow.invalid, `${at}: flow`).toEqual(freshFlow.invalid)
        const deferred = deferring.compile(state, locals, { deferRemote: true })
        expect(JSON.stringify(deferred.ir), `${at}: deferRemote`).toBe(JSON.stringify(freshFlow.ir))
        if (checks(4) === 0) deferring.checkDeferred(0)
        if (checks(25) === 0) {
          // everything checked: the same invalid list as a whole compile's
          expect(deferring.checkDeferred(Infinity).done).toBe(true)
          expect(deferring.compile(state, locals, { deferRemote: true }).invalid, `${at}: deferRemote, all checked`).toEqual(freshFlow.invalid)
        }
        expectKept(prevFlow.ir, nextFlow.ir, t, !collided, `${at} (flow)`)

        seen.chains += Object.keys(next.ir.chains).length
        seen.closed += Object.values(next.ir.chains).filter((c) => c.failedClosed).length
        const byNode = (ir: PolicyIR) => new Set(Object.values(ir.chains).filter((c) => c.failedClosed?.includes('--max-node-policy-cost')).map((c) => `${c.direction} ${c.pod}`))
        const nodeNow = byNode(next.ir), nodeBefore = byNode(prev.ir)
        seen.nodeClosed += nodeNow.size
        // closures the step moved on pods it did not touch
        for (const k of new Set([...nodeNow, ...nodeBefore])) {
          const pod = k.slice(k.indexOf(' ') + 1)
          if (nodeNow.has(k) !== nodeBefore.has(k) && !t.pods.has(pod) && !t.namespaces.has(pod.split('/')[0]!)) seen.nodeMoved++
        }
        seen.audit += Object.keys(nextFlow.ir.chains).filter((n) => n.startsWith('audit-')).length
        seen.flowLogged += Object.values(nextFlow.ir.chains).filter((c) => c.flowLog).length
        seen.tiers += Object.values(next.ir.chains).filter((c) => c.tier).length
        if (collided) seen.collided++
        if ([...w.extra.keys()].some((k) => k.endsWith('#2') && w.locals.has(k.slice(0, -2)))) seen.multi++
        if ([...w.extra.keys()].some((k) => k.endsWith('#3') && w.extra.has(`${k.slice(0, -2)}#2`) && w.locals.has(k.slice(0, -2)))) seen.threeRecords++
        if ([...w.extra.keys()].filter((k) => k.startsWith('/#')).length > 1) seen.noPod++
        prev = next
        prevFlow = nextFlow
        prevFresh = fresh
      }
      console.log(`seed ${seed}: ${JSON.stringify(seen)}`)
      // The mix reached what it is for: chains, flow-logged chains, tier chains, the colliding pair.
      expect(seen.chains).toBeGreaterThan(250 * 10)
      expect(seen.flowLogged).toBeGreaterThan(0)
      expect(seen.tiers).toBeGreaterThan(0)
      expect(seen.collided).toBeGreaterThan(0)
      expect(seen.multi).toBeGreaterThan(50)
      expect(seen.threeRecords).toBeGreaterThan(5)
      expect(seen.noPod).toBeGreaterThan(0)
      expect(seen.kept).toBeGreaterThan(0)
      expect(seen.lagged).toBeGreaterThan(0)
      expect(seen.sameList).toBeGreaterThan(50)
      if (seed > 2) expect(seen.closed).toBeGreaterThan(50)
      else expect(seen.closed).toBe(0)
      if (seed === 4) (expect(seen.nodeClosed).toBeGreaterThan(50), expect(seen.nodeMoved).toBeGreaterThan(5))
      else expect(seen.nodeClosed).toBe(0)
      audit.push(seen.audit)
    }, 120_000)
  }
  test('the seeds reached audit chains', () => expect(audit.reduce((a, b) => a + b, 0)).toBeGreaterThan(0))
})

describe('incremental compile: a set created again after its namespaces changed', () => {
  // The namespaces a selector selects are remembered between compiles; a namespace that gains its
  // first pod (known only through that pod: no Namespace object) must be among them when a set
  // with that selector is built again.
  test('a namespace gains its first pod while no set uses the selector', () => {
    const store = new ClusterStore()
    fill(store, 'Namespace', [{ metadata: { name: 'a', labels: {} } }])
    fill(store, 'Pod', [
      { metadata: { namespace: 'a', name: 'local', labels: { app: 'web' } }, spec: {}, status: { podIPs: [{ ip: '10.0.0.1' }] } },
      { metadata: { namespace: 'a', name: 'client', labels: { app: 'lonely' } }, spec: {}, status: { podIPs: [{ ip: '10.0.0.2' }] } },
    ])
    const allow = { metadata: { namespace: 'a', name: 'allow' }, spec: { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'lonely' } } }] }] } }
    const locals: LocalPod[] = [{ namespace: 'a', name: 'local', ips: ['10.0.0.1'], hostVeth: 'cinch0' }]
    const c = new Compiler()
    const steps: [string, () => void][] = [
      ['the policy', () => store.upsert('NetworkPolicy', allow as never)],
      ['the policy gone', () => store.remove('NetworkPolicy', allow as never)],
      ['a pod in a new namespace', () => store.upsert('Pod', { metadata: { namespace: 'new', name: 'p', labels: { app: 'lonely' } }, spec: {}, status: { podIPs: [{ ip: '10.0.0.3' }] } } as never)],
      ['the policy again', () => store.upsert('NetworkPolicy', allow as never)],
    ]
    c.compile(store.state(), locals)
    for (const [what, write] of steps) {
      write()
      expect(c.compile(store.state(), locals).ir, what).toEqual(new Compiler().compile(store.state(), locals).ir)
    }
    expect(Object.values(c.compile(store.state(), locals).ir.sets).some((s) => s.elements.includes('10.0.0.3'))).toBe(true)
  })

  // The remembered namespaces follow each namespace that changes (compiler.ts #refreshNsSelected):
  // one relabelled into the selector, one out of it, one losing its last pod, while no set uses the
  // selector; a new policy's set with it is then built from the memo.
  test('namespaces relabelled and emptied while no set uses the selector', () => {
    const store = new ClusterStore()
    const ns = (name: string, team: string) => ({ metadata: { name, labels: { team } } })
    const pod = (namespace: string, name: string, ip: string) => ({ metadata: { namespace, name, labels: { app: 'db' } }, spec: {}, status: { podIPs: [{ ip }] } })
    fill(store, 'Namespace', [ns('a', 'x'), ns('b', 'y'), ns('c', 'x'), ns('d', 'x')])
    fill(store, 'Pod', [pod('a', 'local', '10.0.0.1'), pod('b', 'p', '10.0.0.2'), pod('c', 'p', '10.0.0.3'), pod('d', 'p', '10.0.0.4')])
    const policy = (name: string, app: string) => ({ metadata: { namespace: 'a', name }, spec: { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'x' } }, podSelector: { matchLabels: { app } } }] }] } })
    const locals: LocalPod[] = [{ namespace: 'a', name: 'local', ips: ['10.0.0.1'], hostVeth: 'cinch0' }]
    const c = new Compiler()
    const steps: [string, () => void][] = [
      ['a policy with the selector', () => store.upsert('NetworkPolicy', policy('first', 'db') as never)],
      ['the policy gone', () => store.remove('NetworkPolicy', policy('first', 'db') as never)],
      ['b relabelled into team x', () => store.upsert('Namespace', ns('b', 'x') as never)],
      ['c relabelled out of team x', () => store.upsert('Namespace', ns('c', 'y') as never)],
      ['d loses its last pod', () => store.remove('Pod', pod('d', 'p', '10.0.0.4') as never)],
      ['another policy with the selector', () => store.upsert('NetworkPolicy', policy('second', 'db') as never)],
    ]
    c.compile(store.state(), locals)
    for (const [what, write] of steps) {
      write()
      expect(c.compile(store.state(), locals).ir, what).toEqual(new Compiler().compile(store.state(), locals).ir)
    }
    const elements = Object.values(c.compile(store.state(), locals).ir.sets).flatMap((s) => s.elements)
    expect(elements).toContain('10.0.0.2')
    expect(elements).not.toContain('10.0.0.3')
  })
})

describe('incremental compile: a batch of pods past 100, under a twentieth of the cluster (pod by pod, not every set recomputed)', () => {
  // The first sync after a cold start's compile ahead (agent.ts compileAhead) sees the last list
  // page at once: up to 500 pods, at 30k pods under the limit (compiler.ts podDeltaLimit).
  test('comes out as a fresh compile', () => {
    const r = rng(77)
    const store = new ClusterStore()
    const NSS = 80, PER = 50 // 4,000 pods: the batch limit is 200
    const pod = (n: number, k: number, v = r(3)) => ({
      metadata: { namespace: `n${n}`, name: `p${k}`, labels: { app: `a${k % 7}`, version: `v${v}` } },
      spec: { nodeName: 'remote', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8000 + (k % 3), protocol: 'TCP' }] }] },
      status: { podIPs: [{ ip: `10.${n}.${k >> 8}.${k & 255}` }, { ip: `fd00::${n.toString(16)}:${k.toString(16)}` }] },
    })
    const fill = (kind: Kind, objs: object[]) => { const x = store.replace(kind); objs.forEach((o) => x.add(o)); x.done() }
    fill('Namespace', Array.from({ length: NSS }, (_, n) => ({ metadata: { name: `n${n}`, labels: { team: `t${n % 5}` } } })))
    fill('Pod', Array.from({ length: NSS * PER }, (_, i) => pod(Math.floor(i / PER), i % PER)))
    fill('NetworkPolicy', Array.from({ length: 40 }, (_, i) => ({
      metadata: { namespace: `n${i % 10}`, name: `np${i}` },
      spec: {
        podSelector: i % 3 ? {} : { matchLabels: { app: 'a1' } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: `t${i % 5}` } }, podSelector: { matchLabels: { version: `v${i % 3}` } } }, { podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['a2', 'a3'] }] } }], ports: [{ port: 'http' }] }],
        egress: [{ to: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: `a${i % 7}` } } }] }],
      },
    })))
    const locals: LocalPod[] = Array.from({ length: 10 }, (_, n) => ({ namespace: `n${n}`, name: 'p0', ips: [`10.${n}.0.0`, `fd00::${n.toString(16)}:0`], hostVeth: `cinch00000000${n.toString(16).padStart(2, '0')}` }))
    const inc = new Compiler()
    let prev = inc.compile(store.state(), locals).ir
    for (const batch of [180, 150]) {
      // New pods, pods gone, pods relabelled: `batch` pod writes in one compile.
      for (let i = 0; i < batch; i++) {
        const n = r(NSS), k = r(PER + 20)
        if (i % 5 === 0) store.remove('Pod', { metadata: { namespace: `n${n}`, name: `p${k}` } })
        else store.upsert('Pod', pod(n, k))
      }
      const next = inc.compile(store.state(), locals).ir
      const fresh = new Compiler().compile(store.state(), locals).ir
      expect(JSON.stringify(next)).toBe(JSON.stringify(fresh))
      expect(renderDiff(prev, next)).not.toBe('') // the batch moved set members
      prev = next
    }
  })
})
