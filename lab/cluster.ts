// The one multi-node harness, shared by `cinch demo` and the multi-node tests: a small
// Kubernetes-like cluster in network namespaces. An underlay bridge in its own namespace (never the root one), one namespace per node on
// it running the real agent (`cinch agent --manifests`, overlay on), one namespace per pod attached
// by the real plugins through libcni (`cnictl` inside the node's namespace, with the conflist the
// agent wrote), and a manifest directory holding the Nodes, Namespaces, Pods and policies.
//
// Everything created is recorded in <dir>/cluster.json as it is created, so that `destroy` (or
// `cinch demo down` after a crash) removes exactly that: our processes by pid, our namespaces.
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomic } from '../lib/fs/atomic-write.js'
import type { Cleanup } from './cleanup.js'
import { namespaceObject, nodeObject, podObject, type NodeInfo, type PodInfo } from './manifests.js'
import { inNetns as inNs, run, spawnDetachedInNetns as spawnInNs, stopPids } from './proc.js'
import { waitFor } from './wait.js'

export type Backend = 'vxlan' | 'host-gw'

export interface ClusterOptions {
  /** Prefix of every namespace name; also names the cluster. */
  name: string
  /** Working directory: manifests/, one directory per node, logs, cluster.json. */
  dir: string
  nodes: number
  backend: Backend
  /** argv that runs the cinch CLI, e.g. [process.execPath, 'dist/bin/cinch']. */
  cinch: string[]
  /** CNI_PATH: the directory with cinch-bridge and cinch-ipam first, then the reference plugins (portmap). */
  cniPath: string
  /** Ports every pod serves; each answers with the source address it saw. */
  ports?: { tcp: number[]; udp: number[] }
  /** Progress lines. */
  log?: (line: string) => void
  /**
   * The agents read the Kubernetes API through this kubeconfig instead of the manifest directory
   * (tests: a fake API server); `writeManifest` still writes the files, and `onWrite` mirrors them.
   */
  kubeconfig?: string
  /** Called with every object written (null: removed), e.g. to mirror it into an API server. */
  onWrite?: (base: string, obj: object | null) => void
  /** Runs once the node namespaces exist, before any agent starts (e.g. a tunnel to an API server). */
  beforeAgents?: (c: Cluster) => Promise<void>
  /** More flags for every agent (e.g. the demo's --flow-log-interval). */
  agentArgs?: string[]
}

export interface ClusterNode extends NodeInfo { netns: string; dir: string; confDir: string; ip4: string; ip6: string }
export interface ClusterPod extends PodInfo { netns: string; containerId: string; ip4: string; ip6: string }
export interface PodSpec { namespace: string; name: string; node: string; labels?: Record<string, string> }

/** What cluster.json holds: enough to tear everything down without the process that built it. */
export interface ClusterRecord {
  name: string
  dir: string
  netns: string[]
  procs: { pid: number; needle: string }[]
  nodes: ClusterNode[]
  pods: ClusterPod[]
  backend: Backend
}

const CONFLIST = '10-cinch.conflist'

export class Cluster {
  readonly rec: ClusterRecord
  readonly manifests: string
  readonly ports: { tcp: number[]; udp: number[] }

  private constructor(readonly o: ClusterOptions) {
    this.rec = { name: o.name, dir: o.dir, netns: [], procs: [], nodes: [], pods: [], backend: o.backend }
    this.manifests = join(o.dir, 'manifests')
    this.ports = o.ports ?? { tcp: [80], udp: [] }
  }

  get nodes(): ClusterNode[] { return this.rec.nodes }
  get pods(): ClusterPod[] { return this.rec.pods }
  pod(namespace: string, name: string): ClusterPod {
    const p = this.pods.find((x) => x.namespace === namespace && x.name === name)
    if (!p) throw new Error(`no pod ${namespace}/${name}`)
    return p
  }

  /** Underlay, nodes and their agents, up to the conflist each agent writes. Destroys what it built if it fails. */
  static async create(o: ClusterOptions): Promise<Cluster> {
    const c = new Cluster(o)
    mkdirSync(c.manifests, { recursive: true })
    c.save()
    try {
      await c.#underlay()
      for (let i = 1; i <= o.nodes; i++) await c.#node(i)
      for (const n of c.nodes) c.writeManifest(`node-${n.name}`, nodeObject(n))
      await o.beforeAgents?.(c)
      // Agents start after every Node exists, so each programs its routes in its first sync.
      await Promise.all(c.nodes.map((n) => c.#agent(n)))
      return c
    } catch (err) {
      await c.destroy()
      throw err
    }
  }

  save(): void {
    // 'none': after a power cut the namespaces and processes it lists are gone anyway.
    writeFileAtomic(join(this.o.dir, 'cluster.json'), JSON.stringify(this.rec, null, 2), { durability: 'none' })
  }

  async #netnsAdd(name: string): Promise<void> {
    this.rec.netns.push(name)
    this.save()
    await run('ip', ['netns', 'add', name])
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up'])
  }

  get underlay(): string { return `${this.o.name}-underlay` }

  async #underlay(): Promise<void> {
    this.o.log?.(`underlay: bridge br0 in namespace ${this.underlay}`)
    await this.#netnsAdd(this.underlay)
    await addUnderlayBridge(this.underlay)
  }

  async #node(i: number): Promise<void> {
    const name = `node${i}`
    const dir = join(this.o.dir, name)
    const n: ClusterNode = {
      name, netns: `${this.o.name}-${name}`, dir, confDir: join(dir, 'net.d'),
      ip4: `192.168.77.${10 + i}`, ip6: `fd77::${10 + i}`,
      podCIDRs: [`10.244.${i}.0/24`, `fd00:10:244:${i}::/64`], internalIPs: [],
    }
    n.internalIPs = [n.ip4, n.ip6]
    mkdirSync(dir, { recursive: true })
    this.o.log?.(`${name}: namespace ${n.netns}, eth0 ${n.ip4} ${n.ip6}, pod CIDRs ${n.podCIDRs.join(' ')}`)
    await this.#netnsAdd(n.netns)
    await plugIntoUnderlay({ underlay: this.underlay, node: n.netns, port: name, ip4: n.ip4, ip6: n.ip6 })
    this.rec.nodes.push(n)
    this.save()
  }

  async #agent(n: ClusterNode): Promise<void> {
    const stateDir = join(n.dir, 'state')
    const args = [
      ...this.o.cinch.slice(1), 'agent', ...(this.o.kubeconfig ? [] : ['--manifests', this.manifests]), '--node', n.name,
      '--state-dir', stateDir, '--socket', join(n.dir, 'agent.sock'), '--metrics-addr', '127.0.0.1:9476',
      '--cni-conf-dir', n.confDir, '--cni-bin-dir', this.o.cniPath.split(':')[0]!, '--ipam-data-dir', join(n.dir, 'ipam'),
      '--backend', this.o.backend, ...(this.o.agentArgs ?? []),
    ]
    const log = join(n.dir, 'agent.log')
    const child = spawnInNs(n.netns, this.o.cinch[0]!, args, { logFile: log, ...(this.o.kubeconfig ? { env: { ...process.env, KUBECONFIG: this.o.kubeconfig } } : {}) })
    this.rec.procs.push({ pid: child.pid!, needle: stateDir })
    this.save()
    this.o.log?.(`${n.name}: agent started (${this.o.backend}), log ${log}`)
    // The conflist comes once the overlay is programmed; the socket once the first rules are in.
    try {
      await waitFor(`${n.name}'s agent to write its conflist and open its socket`, () =>
        existsSync(join(n.confDir, CONFLIST)) && existsSync(join(n.dir, 'agent.sock')), { timeoutMs: 30_000 })
    } catch (err) {
      const tail = existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-15).join('\n') : ''
      throw new Error(`${(err as Error).message}; agent log:\n${tail}`)
    }
  }

  /** The pod MTU this node's conflist gives (the overlay's). */
  podMtu(node: string): number {
    const n = this.nodes.find((x) => x.name === node)!
    return JSON.parse(readFileSync(join(n.confDir, CONFLIST), 'utf8')).plugins[0].mtu
  }

  /** Writes one object into the manifest directory by rename (the agents never read half a file). */
  writeManifest(base: string, obj: object): void {
    // The temp name ends in ".tmp", not a manifest suffix: the agents never read it.
    writeFileAtomic(join(this.manifests, `${base}.json`), JSON.stringify(obj, null, 2), { durability: 'none' })
    this.o.onWrite?.(base, obj)
  }

  removeManifest(base: string): void {
    rmSync(join(this.manifests, `${base}.json`), { force: true })
    this.o.onWrite?.(base, null)
  }

  writeNamespaces(labels: Record<string, Record<string, string>>): void {
    for (const [name, l] of Object.entries(labels)) this.writeManifest(`ns-${name}`, namespaceObject(name, l))
  }

  /** Creates the pods (CNI ADD through libcni, as kubelet would), starts their servers, writes their Pod objects. */
  async addPods(specs: PodSpec[]): Promise<ClusterPod[]> {
    const out = await Promise.all(specs.map((s) => this.#addPod(s)))
    // In the order asked for, not the order the ADDs finished in: the matrices list pods this way.
    this.rec.pods = [...this.rec.pods.filter((p) => !out.includes(p)), ...out]
    this.save()
    for (const p of out) this.writeManifest(`pod-${p.namespace}-${p.name}`, podObject(p, this.ports))
    return out
  }

  async #addPod(s: PodSpec): Promise<ClusterPod> {
    const n = this.nodes.find((x) => x.name === s.node)
    if (!n) throw new Error(`pod ${s.namespace}/${s.name}: no node ${s.node}`)
    const netns = `${this.o.name}-${s.namespace}-${s.name}`
    await this.#netnsAdd(netns)
    const containerId = randomBytes(16).toString('hex')
    const env = {
      ...process.env, CNI_PATH: this.o.cniPath, CNI_CACHE_DIR: join(n.dir, 'cni-cache'),
      // What kubelet passes (pkg/kubelet/dockershim... now the CRI runtime): the agent and
      // cinch-bridge learn the pod's identity from these.
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${s.namespace};K8S_POD_NAME=${s.name};K8S_POD_INFRA_CONTAINER_ID=${containerId}`,
    }
    const res = JSON.parse(await inNs(n.netns, 'cnictl', ['add', join(n.confDir, CONFLIST), `/var/run/netns/${netns}`, containerId, 'eth0'], { env }))
    const ips: string[] = (res.ips ?? []).map((i: { address: string }) => i.address.split('/')[0])
    const pod: ClusterPod = {
      namespace: s.namespace, name: s.name, node: s.node, labels: s.labels ?? {}, uid: containerId.slice(0, 8),
      netns, containerId, ips, ip4: ips.find((i) => !i.includes(':')) ?? '', ip6: ips.find((i) => i.includes(':')) ?? '',
    }
    this.rec.pods.push(pod)
    this.save()
    this.o.log?.(`pod ${s.namespace}/${s.name} on ${s.node}: ${ips.join(' ')}`)
    // Each server echoes the source address it saw: proof that pod-to-pod traffic is not NATed.
    const log = join(n.dir, `pod-${s.namespace}-${s.name}.log`)
    const servers = [
      ...this.ports.tcp.map((p) => [`TCP6-LISTEN:${p},fork,reuseaddr`, 'SYSTEM:echo $SOCAT_PEERADDR']),
      ...this.ports.udp.map((p) => [`UDP6-LISTEN:${p},fork,reuseaddr`, 'SYSTEM:echo $SOCAT_PEERADDR']),
    ]
    for (const args of servers) {
      const child = spawnInNs(netns, 'socat', args, { logFile: log })
      this.rec.procs.push({ pid: child.pid!, needle: args[0]! })
    }
    this.save()
    const want = [...this.ports.tcp.map((p) => `:${p} `), ...this.ports.udp.map((p) => `:${p} `)]
    await waitFor(`the servers of pod ${s.namespace}/${s.name}`, async () => {
      const ss = await inNs(netns, 'ss', ['-Hltun'])
      return want.every((w) => ss.includes(w))
    }, { timeoutMs: 10_000 })
    return pod
  }

  /**
   * Resolves once every agent has finished a sync that began after `sinceMs` plus the manifest
   * source's quiet time (100 ms): in this cluster only the manifest directory triggers syncs, so
   * that sync is the one that read the change.
   */
  async waitSynced(sinceMs: number, nodes = this.nodes): Promise<void> {
    // Against an API server (kubeconfig) an event syncs at once: no manifest quiet time to add.
    const after = sinceMs + (this.o.kubeconfig ? 0 : 100)
    await Promise.all(nodes.map((n) => waitFor(`${n.name}'s agent to apply the manifests`, async () => {
      const s = JSON.parse(await inNs(n.netns, this.o.cinch[0]!, [...this.o.cinch.slice(1), 'status', '--json']).catch(() => '{}'))
      const last = s.lastSync
      return !!last && Date.parse(last.at) - last.durationMs >= after
    }, { timeoutMs: 20_000 })))
  }

  /** Stops our processes, deletes our namespaces and the working directory. */
  async destroy(): Promise<void> {
    await destroyRecord(this.rec)
  }
}

/** The underlay: a bridge `br0` in its own namespace (never the root one) that the nodes plug into. */
export async function addUnderlayBridge(underlay: string): Promise<void> {
  await run('ip', ['-n', underlay, 'link', 'add', 'br0', 'type', 'bridge'])
  await run('ip', ['-n', underlay, 'link', 'set', 'br0', 'up'])
}

/** A node's `eth0` (/24 and /64, no DAD) as a veth whose peer `port` is a port of the underlay's br0. */
export async function plugIntoUnderlay(o: { underlay: string; node: string; port: string; ip4: string; ip6: string }): Promise<void> {
  await run('ip', ['-n', o.node, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', o.port, 'netns', o.underlay])
  await run('ip', ['-n', o.underlay, 'link', 'set', o.port, 'master', 'br0', 'up'])
  await run('ip', ['-n', o.node, 'addr', 'add', `${o.ip4}/24`, 'dev', 'eth0'])
  await run('ip', ['-n', o.node, 'addr', 'add', `${o.ip6}/64`, 'dev', 'eth0', 'nodad'])
  await run('ip', ['-n', o.node, 'link', 'set', 'eth0', 'up'])
}

/** Tears down what a record lists; every step is attempted (the state may be half built). */
export async function destroyRecord(rec: Pick<ClusterRecord, 'dir' | 'netns' | 'procs'>, o: { keepDir?: boolean } = {}): Promise<void> {
  await stopPids(rec.procs)
  // Pods first: deleting a node's namespace removes its bridge and the host ends of the veths.
  for (const ns of [...rec.netns].reverse()) await run('ip', ['netns', 'del', ns]).catch(() => {})
  if (!o.keepDir) rmSync(rec.dir, { recursive: true, force: true })
}

/**
 * For tests: a Cluster whose removal is registered in `cleanup` BEFORE anything is created, driven
 * by <dir>/cluster.json (written as things are made), so a failure half way leaves nothing behind.
 */
export async function clusterFor(cleanup: Cleanup, o: ClusterOptions): Promise<Cluster> {
  cleanup.add(async () => {
    const path = join(o.dir, 'cluster.json')
    if (existsSync(path)) await destroyRecord(JSON.parse(readFileSync(path, 'utf8')))
    else rmSync(o.dir, { recursive: true, force: true })
  })
  return Cluster.create(o)
}
