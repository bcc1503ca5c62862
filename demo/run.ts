// `cinch demo`: two nodes, six pods, the real plugins and agents, the vxlan overlay between the
// nodes; the connectivity matrix before and after the policies of examples/ (NetworkPolicies, an
// Admin and a Baseline ClusterNetworkPolicy); torn down on
// exit or Ctrl-C unless --keep. `cinch demo down` removes a kept (or crashed) demo.
import { existsSync, readdirSync, readFileSync, copyFileSync } from 'node:fs'
import { join } from 'node:path'
import { Cluster, destroyRecord, type Backend, type ClusterRecord } from '../lab/cluster.js'
import { changes, renderMatrix, type Matrix } from './matrix.js'
import { probeFrom } from '../lab/probe.js'
import { run } from '../lab/proc.js'
import { findInstall, preflight, type Install } from './setup.js'
import { DEMO_NAMESPACES, DEMO_PODS } from './topology.js'

export interface DemoOptions {
  /** Prefix of the namespaces, and /run/<name> holds its state. */
  name: string
  keep: boolean
  backend: Backend
  out: (text: string) => void
  color: boolean
}

export const demoDir = (name: string) => `/run/${name}`
const stateFile = (name: string) => join(demoDir(name), 'cluster.json')

/** Probes TCP 80 from every pod to every other pod, for real. */
async function matrix(c: Cluster): Promise<Matrix> {
  const pods = c.pods
  const rows = await Promise.all(pods.map(async (from) => {
    const targets = pods.filter((p) => p !== from).map((p) => ({ ip: p.ip4, port: 80, proto: 'tcp' as const }))
    const res = await probeFrom(from.netns, targets)
    return pods.map((to) => to === from || !!res.find((r) => r.ip === to.ip4)?.ok)
  }))
  return { labels: pods.map((p) => `${p.namespace}/${p.name}`), ok: rows }
}

/** The first sentence of a manifest file's leading comment: what the policy is for. */
function summary(path: string): string {
  const lines = readFileSync(path, 'utf8').split('\n')
  const head = lines.slice(0, Math.max(0, lines.findIndex((l) => !l.startsWith('#')))).map((l) => l.replace(/^#\s*/, '')).join(' ')
  return head.split(/(?<=\.)\s/)[0] ?? ''
}

export async function demoUp(o: DemoOptions): Promise<number> {
  const step = (s: string) => o.out(`▸ ${s}\n`)
  const install = findInstall()
  preflight(install)
  if (existsSync(stateFile(o.name))) {
    throw new Error(`a demo named ${o.name} is already up (${stateFile(o.name)}); remove it with: cinch demo down${o.name === 'cinch-demo' ? '' : ` --name ${o.name}`}`)
  }
  // One teardown, whoever asks first: the signal handler or the failing main flow.
  let torn: Promise<void> | undefined
  const teardown = () => (torn ??= (async () => {
    step('tearing down: agents, pods, nodes, underlay')
    const rec = readRecord(o.name)
    if (rec) await destroyRecord(rec)
  })())
  let interrupted = false
  const onSignal = (sig: NodeJS.Signals) => {
    interrupted = true
    o.out(`\n${sig}: stopping the demo\n`)
    void teardown().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    step(`building a 2-node cluster "${o.name}" in network namespaces (${o.backend} overlay)`)
    const c = await Cluster.create({
      name: o.name, dir: demoDir(o.name), nodes: 2, backend: o.backend, cinch: install.cinch, cniPath: install.cniPath,
      log: (l) => step(l), agentArgs: ['--flow-log-interval', '1'],
    })
    // Every namespace opts in to flow records (cinch.dev/flow-logs), to show who blocked what.
    for (const [name, labels] of Object.entries(DEMO_NAMESPACES)) {
      c.writeManifest(`ns-${name}`, { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels, annotations: { 'cinch.dev/flow-logs': 'true' } } })
    }
    step('creating 6 pods through libcni (cnictl -> cinch-bridge -> cinch-ipam), each serving TCP 80')
    let t = Date.now()
    await c.addPods(DEMO_PODS)
    await c.waitSynced(t)
    step('probing every pod from every pod (TCP 80)')
    const before = await matrix(c)
    o.out(`\nConnectivity before any NetworkPolicy (rows: from, columns: to; ✓ connects, ✗ blocked)\n\n${renderMatrix(before, { color: o.color })}\n`)
    if (before.ok.some((row) => row.some((x) => !x))) o.out('warning: some pods cannot reach each other without any policy: see the agent logs under ' + demoDir(o.name) + '\n\n')

    const files = readdirSync(install.examples).filter((f) => /\.ya?ml$/.test(f)).sort()
    t = Date.now()
    for (const f of files) {
      copyFileSync(join(install.examples, f), join(c.manifests, `policy-${f}`))
      step(`applying examples/${f}: ${summary(join(install.examples, f))}`)
    }
    await c.waitSynced(t)
    step('probing again')
    const after = await matrix(c)
    o.out(`\nConnectivity with the example policies (was→now where it changed)\n\n${renderMatrix(after, { before, color: o.color })}\n`)
    const changed = changes(before, after)
    o.out(`${changed.length} of ${after.labels.length * (after.labels.length - 1)} flows changed:\n${changed.map((l) => `  ${l}\n`).join('')}\n`)
    step('reading the flow records of the blocked connections from both agents (cinch flows --verdict denied)')
    o.out(`\nFlow records of the blocked connections, each with the policy that blocked it\n\n${await blockedFlows(c, install, changed.length)}\n`)

    if (o.keep) {
      printPokes(o, c, install)
      return 0
    }
    await teardown()
    step('done')
    return 0
  } catch (err) {
    await teardown()
    // Interrupted: the steps in flight fail as their namespaces vanish; the handler exits.
    if (interrupted) await new Promise(() => {})
    throw err
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/**
 * `cinch flows --verdict denied` on every node, once the records of `want` blocked pairs are in
 * (each agent flushes every second here), at most 20 s. A pair blocked by both ends shows twice.
 */
async function blockedFlows(c: Cluster, install: Install, want: number): Promise<string> {
  const read = () => Promise.all(c.nodes.map((n) => run('ip', ['netns', 'exec', n.netns, ...install.cinch, 'flows', '--verdict', 'denied']).catch(() => '')))
  const deadline = Date.now() + 20_000
  let lines: string[] = []
  for (;;) {
    lines = [...new Set((await read()).join('').split('\n').filter(Boolean).map((l) => l.replace(/^\S+ /, '').replace(/ x\d+ /, ' ')))].sort()
    const pairs = new Set(lines.map((l) => l.split(' ').slice(0, 3).join(' ')))
    if (pairs.size >= want || Date.now() > deadline) break
    await new Promise((r) => setTimeout(r, 500)) // the agents flush every second
  }
  return lines.map((l) => `  ${l}\n`).join('')
}

function printPokes(o: DemoOptions, c: Cluster, install: Install): void {
  const client = c.pod('lab', 'client')
  const api = c.pod('shop', 'api')
  const web = c.pod('shop', 'web')
  const monitor = c.pod('infra', 'monitor')
  const n1 = c.nodes[0]!
  const cinch = install.cinchCommand
  o.out(`The demo stays up (namespaces ${o.name}-*, state in ${demoDir(o.name)}). Try:\n
  ip netns exec ${client.netns} ping -c1 ${monitor.ip4}          # lab/client -> infra/monitor, across the overlay
  ip netns exec ${client.netns} socat - TCP:${web.ip4}:80        # allowed by web-from-anywhere; prints the address web saw
  ip netns exec ${client.netns} socat - TCP:${api.ip4}:80,connect-timeout=2   # blocked by api-from-frontend
  ${cinch} explain --manifests ${c.manifests} --from lab/client --to shop/api --port 80
  ip netns exec ${n1.netns} ${cinch} status                     # node1's agent
  ip netns exec ${n1.netns} nft list table inet cinch           # node1's rules
  ip netns exec ${n1.netns} ip route show proto 193             # node1's routes to node2's pods
  ip netns exec ${n1.netns} bridge fdb show dev cinch-vxlan
  less ${join(n1.dir, 'agent.log')}
  edit or add policies in ${c.manifests}/ : the agents pick them up within a second

Remove it with: ${cinch} demo down${o.name === 'cinch-demo' ? '' : ` --name ${o.name}`}   (or: npm run demo -- down)
`)
}

function readRecord(name: string): ClusterRecord | undefined {
  try {
    return JSON.parse(readFileSync(stateFile(name), 'utf8')) as ClusterRecord
  } catch {
    return undefined
  }
}

/** Removes a kept or crashed demo: what its state file lists, then any namespace left with its prefix. */
export async function demoDown(o: { name: string; out: (text: string) => void }): Promise<number> {
  const rec = readRecord(o.name)
  const listed = await run('ip', ['netns', 'list']).catch(() => '')
  const leftover = listed.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`${o.name}-`))
  if (!rec && !leftover.length) {
    o.out(`no demo named ${o.name} is up\n`)
    return 0
  }
  await destroyRecord({ dir: demoDir(o.name), procs: rec?.procs ?? [], netns: [...new Set([...(rec?.netns ?? []), ...leftover])] })
  o.out(`removed demo ${o.name}: ${rec?.procs.length ?? 0} processes, ${new Set([...(rec?.netns ?? []), ...leftover]).size} network namespaces\n`)
  return 0
}
