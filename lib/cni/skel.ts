// runPlugin is cinch's `skel` (containernetworking/cni pkg/skel): it owns the environment, stdin,
// spec versions, stdout and the exit code; the verbs it calls only compute a result or throw.
import { readFileSync, writeSync } from 'node:fs'
import { CniError, ErrorCode, describeError, toCniError } from './errors.js'
import { parseEnv } from './env.js'
import { createPluginLogger, type PluginLogger } from './log.js'
import { convertResult, parseResult } from './result.js'
import type { CniEnv, CniResult, NetConf } from './types.js'
import { CURRENT_VERSION, SUPPORTED_VERSIONS, isSupportedVersion, isValidVersion, isVersionAtLeast } from './version.js'

export interface VerbContext {
  env: CniEnv
  conf: NetConf
  stdin: Buffer
  log: PluginLogger
}

export type Verb = (ctx: VerbContext) => Promise<CniResult | void>

export interface PluginVerbs {
  add: Verb
  del: Verb
  check: Verb
  status?: Verb
  gc?: Verb
}

/** What runPlugin reads and writes; tests pass their own. */
export interface PluginIo {
  env: NodeJS.ProcessEnv
  stdin: Buffer
  stdout: (text: string) => void
  stderr: (text: string) => void
}

export interface PluginOptions {
  /** Shown by VERSION and in logs, e.g. "cinch-bridge". */
  about: string
  io?: PluginIo
}

// SPEC "Version considerations": CHECK appeared in 0.4.0, STATUS and GC in 1.1.0.
const MIN_VERSION: Partial<Record<string, string>> = { CHECK: '0.4.0', STATUS: '1.1.0', GC: '1.1.0' }

function processIo(): PluginIo {
  let stdin: Buffer | undefined
  return {
    env: process.env,
    // Read once: a pipe yields its content to the first read only.
    get stdin() {
      stdin ??= readFileSync(0)
      return stdin
    },
    stdout: (text) => writeSync(1, text),
    stderr: (text) => writeSync(2, text),
  }
}

function parseStdin(stdin: Buffer): Record<string, unknown> {
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

function toNetConf(raw: Record<string, unknown>, version: string): NetConf {
  for (const key of ['name', 'type'] as const) {
    if (raw[key] !== undefined && typeof raw[key] !== 'string') {
      throw new CniError(ErrorCode.InvalidConfig, `invalid network config: ${key}`, `${key}: must be a string`)
    }
  }
  const conf = { ...raw, cniVersion: version } as NetConf
  if (raw.prevResult !== undefined && raw.prevResult !== null) {
    conf.prevResult = parseResult(raw.prevResult, version)
  } else {
    delete conf.prevResult
  }
  return conf
}

async function dispatch(verbs: PluginVerbs, io: PluginIo, about: string, injected: boolean): Promise<string> {
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
  const env = parseEnv(io.env)
  const raw = parseStdin(io.stdin)
  const version = checkVersion(raw)
  const min = MIN_VERSION[env.command]
  if (min && !isVersionAtLeast(version, min)) {
    throw new CniError(ErrorCode.IncompatibleVersion, `config version does not allow ${env.command}`, `${env.command} needs cniVersion ${min} or later, config is ${version}`)
  }
  const conf = toNetConf(raw, version)
  const log = (await createPluginLogger({
    plugin: about,
    logFile: typeof raw.logFile === 'string' ? raw.logFile : undefined,
    logLevel: typeof raw.logLevel === 'string' ? raw.logLevel : undefined,
    write: injected ? io.stderr : undefined,
  })).child({ cmd: env.command, containerId: env.containerId || undefined, ifName: env.ifName || undefined })
  const table: Record<string, Verb | undefined> = { ADD: verbs.add, DEL: verbs.del, CHECK: verbs.check, STATUS: verbs.status, GC: verbs.gc }
  const verb = table[env.command]
  const started = performance.now()
  try {
    // A plugin without STATUS or GC has nothing to report or collect: both succeed (SPEC).
    const result = verb ? await verb({ env, conf, stdin: io.stdin, log }) : undefined
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
export async function runPlugin(verbs: PluginVerbs, opts: PluginOptions): Promise<number> {
  const io = opts.io ?? processIo()
  let version = CURRENT_VERSION
  try {
    const v = io.env.CNI_COMMAND === 'VERSION' ? undefined : safeVersion(io.stdin)
    if (v) version = v
    const out = await dispatch(verbs, io, opts.about, opts.io !== undefined)
    if (out) io.stdout(out + '\n')
    return finish(opts, 0)
  } catch (err) {
    const e = toCniError(err)
    const body: Record<string, unknown> = { cniVersion: version, code: e.code, msg: e.msg }
    if (e.details) body.details = e.details
    io.stdout(JSON.stringify(body) + '\n')
    return finish(opts, 1)
  }
}

// The error object carries the config's version when it is one we speak (SPEC "Error").
function safeVersion(stdin: Buffer): string | undefined {
  try {
    const v = JSON.parse(stdin.toString('utf8'))?.cniVersion
    return typeof v === 'string' && isSupportedVersion(v) ? v : undefined
  } catch {
    return undefined
  }
}

function finish(opts: PluginOptions, code: number): number {
  // A real invocation exits at once: open netlink sockets must not keep the runtime waiting.
  if (!opts.io) process.exit(code)
  return code
}
