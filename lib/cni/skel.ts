// runPlugin is cinch's `skel` (containernetworking/cni pkg/skel): it owns the environment, stdin,
// spec versions, stdout and the exit code; the verbs it calls only compute a result or throw.
import { readSync, writeSync } from 'node:fs'
import { CniError, ErrorCode, describeError, toCniError } from './errors.js'
import { parseEnv } from './env.js'
import { createPluginLogger, type PluginLogger } from './log.js'
import { convertResult, parseResult } from './result.js'
import type { CniCommand, CniEnv, CniResult, NetConf } from './types.js'
import { CURRENT_VERSION, SUPPORTED_VERSIONS, isSupportedVersion, isValidVersion, isVersionAtLeast } from './version.js'

export interface VerbContext<C = NetConf> {
  env: CniEnv
  /** The plugin's own reading of the config (PluginOptions.parseConfig), parsed once per invocation. */
  config: C
  /** The generic reading: cniVersion checked, prevResult converted to the 1.1.0 shape. */
  conf: NetConf
  /** The config object exactly as the runtime sent it: what a delegated plugin (IPAM) must receive. */
  raw: Readonly<Record<string, unknown>>
  log: PluginLogger
}

export type Verb<C = NetConf> = (ctx: VerbContext<C>) => Promise<CniResult | void>

export interface PluginVerbs<C = NetConf> {
  add: Verb<C>
  del: Verb<C>
  check: Verb<C>
  status?: Verb<C>
  gc?: Verb<C>
}

/** What runPlugin reads and writes; tests pass their own. */
export interface PluginIo {
  env: NodeJS.ProcessEnv
  stdin: Buffer
  stdout: (text: string) => void
  stderr: (text: string) => void
}

export interface PluginOptions<C = NetConf> {
  /** Shown by VERSION and in logs, e.g. "cinch-bridge". */
  about: string
  /**
   * The plugin's config reader (schema, defaults, cross-field rules), run once before the verb; its
   * CniError (code 7) is the verb's. Without it `config` is the generic NetConf.
   */
  parseConfig?: (conf: NetConf, env: CniEnv) => C | Promise<C>
  io?: PluginIo
}

/**
 * The largest config a runtime may send. A conflist entry with its prevResult is a few KiB; the bound
 * keeps a runaway or hostile caller from making every plugin process buffer and parse gigabytes.
 */
export const MAX_STDIN_BYTES = 1 << 20

// SPEC "Version considerations": CHECK appeared in 0.4.0, STATUS and GC in 1.1.0.
const MIN_VERSION: Partial<Record<string, string>> = { CHECK: '0.4.0', STATUS: '1.1.0', GC: '1.1.0' }

/** Reads fd 0 up to one byte past `max`, so that an oversized stdin is seen without buffering all of it. */
function readStdinBounded(max: number): Buffer {
  const chunks: Buffer[] = []
  let total = 0
  for (;;) {
    const buf = Buffer.allocUnsafe(Math.min(64 * 1024, max + 1 - total))
    let n: number
    try {
      n = readSync(0, buf, 0, buf.length, null)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EOF') break
      throw new CniError(ErrorCode.IoFailure, 'cannot read the network config from stdin', describeError(err))
    }
    if (n === 0) break
    chunks.push(buf.subarray(0, n))
    total += n
    if (total > max) break
  }
  return Buffer.concat(chunks)
}

function processIo(): PluginIo {
  let stdin: Buffer | undefined
  return {
    env: process.env,
    // Read once: a pipe yields its content to the first read only.
    get stdin() {
      stdin ??= readStdinBounded(MAX_STDIN_BYTES)
      return stdin
    },
    stdout: (text) => writeSync(1, text),
    stderr: (text) => writeSync(2, text),
  }
}

function parseStdin(stdin: Buffer): Record<string, unknown> {
  if (stdin.length > MAX_STDIN_BYTES) {
    throw new CniError(ErrorCode.DecodingFailure, 'network config on stdin is too large', `more than ${MAX_STDIN_BYTES} bytes; a network config with its prevResult is a few KiB`)
  }
  let raw: unknown
  try {
    raw = JSON.parse(stdin.toString('utf8'))
  } catch (err) {
    throw new CniError(ErrorCode.DecodingFailure, 'network config on stdin is not valid JSON', describeError(err))
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new CniError(ErrorCode.DecodingFailure, 'network config on stdin must be a JSON object')
  }
  return raw as Record<string, unknown>
}

function checkVersion(raw: Record<string, unknown>): string {
  const v = raw.cniVersion
  if (v === undefined) return '0.3.0' // SPEC: an absent cniVersion is treated as the oldest we accept
  if (!isValidVersion(v)) {
    throw new CniError(ErrorCode.InvalidConfig, 'invalid network config: cniVersion', `cniVersion: ${JSON.stringify(v)} is not a version`)
  }
  if (!isSupportedVersion(v)) {
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      'incompatible CNI versions',
      `config is "${v}", plugin supports [${SUPPORTED_VERSIONS.join(' ')}]`,
    )
  }
  return v
}

/** The generic NetConf, and why a prevResult was dropped (DEL only). */
function toNetConf(raw: Record<string, unknown>, version: string, command: CniCommand): { conf: NetConf; dropped?: string } {
  for (const key of ['name', 'type'] as const) {
    if (raw[key] !== undefined && typeof raw[key] !== 'string') {
      throw new CniError(ErrorCode.InvalidConfig, `invalid network config: ${key}`, `${key}: must be a string`)
    }
  }
  const conf = { ...raw, cniVersion: version } as NetConf
  delete conf.prevResult
  if (raw.prevResult === undefined || raw.prevResult === null) return { conf }
  try {
    conf.prevResult = parseResult(raw.prevResult, version)
  } catch (err) {
    // SPEC "DEL": release everything even when some information is missing. A broken prevResult
    // must not make a pod undeletable (the runtime retries DEL forever); the plugins keep their own
    // record of what to release.
    if (command === 'DEL' && err instanceof CniError) return { conf, dropped: describeError(err) }
    throw err
  }
  return { conf }
}

async function dispatch<C>(verbs: PluginVerbs<C>, opts: PluginOptions<C>, io: PluginIo, reply: { version: string }): Promise<string> {
  const about = opts.about
  const command = io.env.CNI_COMMAND
  if (command === 'VERSION') {
    let asked = CURRENT_VERSION
    try {
      const v = parseStdin(io.stdin).cniVersion
      if (typeof v === 'string' && isSupportedVersion(v)) asked = v
    } catch {
      // VERSION answers even without a config on stdin
    }
    return JSON.stringify({ cniVersion: asked, supportedVersions: SUPPORTED_VERSIONS })
  }
  // Env is judged first (as pkg/skel does), but the error object carries the config's version
  // when it is one we speak (SPEC "Error"), so stdin is parsed, once, before.
  let raw: Record<string, unknown> | undefined
  let badStdin: unknown
  try {
    raw = parseStdin(io.stdin)
    if (typeof raw.cniVersion === 'string' && isSupportedVersion(raw.cniVersion)) reply.version = raw.cniVersion
  } catch (err) {
    badStdin = err
  }
  const env = parseEnv(io.env)
  if (!raw) throw badStdin
  const version = checkVersion(raw)
  const min = MIN_VERSION[env.command]
  if (min && !isVersionAtLeast(version, min)) {
    throw new CniError(ErrorCode.IncompatibleVersion, `config version does not allow ${env.command}`, `${env.command} needs cniVersion ${min} or later, config is ${version}`)
  }
  const { conf, dropped } = toNetConf(raw, version, env.command)
  const log = (await createPluginLogger({
    plugin: about,
    logFile: typeof raw.logFile === 'string' ? raw.logFile : undefined,
    logLevel: typeof raw.logLevel === 'string' ? raw.logLevel : undefined,
    write: opts.io ? io.stderr : undefined,
  })).child({ cmd: env.command, containerId: env.containerId || undefined, ifName: env.ifName || undefined })
  if (dropped) log.warn({ prevResult: dropped }, 'DEL ignores a malformed prevResult')
  const table: Record<string, Verb<C> | undefined> = { ADD: verbs.add, DEL: verbs.del, CHECK: verbs.check, STATUS: verbs.status, GC: verbs.gc }
  const verb = table[env.command]
  const started = performance.now()
  try {
    // A plugin without STATUS or GC has nothing to report or collect: both succeed (SPEC).
    const config = opts.parseConfig ? await opts.parseConfig(conf, env) : (conf as C)
    const result = verb ? await verb({ env, config, conf, raw, log }) : undefined
    log.info({ ms: Math.round(performance.now() - started) }, `${env.command} ok`)
    if (env.command !== 'ADD') return ''
    if (!result) throw new Error(`${about} ADD returned no result`)
    return JSON.stringify(convertResult(result, version))
  } catch (err) {
    log.warn({ ms: Math.round(performance.now() - started), err: describeError(err) }, `${env.command} failed`)
    throw err
  }
}

/** Runs one plugin invocation to completion; returns the exit code (and prints exactly one document). */
export async function runPlugin<C = NetConf>(verbs: PluginVerbs<C>, opts: PluginOptions<C>): Promise<number> {
  const io = opts.io ?? processIo()
  const reply = { version: CURRENT_VERSION }
  try {
    const out = await dispatch(verbs, opts, io, reply)
    if (out) io.stdout(out + '\n')
    return finish(opts, 0)
  } catch (err) {
    const e = toCniError(err)
    const body: Record<string, unknown> = { cniVersion: reply.version, code: e.code, msg: e.msg }
    if (e.details) body.details = e.details
    io.stdout(JSON.stringify(body) + '\n')
    return finish(opts, 1)
  }
}

function finish(opts: { io?: PluginIo }, code: number): number {
  // A real invocation exits at once: open netlink sockets must not keep the runtime waiting.
  if (!opts.io) process.exit(code)
  return code
}
