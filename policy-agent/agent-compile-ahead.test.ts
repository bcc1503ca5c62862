// A cold start compiles ahead of the last list page (agent.ts compileAhead): the first sync then
// compiles only what that page brought, and must come out as a compile of the whole cluster does.
// The fake API server in process (paged lists with remainingItemCount, as kube-apiserver), a
// capturing applier: no kernel.
import { afterEach, describe, expect, it } from 'vitest'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { Agent } from './agent.js'
import { Applier, type ApplyResult } from './apply/applier.js'
import type { PolicyIR } from './compile/ir.js'
import { Compiler } from './compile/compiler.js'
import { FlowCompiler } from './flows/compiler.js'
import { FLOW_LOG_DEFAULTS } from './flows/options.js'
import { renderFull } from './render/index.js'
import { KubeSource } from './sources/kube.js'
import { FakeApiServer, type Obj } from '../test/kit/fake-apiserver.js'
import { attachmentsDir, writeAttachmentSync } from '../lib/state/attachments.js'
import { testTempDir } from '../test/kit/temp-dir.js'
import { mkdirSync } from 'node:fs'

class CapturingApplier extends Applier {
  captured: PolicyIR[] = []
  override async apply(ir: PolicyIR): Promise<ApplyResult> {
    this.captured.push(ir)
    return { mode: 'full', lines: 1 }
  }
}

const NAMESPACES = 12, PODS = 6
const ip = (n: number, k: number) => `10.1.${n}.${k + 1}`
/** Pods of every namespace, two versions; each namespace's policy lets in one version of another team's pods, on a named port too. */
function clusterObjects(): Obj[] {
  const out: Obj[] = []
  for (let n = 0; n < NAMESPACES; n++) {
    out.push({ kind: 'Namespace', metadata: { name: `ns-${n}`, labels: { team: `t${n % 4}` } } })
    for (let k = 0; k < PODS; k++) {
      out.push({
        kind: 'Pod', metadata: { namespace: `ns-${n}`, name: `pod-${k}`, labels: { app: 'web', version: `v${k % 2}` } },
        spec: { nodeName: n < 3 && k === 0 ? 'n1' : 'n2', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8000 + n, protocol: 'TCP' }] }] },
        status: { phase: 'Running', podIP: ip(n, k), podIPs: [{ ip: ip(n, k) }] },
      })
    }
    out.push({
      kind: 'NetworkPolicy', metadata: { namespace: `ns-${n}`, name: 'from-team' },
      spec: { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: `t${(n + 1) % 4}` } }, podSelector: { matchLabels: { version: `v${n % 2}` } } }] }], egress: [{ to: [{ namespaceSelector: {} , podSelector: { matchLabels: { version: 'v1' } } }], ports: [{ port: 'http' }] }] },
    })
  }
  out.push({ kind: 'Node', metadata: { name: 'n1' }, spec: { podCIDR: '10.1.0.0/16', podCIDRs: ['10.1.0.0/16'] }, status: { addresses: [{ type: 'InternalIP', address: '192.168.1.1' }] } })
  return out
}

let api: FakeApiServer | undefined, agent: Agent | undefined
afterEach(async () => { await agent?.stop(); await api?.close(); agent = undefined; api = undefined })

async function coldStart(o: { pageSize: number; listMetadata?: FakeApiServer['listMetadata']; beforeList?: (api: FakeApiServer, plural: string, continued: boolean, lines: string[]) => void; flowLogs?: boolean }) {
  api = await FakeApiServer.start()
  api.listMetadata = o.listMetadata
  const lines: string[] = []
  const server = api
  if (o.beforeList) api.beforeList = (plural, continued) => o.beforeList!(server, plural, continued, lines)
  // With flow logs: ns-9 logs, and its last pod (the pod list's last item, so on its last page) is
  // one more local pod; ns-2's policy audits. The first sync compiles that pod's chains, which
  // flow logging must flag (flows/dataplane.ts), after a look that compiled the rest.
  const local = (obj: Obj) => o.flowLogs && obj.kind === 'Pod' && obj.metadata.namespace === 'ns-9' && obj.metadata.name === 'pod-5'
  for (const obj of clusterObjects()) {
    if (o.flowLogs && obj.kind === 'Namespace' && obj.metadata.name === 'ns-9') obj.metadata.annotations = { 'cinch.dev/flow-logs': 'true' }
    if (o.flowLogs && obj.kind === 'NetworkPolicy' && obj.metadata.namespace === 'ns-2') obj.metadata.annotations = { 'cinch.dev/audit': 'true' }
    if (local(obj)) (obj.spec as { nodeName: string }).nodeName = 'n1'
    api.create(obj)
  }
  // ...and a policy that selects that pod by its labels, which the look does not know yet (the
  // pod comes on the last page): its chain changes at the first sync.
  if (o.flowLogs) api.create({ kind: 'NetworkPolicy', metadata: { namespace: 'ns-9', name: 'v1-port' }, spec: { podSelector: { matchLabels: { version: 'v1' } }, ingress: [{ ports: [{ port: 9999 }] }] } })
  const stateDir = testTempDir('cinch-compile-ahead-')
  mkdirSync(attachmentsDir(stateDir), { recursive: true })
  for (let n = 0; n < 3; n++) {
    writeAttachmentSync(stateDir, {
      containerId: `c${n}`, ifName: 'eth0', netns: `/var/run/netns/c${n}`, podNamespace: `ns-${n}`, podName: 'pod-0',
      ips: [`${ip(n, 0)}/16`], hostVeth: `cinch000000000${n}`, bridge: 'cni0', network: 'cinch', createdAt: '2026-01-01T00:00:00.000Z',
    })
  }
  if (o.flowLogs) {
    writeAttachmentSync(stateDir, {
      containerId: 'c9', ifName: 'eth0', netns: '/var/run/netns/c9', podNamespace: 'ns-9', podName: 'pod-5',
      ips: [`${ip(9, 5)}/16`], hostVeth: 'cinch0000000009', bridge: 'cni0', network: 'cinch', createdAt: '2026-01-01T00:00:00.000Z',
    })
  }
  const log = pino({ level: 'debug' }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }))
  const source = new KubeSource({ kubeConfig: api.kubeConfig(), pageSize: o.pageSize, minBackoffMs: 20, maxBackoffMs: 200 })
  const applier = new CapturingApplier({ log })
  agent = new Agent({ source, stateDir, nodeName: 'n1', log, applier, conntrackCleanup: false, idleGc: false, ...(o.flowLogs ? { flowLogs: FLOW_LOG_DEFAULTS } : {}) })
  const first = await agent.start()
  return { source, applier, first, lines }
}

describe('a cold start compiles ahead of the last list page', () => {
  it('once, and its first sync is what a compile of the whole cluster gives', async () => {
    const { source, applier, first, lines } = await coldStart({ pageSize: 5 })
    expect(lines.filter((l) => l.includes('compiled ahead of the last list page'))).toHaveLength(1)
    expect(agent!.recordProblems).toEqual([])
    expect(first.localPods).toHaveLength(3)
    const whole = new Compiler().compile(source.state(), first.localPods).ir
    expect(applier.captured).toHaveLength(1)
    const text = renderFull(applier.captured[0]!)
    expect(text).toBe(renderFull(whole))
    // The last page's pods are in it: ns-11's v0 pods are a peer of ns-2's policy (team t3).
    expect(text).toContain(ip(11, 0))
  })

  it('a server whose count lies ("one page left" on every page): one look, early, and the first sync still whole', async () => {
    const podPages: number[] = []
    const { source, applier, first, lines } = await coldStart({
      pageSize: 5,
      listMetadata: (plural, m) => { if (m.continue) m.remainingItemCount = 1; if (plural === 'pods') podPages.push(1) },
    })
    expect(podPages.length).toBeGreaterThan(3) // the pods came in many pages
    expect(lines.filter((l) => l.includes('compiled ahead of the last list page'))).toHaveLength(1)
    expect(renderFull(applier.captured[0]!)).toBe(renderFull(new Compiler().compile(source.state(), first.localPods).ir))
  })

  it('a look, then the last page answers 410 and the list starts over on a changed cluster: the first sync is the new cluster whole', async () => {
    // What the look published stays in the store while the new list runs (a relist publishes
    // nothing); its done() then removes, changes and adds against it, and the first sync must see
    // every one of those, not only what the last page brought.
    const podLists: boolean[] = []
    const gone = ip(5, 0), added = '10.1.200.7'
    const { source, applier, first, lines } = await coldStart({
      pageSize: 5,
      beforeList: (server, plural, continued, lines) => {
        if (plural !== 'pods') return
        podLists.push(continued)
        if (!continued || podLists.filter((c) => !c).length > 1 || !lines.some((l) => l.includes('compiled ahead of the last list page'))) return
        // ns-0's policy lets in team t1's (ns-1, ns-5, ns-9) v0 pods: one of them goes, one turns
        // v1, one comes; ns-1/pod-1 turns v0. All but the new one were listed before the look.
        server.delete('Pod', 'ns-5/pod-0')
        const relabel = (key: string, version: string) => { const p = structuredClone(server.get('Pod', key)!); p.metadata.labels = { ...(p.metadata.labels as Record<string, string>), version }; server.update(p) }
        relabel('ns-9/pod-2', 'v1')
        relabel('ns-1/pod-1', 'v0')
        server.create({
          kind: 'Pod', metadata: { namespace: 'ns-5', name: 'pod-new', labels: { app: 'web', version: 'v0' } },
          spec: { nodeName: 'n2', containers: [{ name: 'c' }] }, status: { phase: 'Running', podIP: added, podIPs: [{ ip: added }] },
        })
        server.compact() // the continue token of the last page is now too old: 410
      },
    })
    expect(lines.filter((l) => l.includes('compiled ahead of the last list page'))).toHaveLength(1)
    expect(podLists.filter((c) => !c)).toHaveLength(2) // the pods were listed twice
    const ir = applier.captured[0]!
    expect(renderFull(ir)).toBe(renderFull(new Compiler().compile(source.state(), first.localPods).ir))
    // That peer set, as the first sync applied it.
    const peers = Object.values(ir.sets).find((s) => s.kind === 'addr' && s.comment === 'pods with version=v0 in namespaces with team=t1')
    expect(peers?.elements).toEqual(expect.arrayContaining([added, ip(1, 1)]))
    expect(peers?.elements).not.toContain(gone)
    expect(peers?.elements).not.toContain(ip(9, 2))
  })

  it('with flow logs on (a namespace that logs, a policy that audits): the first sync is what the flow compiler gives whole', async () => {
    const { source, applier, first, lines } = await coldStart({ pageSize: 5, flowLogs: true })
    expect(lines.filter((l) => l.includes('compiled ahead of the last list page'))).toHaveLength(1)
    expect(first.localPods).toHaveLength(4)
    const ir = applier.captured[0]!
    expect(ir.flowLog).toBeDefined()
    // The pod of the last page is selected by its labels, and its chain logs.
    expect(ir.chains['pod-ingress-ns-9-pod-5']?.flowLog).toBeTruthy()
    expect(renderFull(ir)).toMatch(/dport 9999 [^\n]*comment "ns-9\/v1-port ingress\[0\]/)
    // ns-2's audited policy has audit chains for its local pod; ns-0's pod logs its verdicts.
    expect(Object.keys(ir.chains).filter((c) => c.startsWith('audit-')).sort()).toEqual(['audit-egress-ns-2-pod-0', 'audit-ingress-ns-2-pod-0'])
    expect(renderFull(ir)).toMatch(/log group 6784 /)
    expect(renderFull(ir)).toBe(renderFull(new FlowCompiler({ flowLogs: FLOW_LOG_DEFAULTS }).compile(source.state(), first.localPods).ir))
  })

  it('not for a list of one page: the first sync compiles it all', async () => {
    const { lines, applier, source, first } = await coldStart({ pageSize: 500 })
    expect(lines.some((l) => l.includes('compiled ahead'))).toBe(false)
    expect(renderFull(applier.captured[0]!)).toBe(renderFull(new Compiler().compile(source.state(), first.localPods).ir))
  })
})
