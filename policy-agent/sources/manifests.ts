// The manifest directory source: every *.yaml, *.yml and *.json file under DIR, each holding one or
// more documents (YAML `---`, JSON objects, or `kind: List`). Re-read whole on any change: a
// directory of manifests is small, and a full re-read cannot drift from the files.
import { readdir, readFile, stat } from 'node:fs/promises'
import { watch, type FSWatcher } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { emptyClusterState, type ClusterState } from '../model/cluster.js'
import { convertObject, flattenList, type KubeObject } from './convert.js'
import type { ProblemReport, Source } from './types.js'

const MANIFEST = /\.(ya?ml|json)$/i

/**
 * The largest manifest file read, by format. The yaml package parses about 0.5 MB a second on the
 * agent's event loop (which answers every ADD), JSON.parse about 100 MB: a YAML file over 4 MiB
 * would hold the agent for seconds on every change of the directory.
 */
export const MANIFEST_LIMITS = { yamlBytes: 4 << 20, jsonBytes: 64 << 20 } as const

/** Why a manifest file is not read (not a regular file, over its size bound), or undefined. */
async function unreadable(path: string): Promise<string | undefined> {
  // Followed: a ConfigMap mounted as files is symlinks (`p.yaml -> ..data/p.yaml`). A FIFO or a
  // device behind the name would block the read forever; a symlink loop fails the stat.
  const st = await stat(path)
  if (!st.isFile()) return `not a regular file (${st.isFIFO() ? 'a FIFO' : st.isDirectory() ? 'a directory' : 'a device or socket'})`
  const json = /\.json$/i.test(path)
  const limit = json ? MANIFEST_LIMITS.jsonBytes : MANIFEST_LIMITS.yamlBytes
  if (st.size > limit) {
    return `${st.size} bytes: over the ${limit}-byte bound for ${json ? 'JSON' : 'YAML'} manifests${json ? '' : ` (write it as JSON, up to ${MANIFEST_LIMITS.jsonBytes} bytes: it parses about 200 times faster)`}`
  }
  return undefined
}

/** Parses one file's text into objects; throws with the document's position on a syntax error. */
export function parseManifestText(text: string): KubeObject[] {
  // JSON first when it looks like JSON: the yaml package reads 1 MB of JSON in about 2 s (a 30,000-port
  // policy), JSON.parse in 10 ms, and the event loop must stay free for the ADD handshake.
  if (/^\s*[[{]/.test(text)) {
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      value = undefined // not JSON after all (or broken): the YAML parser says where
    }
    if (value !== undefined) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('document is not an object')
      return flattenList(value as KubeObject)
    }
  }
  // YAML is a superset of JSON, so one parser reads both.
  const docs = parseAllDocuments(text)
  const out: KubeObject[] = []
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    if (doc.errors.length) throw new Error(doc.errors.map((e) => e.message).join('; '))
    const value = doc.toJS()
    if (value == null) continue
    if (typeof value !== 'object') throw new Error('document is not an object')
    out.push(...flattenList(value as KubeObject))
  }
  return out
}

/** Reads DIR once into a ClusterState; broken files are reported and skipped, the rest load. */
export async function readManifestDir(dir: string): Promise<{ state: ClusterState; problems: ProblemReport[] }> {
  const state = emptyClusterState()
  const problems: ProblemReport[] = []
  const names = (await readdir(dir, { recursive: true })).filter((n) => MANIFEST.test(n)).sort()
  for (const name of names) {
    const path = join(dir, name)
    let objects: KubeObject[]
    try {
      const why = await unreadable(path)
      if (why) {
        problems.push({ where: path, reason: why })
        continue
      }
      objects = parseManifestText(await readFile(path, 'utf8'))
    } catch (err) {
      problems.push({ where: path, reason: (err as Error).message })
      continue
    }
    // Convert the whole file before adding any of it: a file loads entirely or not at all.
    try {
      const converted = objects.map(convertObject)
      for (const c of converted) {
        if (!c) continue
        if (c.kind === 'Pod') state.pods.set(c.key, c.value)
        else if (c.kind === 'Namespace') state.namespaces.set(c.key, c.value)
        else if (c.kind === 'NetworkPolicy') state.policies.set(c.key, c.value)
        else if (c.kind === 'ClusterNetworkPolicy') state.clusterNetworkPolicies.set(c.key, c.value)
        else state.nodes.set(c.key, c.value)
      }
    } catch (err) {
      problems.push({ where: path, reason: (err as Error).message })
    }
  }
  return { state, problems }
}

export interface ManifestSourceOptions {
  dir: string
  /** Read once, do not watch. */
  once?: boolean
  debounceMs?: number
  onProblem?: (p: ProblemReport) => void
}

export class ManifestSource implements Source {
  #state: ClusterState = emptyClusterState()
  #problems: ProblemReport[] = []
  #watcher?: FSWatcher
  #timer?: NodeJS.Timeout
  #reading = Promise.resolve()

  constructor(private readonly opts: ManifestSourceOptions) {}

  async start(onChange: () => void): Promise<void> {
    await this.#reload()
    if (this.opts.once) return
    this.#watcher = watch(this.opts.dir, { persistent: true }, () => {
      // Editors write a file in several steps (truncate, write, rename): wait for quiet.
      clearTimeout(this.#timer)
      this.#timer = setTimeout(() => {
        this.#reading = this.#reading.then(() => this.#reload()).then(onChange, (err) =>
          this.opts.onProblem?.({ where: this.opts.dir, reason: (err as Error).message }),
        )
      }, this.opts.debounceMs ?? 100)
    })
  }

  async #reload(): Promise<void> {
    const { state, problems } = await readManifestDir(this.opts.dir)
    this.#state = state
    this.#problems = problems
    for (const p of problems) this.opts.onProblem?.(p)
  }

  state(): ClusterState {
    return this.#state
  }

  problems(): ProblemReport[] {
    return this.#problems
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer)
    this.#watcher?.close()
    await this.#reading
  }
}
