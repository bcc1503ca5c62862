// A one-node cinch "cluster" for the NetworkPolicy end-to-end tests: a host netns with cinch-bridge
// + cinch-ipam driven through cnictl (libcni), pods x/a..z/c serving TCP and UDP on 80 and 81, the
// built agent (`dist/bin/cinch agent --manifests`) in the host netns (probing: netpol-probe.ts; the
// fixture's steps: netpol-fixture.ts). Everything created is registered in `Cleanup` and removed by
// `cleanup.run()`, which the tests call from t.teardown / test.after.always.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const pExec = promisify(execFile)
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../..')
const CNI_PATH = `${join(repoRoot, 'dist/cni')}:/usr/lib/cni`
const NFT = '/usr/sbin/nft' // under npx, `nft` on PATH is @vercel/nft
export const SUBNET4 = '10.244.1.0/24'
export const SUBNET6 = 'fd00:10:244:1::/64'
export const METRICS = '127.0.0.1:9476' // per host netns: every node has its own loopback

export { sleep, waitFor } from './helpers.js'
import { sleep, waitFor } from './helpers.js'

/** Undo steps, run in reverse; each one may fail without stopping the others. */
export class Cleanup {
  #steps: (() => unknown)[] = []
  add(step: () => unknown): void {
    this.#steps.push(step)
  }
  async run(): Promise<void> {
    while (this.#steps.length) {
      try {
        await this.#steps.pop()!()
      } catch {
        // best effort: the next step must still run
      }
    }
  }
}

export async function inNs(ns: string, cmd: string, args: string[], opts: { timeout?: number } = {}): Promise<string> {
  const r = await pExec('ip', ['netns', 'exec', ns, cmd === 'nft' ? NFT : cmd, ...args], { encoding: 'utf8', maxBuffer: 64 << 20, timeout: opts.timeout ?? 30_000 })
  return r.stdout
}

export function makeNetns(cleanup: Cleanup, name: string): string {
  // Synchronous on purpose: the name must exist before anything refers to it.
  execFileSync('ip', ['netns', 'add', name])
  cleanup.add(() => {
    // Every process still in the netns (socat's per-connection children too) dies with it.
    for (const pid of execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
      try { process.kill(Number(pid), 'SIGKILL') } catch { /* gone already */ }
    }
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' })
  })
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up'])
  return name
}

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
  const dir = mkdtempSync(join(tmpdir(), `${tag}-`))
  cleanup.add(() => rmSync(dir, { recursive: true, force: true }))
  const host = makeNetns(cleanup, `${tag}-host`)
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

async function cnictl(c: NodeCluster, verb: string, netns: string, id: string, env: Record<string, string> = {}): Promise<string> {
  const r = await pExec('ip', ['netns', 'exec', c.host, 'cnictl', verb, c.conflist, `/var/run/netns/${netns}`, id, 'eth0'], {
    env: { ...process.env, CNI_PATH, CNI_CACHE_DIR: join(c.dir, 'cache'), ...env }, encoding: 'utf8', timeout: 60_000,
  }).catch((e) => { throw new Error(`cnictl ${verb} ${id}: ${e.stderr || e.stdout || e.message}`) })
  return r.stdout
}

/** Creates the pod's netns and attaches it through cnictl ADD (which waits for a running agent). */
export async function addPod(c: NodeCluster, namespace: string, name: string): Promise<Pod> {
  const netns = makeNetns(c.cleanup, `${c.tag}-${namespace}-${name}`)
  const containerId = `ctr-${namespace}-${name}`
  const out = await cnictl(c, 'add', netns, containerId, { CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${namespace};K8S_POD_NAME=${name}` })
  // Registered after the ADD succeeded; runs before the netns is deleted (reverse order).
  c.cleanup.add(() => cnictl(c, 'del', netns, containerId))
  const ips: string[] = JSON.parse(out).ips.map((i: { address: string }) => i.address.split('/')[0])
  const pod: Pod = { key: `${namespace}/${name}`, namespace, name, netns, containerId, v4: ips.find((i) => !i.includes(':'))!, v6: ips.find((i) => i.includes(':'))! }
  c.pods.set(pod.key, pod)
  return pod
}

/** Starts a long-running command inside a netns; killed by the cleanup. */
export function spawnIn(c: NodeCluster, netns: string, cmd: string, args: string[]): ChildProcess & { out: () => string } {
  const child = spawn('ip', ['netns', 'exec', netns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  child.stdout!.on('data', (b) => (out += b))
  child.stderr!.on('data', (b) => (out += b))
  child.on('error', () => {})
  c.cleanup.add(() => killChild(child))
  return Object.assign(child, { out: () => out })
}

export async function killChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const gone = new Promise((r) => child.once('exit', r))
    child.kill(signal)
    await Promise.race([gone, sleep(5000)])
  }
  // A forked grandchild may still hold the pipes open: they must not keep the test process alive.
  if (signal === 'SIGKILL') for (const s of [child.stdin, child.stdout, child.stderr]) s?.destroy()
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
  for (const p of ports) spawnIn(c, pod.netns, 'socat', [`TCP6-LISTEN:${p},fork,reuseaddr,ipv6only=0`, 'EXEC:/bin/echo'])
  spawnIn(c, pod.netns, process.execPath, ['-e', UDP_SERVER, ...ports.map(String)])
}

/** Waits until every pod listens on its ports (ss inside each pod netns). */
export async function waitListening(c: NodeCluster, ports = [80, 81]): Promise<void> {
  await waitFor(async () => {
    for (const pod of c.pods.values()) {
      const ss = await inNs(pod.netns, 'ss', ['-lntu'])
      for (const p of ports) if ((ss.match(new RegExp(`:${p}\\s`, 'g')) ?? []).length < 2) return false
    }
    return true
  }, 15_000, 'socat servers listening')
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

/** Starts `cinch agent` (the built CLI) in the host netns and waits until it is ready. */
export async function startAgent(c: NodeCluster, extra: string[] = []): Promise<Agent> {
  const child = spawn('ip', ['netns', 'exec', c.host, process.execPath, join(repoRoot, 'dist/bin/cinch'), 'agent',
    '--manifests', c.manifests, '--node', 'n1', '--state-dir', c.stateDir, '--socket', c.socket, '--metrics-addr', METRICS,
    '--cni-conf', c.conflist, '--cni-bin-dir', join(repoRoot, 'dist/cni'), ...extra], { stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  child.stdout!.on('data', (b) => (log += b))
  child.stderr!.on('data', (b) => (log += b))
  child.on('error', () => {})
  c.cleanup.add(() => killChild(child))
  const agent: Agent = {
    child,
    log: () => log,
    stop: async () => {
      await killChild(child, 'SIGTERM')
      await killChild(child)
    },
  }
  await waitFor(() => {
    if (child.exitCode !== null) throw new Error(`agent exited ${child.exitCode}: ${log}`)
    return /"msg":"agent ready"/.test(log)
  }, 30_000, 'agent ready')
  c.agent = agent
  return agent
}

export interface AgentStatus {
  ready: boolean
  lastSync?: { at: string; reason: string; mode: string }
  lastError?: { message: string }
  localPods: { namespace: string; name: string; ips: string[] }[]
  invalidPolicies: { policy: string; reason: string }[]
}

export async function fetchAgent(c: NodeCluster, path: string): Promise<string> {
  return inNs(c.host, 'curl', ['-sf', '--max-time', '5', `http://${METRICS}${path}`])
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
  await waitFor(async () => {
    status = await agentStatus(c)
    if (status.lastError && !status.lastSync) throw new Error(`agent sync failed: ${status.lastError.message}`)
    return !!status.lastSync && Date.parse(status.lastSync.at) >= since && status.lastSync.reason.includes('source changed')
  }, 20_000, 'the agent to apply the new manifests')
  return status!
}

export async function nftText(c: NodeCluster, family = 'inet', table = 'cinch'): Promise<string> {
  return inNs(c.host, 'nft', ['list', 'table', family, table])
}
