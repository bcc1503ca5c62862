// The NetworkPolicy fixture's model (namespaces x, y, z; pods a, b, c) and its cases as steps:
// write the step's manifests, wait for the live agent to apply them, probe, compare.
import type { ExecutionContext } from 'ava'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { addPod, type AgentStatus, applyManifests, Cleanup, type Labels, makeNodeCluster, type ModelPod, nftText, type NodeCluster, type PodPortSpec, repoRoot, serve, startAgent, substitute, waitListening, writeManifests } from './netpol-helpers.js'
import { expandMatrix, type Matrix, probeAndCompare } from './netpol-probe.js'

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
// interval (each bounded by 300 ms), writes '+' or '-' on stderr per attempt (progress the test can
// wait on), and prints {"attempts","ok","firstOkMs"} at the end. The interval paces the attempts;
// it is not a wait.
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
    const good = await once()
    if (good) { ok++; if (firstOkMs === null) firstOkMs = Date.now() - t0 }
    process.stderr.write(good ? '+' : '-')
    await new Promise((r) => setTimeout(r, Math.max(0, interval - (Date.now() - started))))
  }
  process.stdout.write(JSON.stringify({ attempts, ok, firstOkMs }))
})()
`

export interface LoopResult { attempts: number; ok: number; firstOkMs: number | null }

/**
 * Starts a continuous TCP prober in `netns`; await the result when its duration is over.
 * `okSoFar()` counts the connections that got through until now.
 */
export function loopProbe(netns: string, o: { target: string; port: number; durationMs: number; intervalMs?: number }): Promise<LoopResult> & { okSoFar: () => number } {
  let progress = ''
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', LOOP_PROBER, String(o.durationMs), String(o.intervalMs ?? 50), String(o.port), o.target], { stdio: ['ignore', 'pipe', 'pipe'] })
  const killer = setTimeout(() => child.kill('SIGKILL'), o.durationMs + 30_000)
  let out = ''
  child.stdout.on('data', (b) => (out += b))
  child.stderr.on('data', (b) => (progress += b))
  const done = new Promise<LoopResult>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(killer)
      try {
        resolve(JSON.parse(out))
      } catch {
        reject(new Error(`loop prober in ${netns} exited ${code}: ${out}${progress}`))
      }
    })
  })
  return Object.assign(done, { okSoFar: () => progress.split('+').length - 1 })
}
