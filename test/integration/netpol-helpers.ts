// A one-node cinch "cluster" for the NetworkPolicy end-to-end tests: a host netns with cinch-bridge
// + cinch-ipam driven through cnictl (libcni), pods x/a..z/c serving TCP and UDP on 80 and 81, the
// built agent (`dist/bin/cinch agent --manifests`) in the host netns (probing: netpol-probe.ts; the
// fixture's steps: netpol-fixture.ts). Everything created is registered in `Cleanup` and removed by
// `cleanup.run()`, which the tests call from t.teardown / test.after.always.
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Cleanup } from '../kit/cleanup.js'
import { makeNetns, tempDir } from '../kit/netns.js'
import * as paths from '../kit/paths.js'
import { inNetns, killChild, spawnInNetns } from '../kit/proc.js'
import { waitFor } from '../kit/wait.js'
import { FakeApiServer, type Obj } from '../kit/fake-apiserver.js'

export const repoRoot = paths.repoRoot
const CNI_PATH = `${paths.cniBin}:${paths.refBin}`
export const SUBNET4 = '10.244.1.0/24'
export const SUBNET6 = 'fd00:10:244:1::/64'
export const METRICS = '127.0.0.1:9476' // per host netns: every node has its own loopback

// The kit's, re-exported while the tests that import them from here migrate.
export { Cleanup, inNetns as inNs, killChild }

export type Labels = Record<string, string>
export interface PodPortSpec { name?: string; port: number; protocol: string }
export interface ModelPod { namespace: string; name: string; labels: Labels; ports: PodPortSpec[] }

export interface Pod {
  key: string
  namespace: string
  name: string
  netns: string
  containerId: string
  v4: string
  v6: string
}

export interface Agent {
  child: ChildProcess
  log: () => string
  stop: () => Promise<void>
}

export interface NodeCluster {
  tag: string
  host: string
  dir: string
  manifests: string
  stateDir: string
  socket: string
  conflist: string
  pods: Map<string, Pod>
  cleanup: Cleanup
  agent?: Agent
}

/** The host netns, temp dir and conflist of one node (no pods yet). */
export function makeNodeCluster(cleanup: Cleanup, area: string): NodeCluster {
  const tag = `cinch-t-np${area}-${randomBytes(2).toString('hex')}`
  const dir = tempDir(cleanup, tag)
  const host = makeNetns(cleanup, `${tag}-host`, { exact: true })
  const manifests = join(dir, 'manifests')
  mkdirSync(manifests)
  const stateDir = join(dir, 'state')
  const socket = join(dir, 'agent.sock')
  const conflist = join(dir, 'conflist.json')
  writeFileSync(conflist, JSON.stringify({
    cniVersion: '1.0.0', // Debian's libcni speaks up to 1.0.0
    name: 'npnet',
    plugins: [{
      type: 'cinch-bridge', bridge: 'cinch0', isGateway: true, isDefaultGateway: true, ipMasq: true, hairpinMode: true,
      stateDir, agentSocket: socket, policyTimeoutMs: 20_000,
      ipam: { type: 'cinch-ipam', dataDir: join(dir, 'ipam'), ranges: [[{ subnet: SUBNET4 }], [{ subnet: SUBNET6 }]] },
    }],
  }))
  return { tag, host, dir, manifests, stateDir, socket, conflist, pods: new Map(), cleanup }
}

function cnictl(c: NodeCluster, verb: string, netns: string, id: string, env: Record<string, string> = {}): Promise<string> {
  return inNetns(c.host, 'cnictl', [verb, c.conflist, `/var/run/netns/${netns}`, id, 'eth0'], {
    env: { ...process.env, CNI_PATH, CNI_CACHE_DIR: join(c.dir, 'cache'), ...env }, timeoutMs: 60_000,
  })
}

/** Creates the pod's netns and attaches it through cnictl ADD (which waits for a running agent). */
export async function addPod(c: NodeCluster, namespace: string, name: string): Promise<Pod> {
  const netns = makeNetns(c.cleanup, `${c.tag}-${namespace}-${name}`, { exact: true })
  const containerId = `ctr-${namespace}-${name}`
  const out = await cnictl(c, 'add', netns, containerId, { CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${namespace};K8S_POD_NAME=${name}` })
  // Registered after the ADD succeeded; runs before the netns is deleted (reverse order).
  c.cleanup.add(() => cnictl(c, 'del', netns, containerId))
  const ips: string[] = JSON.parse(out).ips.map((i: { address: string }) => i.address.split('/')[0])
  const pod: Pod = { key: `${namespace}/${name}`, namespace, name, netns, containerId, v4: ips.find((i) => !i.includes(':'))!, v6: ips.find((i) => i.includes(':'))! }
  c.pods.set(pod.key, pod)
  return pod
}

// UDP answers come from one process per pod: `socat UDP-RECVFROM,fork` loses datagrams when
// several clients send at once (the forked child shares the socket and swallows the next ones).
const UDP_SERVER = `
const dgram = require('dgram')
for (const port of process.argv.slice(1)) {
  const s = dgram.createSocket({ type: 'udp6', ipv6Only: false })
  s.on('message', (_, peer) => s.send('ok\\n', peer.port, peer.address))
  s.bind(Number(port))
}
`

/** TCP (socat) and UDP servers on `ports`, v4 and v6 (one dual-stack socket each). */
export function serve(c: NodeCluster, pod: Pod, ports = [80, 81]): void {
  for (const p of ports) spawnInNetns(c.cleanup, pod.netns, 'socat', [`TCP6-LISTEN:${p},fork,reuseaddr,ipv6only=0`, 'EXEC:/bin/echo'])
  spawnInNetns(c.cleanup, pod.netns, process.execPath, ['-e', UDP_SERVER, ...ports.map(String)])
}

/** Waits until every pod listens on its ports (ss inside each pod netns). */
export async function waitListening(c: NodeCluster, ports = [80, 81]): Promise<void> {
  await waitFor('socat servers listening', async () => {
    for (const pod of c.pods.values()) {
      const ss = await inNetns(pod.netns, 'ss', ['-lntu'])
      for (const p of ports) if ((ss.match(new RegExp(`:${p}\\s`, 'g')) ?? []).length < 2) return false
    }
    return true
  }, { timeoutMs: 15_000 })
}

// ---- manifests ----------------------------------------------------------------------------------

export interface ManifestSet {
  namespaces: Record<string, Labels>
  pods: ModelPod[]
  policies: unknown[]
  /** Extra objects (e.g. a broken one); written as they are. */
  extra?: unknown[]
}

/** The Kubernetes objects of a ManifestSet, pods carrying the addresses cinch-ipam gave them. */
export function manifestObjects(c: NodeCluster, m: ManifestSet): unknown[] {
  const ns = Object.entries(m.namespaces).map(([name, labels]) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }))
  const pods = m.pods.map((p) => {
    const live = c.pods.get(`${p.namespace}/${p.name}`)
    return {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { namespace: p.namespace, name: p.name, labels: p.labels },
      spec: { nodeName: 'n1', containers: [{ name: 'c', ports: p.ports.map((x) => ({ ...(x.name ? { name: x.name } : {}), containerPort: x.port, protocol: x.protocol })) }] },
      status: live ? { podIP: live.v4, podIPs: [{ ip: live.v4 }, { ip: live.v6 }] } : {},
    }
  })
  return [...ns, ...pods, ...m.policies, ...(m.extra ?? [])]
}

/** Replaces the manifest directory's one file by rename (written outside the watched dir). */
export function writeManifests(c: NodeCluster, m: ManifestSet): void {
  const tmp = join(c.dir, 'cluster.json.tmp')
  writeFileSync(tmp, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: manifestObjects(c, m) }, null, 1))
  renameSync(tmp, join(c.manifests, 'cluster.json'))
}

/** `{{podIP:ns/pod}}` -> IPv4, `{{podIP6:ns/pod}}` -> IPv6 address of that pod. */
export function substitute<T>(c: NodeCluster, value: T): T {
  const text = JSON.stringify(value).replace(/\{\{podIP(6?):([^}]+)\}\}/g, (_, six: string, key: string) => {
    const pod = c.pods.get(key)
    if (!pod) throw new Error(`placeholder names unknown pod ${key}`)
    return six ? pod.v6 : pod.v4
  })
  return JSON.parse(text)
}

// ---- the agent ----------------------------------------------------------------------------------

/**
 * The fake API server for the cluster's agent: listening on a unix socket in the cluster's
 * directory, reached from the host netns's own loopback through socat on each of `ports` (a second
 * URL is another API server as far as a restart snapshot knows), one kubeconfig per port.
 */
export async function serveFakeApi(c: NodeCluster, ports = [6443]): Promise<{ api: FakeApiServer; kubeconfigs: string[] }> {
  const api = await FakeApiServer.start({ unixSocket: join(c.dir, 'api.sock') })
  c.cleanup.add(() => api.close())
  for (const port of ports) spawnInNetns(c.cleanup, c.host, 'socat', [`TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr`, `UNIX-CONNECT:${join(c.dir, 'api.sock')}`])
  await waitFor(`socat on ${ports.join(' and ')}`, async () => {
    const listening = await inNetns(c.host, 'ss', ['-lnt'])
    return ports.every((port) => new RegExp(`127\\.0\\.0\\.1:${port}\\s`).test(listening))
  }, { timeoutMs: 10_000 })
  const kubeconfigs = ports.map((port, i) => {
    const file = join(c.dir, i === 0 ? 'kubeconfig' : `kubeconfig-${port}`)
    writeFileSync(file, api.kubeconfigYaml(`http://127.0.0.1:${port}`))
    return file
  })
  return { api, kubeconfigs }
}

/**
 * The API objects the fake serves for the node `n1` and a pod attached on it: the pod labelled
 * `pod=<name>`, its port 80 named `http`, both addresses; the Node with the cluster's pod CIDRs.
 */
export function localPodObject(p: Pod, metadata: Record<string, unknown> = {}): Obj {
  return {
    kind: 'Pod', metadata: { namespace: p.namespace, name: p.name, labels: { pod: p.name }, ...metadata },
    spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x', ports: [{ name: 'http', containerPort: 80 }] }] },
    status: { phase: 'Running', podIP: p.v4, podIPs: [{ ip: p.v4 }, { ip: p.v6 }] },
  }
}
export const NODE_OBJECT: Obj = { kind: 'Node', metadata: { name: 'n1' }, spec: { podCIDRs: [SUBNET4, SUBNET6] }, status: { addresses: [{ type: 'InternalIP', address: '192.168.77.1' }] } }

/**
 * Starts `cinch agent` (the built CLI) in the host netns and waits until it is ready. Its source is
 * the cluster's manifest directory, or with `kubeconfig` an API server (the fake, through socat).
 */
export async function startAgent(c: NodeCluster, extra: string[] = [], o: { kubeconfig?: string } = {}): Promise<Agent> {
  const source = o.kubeconfig ? [] : ['--manifests', c.manifests]
  const child = spawnInNetns(c.cleanup, c.host, process.execPath, [join(paths.distDir, 'bin/cinch'), 'agent',
    ...source, '--node', 'n1', '--state-dir', c.stateDir, '--socket', c.socket, '--metrics-addr', METRICS,
    '--cni-conf', c.conflist, '--cni-bin-dir', paths.cniBin, ...extra], o.kubeconfig ? { env: { ...process.env, KUBECONFIG: o.kubeconfig } } : {})
  const log = child.log
  const agent: Agent = {
    child,
    log,
    stop: async () => {
      await killChild(child, 'SIGTERM')
      await killChild(child)
    },
  }
  await waitFor('agent ready', () => {
    if (child.exitCode !== null) throw new Error(`agent exited ${child.exitCode}: ${log()}`)
    return /"msg":"agent ready"/.test(log())
  }, { timeoutMs: 30_000 })
  c.agent = agent
  return agent
}

export interface AgentStatus {
  ready: boolean
  lastSync?: { at: string; reason: string; mode: string }
  lastError?: { message: string }
  localPods: { namespace: string; name: string; ips: string[] }[]
  invalidPolicies: { policy: string; reason: string }[]
  failedClosed: { pod: string; direction: string; reason: string }[]
  nodePolicyCost?: { used: number; max: number }
}

export async function fetchAgent(c: NodeCluster, path: string): Promise<string> {
  return inNetns(c.host, 'curl', ['-sf', '--max-time', '5', `http://${METRICS}${path}`])
}

export async function agentStatus(c: NodeCluster): Promise<AgentStatus> {
  return JSON.parse(await fetchAgent(c, '/status'))
}

/** Rewrites the manifests and waits until the live agent has applied a sync that read them. */
export async function applyManifests(c: NodeCluster, m: ManifestSet): Promise<AgentStatus> {
  // Whole-second granularity would be enough; the status carries milliseconds.
  const since = Date.now()
  writeManifests(c, m)
  let status: AgentStatus | undefined
  await waitFor('the agent to apply the new manifests', async () => {
    status = await agentStatus(c)
    if (status.lastError && !status.lastSync) throw new Error(`agent sync failed: ${status.lastError.message}`)
    return !!status.lastSync && Date.parse(status.lastSync.at) >= since && status.lastSync.reason.includes('source changed')
  }, { timeoutMs: 20_000 })
  return status!
}

export async function nftText(c: NodeCluster, family = 'inet', table = 'cinch'): Promise<string> {
  return inNetns(c.host, 'nft', ['list', 'table', family, table])
}
