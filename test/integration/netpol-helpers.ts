// A one-node cinch "cluster" for the NetworkPolicy end-to-end tests: a host netns with cinch-bridge
// + cinch-ipam driven through cnictl (libcni), pods x/a..z/c serving TCP and UDP on 80 and 81, the
// built agent (`dist/bin/cinch agent --manifests`) in the host netns, and a prober that opens real
// connections from inside each pod. Everything created is registered in `Cleanup` and removed by
// `cleanup.run()`, which the tests call from t.teardown / test.after.always.
import type { ExecutionContext } from 'ava'
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
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

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

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

export async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (await cond()) return
    await sleep(50)
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`)
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

// ---- probing ------------------------------------------------------------------------------------

// Runs inside a pod netns: argv = proto timeoutMs port target...; prints a JSON array of booleans.
// TCP: the handshake completes. UDP: a reply comes back (the datagram is re-sent, since a lost
// one must not read as "denied").
const PROBER = `
const net = require('net'), dgram = require('dgram')
const [proto, timeout, port, ...targets] = process.argv.slice(1)
const ms = Number(timeout)
const tcp = (host) => new Promise((res) => {
  const s = net.connect({ host, port: Number(port) })
  const done = (ok) => { clearTimeout(t); s.destroy(); res(ok) }
  const t = setTimeout(() => done(false), ms)
  s.once('connect', () => done(true)); s.once('error', () => done(false))
})
const udp = (host) => new Promise((res) => {
  const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4')
  const timers = []
  const done = (ok) => { timers.forEach(clearTimeout); try { s.close() } catch {} ; res(ok) }
  s.on('message', () => done(true)); s.on('error', () => {})
  for (const at of [0, ms / 4, ms / 2]) timers.push(setTimeout(() => s.send('x', Number(port), host, () => {}), at))
  timers.push(setTimeout(() => done(false), ms))
})
Promise.all(targets.map(proto === 'UDP' ? udp : tcp)).then((r) => process.stdout.write(JSON.stringify(r)))
`

/** Probes from one netns to `targets`; one process, every target in parallel. */
export async function probeFrom(netns: string, o: { protocol: 'TCP' | 'UDP'; port: number; targets: string[]; timeoutMs?: number }): Promise<boolean[]> {
  const out = await inNs(netns, process.execPath, ['-e', PROBER, o.protocol, String(o.timeoutMs ?? 1200), String(o.port), ...o.targets], { timeout: 30_000 })
  return JSON.parse(out)
}

export type Matrix = Record<string, Record<string, boolean>>

/** The whole matrix (self pairs skipped) for one port/protocol/family, with real connections. */
export async function probeMatrix(c: NodeCluster, o: { protocol: 'TCP' | 'UDP'; port: number; family?: 4 | 6 }): Promise<Matrix> {
  const pods = [...c.pods.values()]
  const m: Matrix = {}
  await Promise.all(pods.map(async (src) => {
    const dsts = pods.filter((d) => d !== src)
    const r = await probeFrom(src.netns, { ...o, targets: dsts.map((d) => (o.family === 6 ? d.v6 : d.v4)) })
    m[src.key] = Object.fromEntries(dsts.map((d, i) => [d.key, r[i]!]))
  }))
  return m
}

/** Cells where `got` differs from `want` (self pairs ignored), as readable lines. */
export function matrixDiff(want: Matrix, got: Matrix): string[] {
  const out: string[] = []
  for (const src of Object.keys(got).sort()) {
    for (const dst of Object.keys(got[src]!).sort()) {
      if (src === dst) continue
      const w = want[src]?.[dst]
      if (w === undefined) out.push(`${src} -> ${dst}: no expectation`)
      else if (w !== got[src]![dst]) out.push(`${src} -> ${dst}: expected ${w ? 'ALLOW' : 'DENY'}, got ${got[src]![dst] ? 'ALLOW' : 'DENY'}`)
    }
  }
  return out
}

/** The matrix as a table: rows are sources, columns destinations; '.' allow, 'X' deny, '!' wrong. */
export function matrixTable(want: Matrix, got: Matrix): string {
  const keys = Object.keys(want).sort()
  const lines = [`       ${keys.map((k) => k.padEnd(4)).join('')}`]
  for (const s of keys) {
    lines.push(`${s.padEnd(7)}${keys.map((d) => {
      if (s === d) return '-   '
      const g = got[s]?.[d]
      return `${g === undefined ? '?' : g ? '.' : 'X'}${g !== undefined && g !== want[s]?.[d] ? '!' : ' '}  `
    }).join('')}`)
  }
  return lines.join('\n')
}

/**
 * Probes and compares with `want`; a wrong matrix is probed once more before it counts (upstream's
 * e2e does the same), so one slow handshake on a loaded machine does not fail a run.
 */
export async function probeAndCompare(c: NodeCluster, o: { protocol: 'TCP' | 'UDP'; port: number; family?: 4 | 6 }, want: Matrix): Promise<{ diff: string[]; table: string }> {
  let got = await probeMatrix(c, o)
  let diff = matrixDiff(want, got)
  if (diff.length) {
    got = await probeMatrix(c, o)
    diff = matrixDiff(want, got)
  }
  return { diff, table: matrixTable(want, got) }
}

/**
 * A compact matrix: rules "allow|deny SRC -> DST", later rules win; SRC/DST are `ns/pod` with `*`
 * for any namespace or pod (`*`, `x/*`, `*\/a`). Rules start from nothing: write "allow * -> *" first.
 */
export function expandMatrix(rules: string[], keys: string[]): Matrix {
  const match = (pat: string, key: string) => {
    if (pat === '*') return true
    const [pn, pp] = pat.split('/')
    const [kn, kp] = key.split('/')
    return (pn === '*' || pn === kn) && (pp === '*' || pp === kp)
  }
  const m: Matrix = {}
  for (const s of keys) m[s] = Object.fromEntries(keys.map((d) => [d, false]))
  for (const rule of rules) {
    const r = /^(allow|deny)\s+(\S+)\s*->\s*(\S+)$/.exec(rule.trim())
    if (!r) throw new Error(`bad matrix rule ${JSON.stringify(rule)}`)
    for (const s of keys) for (const d of keys) if (match(r[2]!, s) && match(r[3]!, d)) m[s]![d] = r[1] === 'allow'
  }
  return m
}

// ---- the fixture's model and steps --------------------------------------------------------------

export interface Probe {
  port: number
  protocol: 'TCP' | 'UDP' | 'SCTP'
  /** A full matrix (the vendored fixture) ... */
  expect?: Matrix
  /** ... or compact rules for expandMatrix (our own cases). */
  matrix?: string[]
  /** Address families to probe (default [4]). */
  families?: (4 | 6)[]
}
export interface Step {
  policies?: unknown[]
  probes: Probe[]
  namespaceLabelUpdates?: Record<string, Record<string, string | null>>
  podLabelUpdates?: Record<string, Record<string, string | null>>
  /** Policies (`ns/name`) the agent must report as invalid in this step. */
  invalid?: string[]
}
export interface Case { id: string; about?: string; podPorts?: Record<string, PodPortSpec[]>; steps?: Step[]; policies?: unknown[]; probes?: Probe[] }

export const fixture = JSON.parse(readFileSync(join(repoRoot, 'test/fixtures/netpol-cases.json'), 'utf8'))
const model = fixture.model as { namespaces: Record<string, { labels: Labels }>; pods: ModelPod[] }
export const modelPods = model.pods

/** Namespaces and pods of the model with a step's cumulative label updates (null deletes) merged in. */
export function modelManifests(step: Pick<Step, 'namespaceLabelUpdates' | 'podLabelUpdates'>, podPorts: Case['podPorts'] = {}): { namespaces: Record<string, Labels>; pods: ModelPod[] } {
  const merge = (base: Labels, upd?: Record<string, string | null>) =>
    Object.fromEntries(Object.entries({ ...base, ...upd }).filter((e): e is [string, string] => e[1] !== null))
  return {
    namespaces: Object.fromEntries(Object.entries(model.namespaces).map(([n, v]) => [n, merge(v.labels, step.namespaceLabelUpdates?.[n])])),
    pods: model.pods.map((p) => {
      const key = `${p.namespace}/${p.name}`
      return { ...p, labels: merge(p.labels, step.podLabelUpdates?.[key]), ports: podPorts[key] ?? p.ports }
    }),
  }
}

/** Applies one step on the live agent, then probes every probe of it and asserts the matrices. */
export async function checkStep(t: ExecutionContext, c: NodeCluster, kase: Case, step: Step, where: string): Promise<AgentStatus> {
  const status = await applyManifests(c, { ...modelManifests(step, kase.podPorts), policies: substitute(c, step.policies ?? []) })
  t.deepEqual(status.invalidPolicies.map((i) => i.policy).sort(), [...(step.invalid ?? [])].sort(), `${where}: invalid policies reported`)
  for (const probe of step.probes) {
    for (const family of probe.families ?? [4]) {
      const what = `${where}, ${probe.port}/${probe.protocol} IPv${family}`
      if (probe.protocol === 'SCTP') {
        // No SCTP sockets on this kernel: check that the rules at least name the protocol.
        t.regex(await nftText(c), /sctp/, `${what}: SCTP rules rendered`)
        continue
      }
      const want = probe.expect ?? expandMatrix(probe.matrix ?? [], [...c.pods.keys()].sort())
      const r = await probeAndCompare(c, { protocol: probe.protocol, port: probe.port, family }, want)
      t.deepEqual(r.diff, [], `${what}: connectivity matrix differs (rows: source, columns: destination)\n${r.table}\n${r.diff.join('\n')}`)
    }
  }
  return status
}

/** The steps of a case: its own `steps`, or one step of its top-level policies and probes. */
export const stepsOf = (k: Case): Step[] => k.steps ?? [{ policies: k.policies ?? [], probes: k.probes ?? [] }]

/** One node with the model's nine pods serving, base manifests written and the agent running. */
export async function modelCluster(cleanup: Cleanup, area: string, o: { beforeAgent?: (c: NodeCluster) => Promise<void> } = {}): Promise<NodeCluster> {
  const c = makeNodeCluster(cleanup, area)
  await o.beforeAgent?.(c)
  await Promise.all(model.pods.map((p) => addPod(c, p.namespace, p.name)))
  for (const pod of c.pods.values()) serve(c, pod)
  await waitListening(c)
  writeManifests(c, { ...modelManifests({}), policies: [] })
  await startAgent(c)
  return c
}

// ---- continuous probes --------------------------------------------------------------------------

// Runs inside a pod netns: argv = durationMs intervalMs port target; tries a TCP connect every
// interval (each bounded by 300 ms) and prints {"attempts","ok","firstOkMs"} at the end.
const LOOP_PROBER = `
const net = require('net')
const [duration, interval, port, host] = process.argv.slice(1).map((v, i) => (i < 3 ? Number(v) : v))
const t0 = Date.now(); let attempts = 0, ok = 0, firstOkMs = null
const once = () => new Promise((res) => {
  const s = net.connect({ host, port })
  const done = (v) => { clearTimeout(t); s.destroy(); res(v) }
  const t = setTimeout(() => done(false), 300)
  s.once('connect', () => done(true)); s.once('error', () => done(false))
})
;(async () => {
  while (Date.now() - t0 < duration) {
    const started = Date.now()
    attempts++
    if (await once()) { ok++; if (firstOkMs === null) firstOkMs = Date.now() - t0 }
    await new Promise((r) => setTimeout(r, Math.max(0, interval - (Date.now() - started))))
  }
  process.stdout.write(JSON.stringify({ attempts, ok, firstOkMs }))
})()
`

export interface LoopResult { attempts: number; ok: number; firstOkMs: number | null }

/** Starts a continuous TCP prober in `netns`; await the result when its duration is over. */
export function loopProbe(netns: string, o: { target: string; port: number; durationMs: number; intervalMs?: number }): Promise<LoopResult> {
  return inNs(netns, process.execPath, ['-e', LOOP_PROBER, String(o.durationMs), String(o.intervalMs ?? 50), String(o.port), o.target], { timeout: o.durationMs + 30_000 })
    .then((out) => JSON.parse(out))
}
