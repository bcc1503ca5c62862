// FlowRecorder wires reader -> events -> Pass join -> aggregation -> sink, ring and metrics. The
// reader is the one I/O edge, replaced here by one that hands packets over (the integration tests
// use the kernel's): attribution from the applied IR, pods named from the state, the interval's
// flush, a group held by another socket (retried, shown in status), and the close.
import { describe, expect, it } from 'vitest'
import { pino, type Logger } from 'pino'
import { Registry } from 'prom-client'
import { compile } from '../compile/index.js'
import { indexCluster } from '../compile/cluster-index.js'
import { ClusterStore } from '../sources/store.js'
import { allLocal, clusterOf, policy } from '../../test/kit/policy-state.js'
import type { NflogPacket, NflogReaderOptions } from '../../lib/net/nflog.js'
import type { FlowRecord } from './aggregate.js'
import { createFlowMetrics } from './metrics.js'
import { encodePrefix, refId } from './prefix.js'
import { FlowRecorder } from './recorder.js'
import { FlowRing } from './ring.js'

const syn = Buffer.from('4500003c4f1940004006eda00af401020af401039c430050', 'hex') // 10.244.1.2:40003 -> 10.244.1.3:80
const state = clusterOf({
  namespaces: { shop: {}, web: {} },
  pods: { 'web/front': { ips: ['10.244.1.2'] }, 'shop/db': { labels: { app: 'db' }, ips: ['10.244.1.3'] } },
  policies: [policy('shop', 'db-from-api', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'api' } } }] }] })],
})
const { ir } = compile(state, allLocal(state))
const dbChain = Object.entries(ir.chains).find(([, c]) => c.pod === 'shop/db' && c.direction === 'ingress')![0]
const drop: NflogPacket = { family: 2, group: 6784, hwProtocol: 0x0800, hook: 2, prefix: encodePrefix({ direction: 'ingress', tier: 'networkpolicy', hit: 'end', action: 'deny', id: refId('chain', dbChain) }), payload: syn }

function setup(o: { refuse?: number; log?: Logger } = {}) {
  let hand: NflogReaderOptions | undefined
  let closed = 0, attempts = 0
  const written: FlowRecord[][] = []
  const registry = new Registry()
  const ring = new FlowRing(100)
  const rec = new FlowRecorder({
    group: 6784, intervalMs: 60_000, ring, metrics: createFlowMetrics({ registry }), log: o.log ?? pino({ level: 'silent' }),
    sink: { write: (r) => void written.push(r), close: () => void closed++ },
    openReader: async (opts) => {
      if (++attempts <= (o.refuse ?? 0)) throw new Error('nflog bind group 6784: errno 1 (EPERM: another socket reads this group, or no CAP_NET_ADMIN)')
      hand = opts
      return { close: () => void closed++ }
    },
  })
  return { rec, ring, registry, written, send: (p: NflogPacket) => hand!.onPacket(p), closed: () => closed }
}

describe('FlowRecorder', () => {
  it('a drop by isolation becomes one record naming the pods and the isolating policy, in sink, ring and metrics', async () => {
    const t = setup()
    await t.rec.start()
    t.send(drop) // before any applied IR: the id is not known yet
    t.rec.setApplied(ir, state)
    t.send(drop)
    t.send(drop)
    t.send({ ...drop, prefix: 'DROP ' })
    t.rec.flush()
    const records = t.written.flat()
    expect(records).toHaveLength(2)
    expect(records[0]).toMatchObject({ src: { addr: '10.244.1.2' }, verdict: 'denied', trace: [{ unresolved: 'unknown' }], count: 1 })
    expect(records[1]).toMatchObject({
      src: { pod: 'web/front', addr: '10.244.1.2' }, dst: { pod: 'shop/db' }, proto: 'tcp', dport: 80, direction: 'ingress',
      verdict: 'denied', trace: [{ tier: 'networkpolicy', action: 'deny', policies: ['shop/db-from-api'] }], count: 2,
    })
    expect(t.ring.snapshot()).toEqual(records)
    const m = await t.registry.metrics()
    expect(m).toContain('cinch_flow_verdicts_total{direction="ingress",tier="networkpolicy",action="deny",policy="shop/db-from-api",rule=""} 2')
    expect(m).toContain('cinch_flow_events_total{outcome="bad_prefix"} 1')
    expect(m).toContain('cinch_flow_events_total{outcome="unresolved"} 1')
    t.rec.close()
    expect(t.closed()).toBe(2) // the reader and the sink
  })

  it('a group another socket holds is retried, and status says so meanwhile', async () => {
    const t = setup({ refuse: 1 })
    await t.rec.start()
    expect(t.rec.status()).toMatchObject({ group: 6784, reading: false, error: expect.stringMatching(/EPERM/) })
    t.rec.close()
  })

  it('close writes the open interval to the sink (a clean stop keeps its records)', async () => {
    const t = setup()
    await t.rec.start()
    t.rec.setApplied(ir, state)
    t.send(drop)
    t.rec.close()
    expect(t.written.flat()).toHaveLength(1)
    t.send(drop) // after close: nothing more is recorded or written
    t.rec.flush()
    expect(t.written.flat()).toHaveLength(1)
  })

  it('the id table is kept while the IR\'s chains and counters are, and follows them when they change', async () => {
    const t = setup()
    await t.rec.start()
    // Two NetworkPolicy keys with one 48-bit id (flows.test.ts), each alone in a cluster; then
    // one more policy. Each IR is compiled once: a sync of the same IR passes the same objects,
    // as the compiler does for parts a change left alone (compile/ir-records.ts).
    const cluster = (names: string[]) => clusterOf({
      namespaces: { t: {} }, pods: { 't/a': { ips: ['10.244.1.2'] }, 't/b': { ips: ['10.244.1.3'] } },
      policies: names.map((n) => policy('t', n, { podSelector: {}, ingress: [{}] })),
    })
    const [a, b, c] = [['pdc106d4f7772'], ['pb27cd61a6b4b'], ['pb27cd61a6b4b', 'later']].map((names) => cluster(names))
    const [irA, irB, irC] = [a, b, c].map((s) => compile(s, allLocal(s)).ir)
    const hit = (policy: string): NflogPacket => ({ ...drop, prefix: encodePrefix({ direction: 'ingress', tier: 'networkpolicy', hit: 'rule', action: 'allow', id: refId('np', policy), rule: 0 }) })
    /** The trace of one rule hit of `policy`'s, read after a sync of `ir`. */
    const traceAfter = (ir2: typeof irA, s: typeof a, policy: string) => {
      t.rec.setApplied(ir2, s)
      t.written.length = 0
      t.send(hit(policy))
      t.rec.flush()
      return t.written.flat()[0]!.trace[0]
    }
    expect(traceAfter(irA, a, 't/pdc106d4f7772')).toMatchObject({ policy: 't/pdc106d4f7772' })
    // The twin replaces it: ambiguous for one sync (packets of the old rules may be queued) ...
    expect(traceAfter(irB, b, 't/pb27cd61a6b4b')).toMatchObject({ unresolved: 'ambiguous' })
    // ... then named, though the next sync's IR is the same objects (the table is built again once).
    expect(traceAfter(irB, b, 't/pb27cd61a6b4b')).toMatchObject({ policy: 't/pb27cd61a6b4b' })
    expect(traceAfter(irB, b, 't/pb27cd61a6b4b')).toMatchObject({ policy: 't/pb27cd61a6b4b' })
    // A new policy with a counter: a new IR's parts, its id known from that sync on.
    expect(traceAfter(irC, c, 't/later')).toMatchObject({ policy: 't/later' })
    expect(traceAfter(irC, c, 't/pb27cd61a6b4b')).toMatchObject({ policy: 't/pb27cd61a6b4b' })
    t.rec.close()
  })

  it('warns once per colliding pair, not at every sync', () => {
    const lines: { msg: string; ref?: string }[] = []
    const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l)) })
    const t = setup({ log })
    // Two NetworkPolicy keys with one 48-bit id (flows.test.ts: found offline by a search).
    const twins = clusterOf({
      namespaces: { t: {} }, pods: { 't/a': { ips: ['10.244.1.9'] } },
      policies: ['pdc106d4f7772', 'pb27cd61a6b4b'].map((n) => policy('t', n, { podSelector: {}, ingress: [{}] })),
    })
    const twinIr = compile(twins, allLocal(twins)).ir
    for (let i = 0; i < 3; i++) t.rec.setApplied(twinIr, twins)
    t.rec.setApplied(ir, state)
    t.rec.setApplied(twinIr, twins)
    const warned = lines.filter((l) => l.msg.startsWith('flow log id collision'))
    expect(warned.map((l) => l.ref)).toEqual(['np t/pb27cd61a6b4b ~ t/pdc106d4f7772'])
  })
})


// The recorder names a record's pods from an address index it keeps up to date from the pods the
// source wrote (pod-addresses.ts), not rebuilt from every pod after each change. Its answers must
// stay those of a from-scratch map, here compile/cluster-index.ts's podByAddr (what `cinch
// explain` uses): across adds, updates (addresses moving between pods, two pods on one address,
// hostNetwork on and off, a pod that finished) and deletes, with syncs after some steps only.
describe('FlowRecorder pod names across pod changes', () => {
  const V4 = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']
  const V6 = ['fd00::1', 'fd00::2', 'fd00::3']
  // Spellings a podIPs entry may take for the same address (LENIENT: a /len suffix is ignored).
  const spell = (a: string, r: number) => (r % 3 === 0 ? `${a}/32` : r % 3 === 1 && a.includes(':') ? a.replace('::', ':0:0::') : a)
  const KEYS = ['a/p0', 'a/p1', 'a/p2', 'b/p0', 'b/p1', 'b-x/p0', 'c/p9', 'c/p10']
  const payload = (src: string): { family: number; hwProtocol: number; payload: Buffer } => {
    if (!src.includes(':')) {
      const b = Buffer.alloc(24)
      b[0] = 0x45; b[9] = 6
      Buffer.from(src.split('.').map(Number)).copy(b, 12)
      Buffer.from([192, 0, 2, 1]).copy(b, 16)
      b.writeUInt16BE(40000, 20); b.writeUInt16BE(80, 22)
      return { family: 2, hwProtocol: 0x0800, payload: b }
    }
    const b = Buffer.alloc(44)
    b[0] = 0x60; b[6] = 6
    b.writeUInt16BE(0xfd00, 8); b.writeUInt16BE(Number.parseInt(src.split('::')[1]!, 16), 22)
    b.writeUInt16BE(0x2001, 24); b.writeUInt16BE(0x0db8, 26)
    b.writeUInt16BE(40000, 40); b.writeUInt16BE(80, 42)
    return { family: 10, hwProtocol: 0x86dd, payload: b }
  }

  it('names the pod a from-scratch map names, after every one of 600 random pod writes', async () => {
    let seed = 14
    const rand = (n: number) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed >>> 8) % n }
    const store = new ClusterStore()
    const write = () => {
      const key = KEYS[rand(KEYS.length)]!
      const [namespace, name] = key.split('/')
      if (rand(5) === 0) return store.remove('Pod', { metadata: { namespace, name } })
      const ips = [...new Set(Array.from({ length: rand(3) }, () => [...V4, ...V6][rand(V4.length + V6.length)]!))]
      store.upsert('Pod', {
        metadata: { namespace, name },
        spec: rand(8) === 0 ? { hostNetwork: true } : {},
        status: { podIPs: ips.map((ip) => ({ ip: spell(ip, rand(3)) })), ...(rand(8) === 0 ? { phase: 'Succeeded' } : {}) },
      })
    }
    for (let i = 0; i < 6; i++) write()
    const t = setup()
    await t.rec.start()
    let applied = store.state()
    t.rec.setApplied(ir, applied)
    for (let step = 0; step < 600; step++) {
      for (let n = rand(3) + 1; n > 0; n--) write()
      // Not every write is followed by a sync; now and then a state without a change log (rebuild).
      if (rand(4) !== 0) t.rec.setApplied(ir, (applied = rand(40) === 0 ? { ...store.state() } : store.state()))
      const expected = indexCluster(applied)
      // One address per interval: a record's key is the pod when there is one, so two addresses
      // of one pod would share a record.
      const got = Object.fromEntries([...V4, ...V6].map((a) => {
        t.send({ ...drop, ...payload(a) })
        t.rec.flush()
        const [r, ...more] = t.written.splice(0).flat()
        expect(r?.src.addr).toBe(a)
        expect(more).toEqual([])
        return [a, r!.src.pod]
      }))
      const want = Object.fromEntries([...V4, ...V6].map((a) => { const p = expected.podByAddr(a); return [a, p && `${p.namespace}/${p.name}`] }))
      expect(got, `step ${step}`).toEqual(want)
    }
    t.rec.close()
  })
})
