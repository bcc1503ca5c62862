// Runs another plugin (the IPAM plugin, usually) the way a runtime would: found on CNI_PATH,
// the same CNI_* environment with the verb's CNI_COMMAND, the config on stdin (libcni's
// pkg/invoke DelegateAdd/Del/Check/GC/Status). Its error object comes back as a CniError.
// node:child_process is loaded on first use: a plugin whose IPAM runs in process never pays for it.
import type { ChildProcess } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { join } from 'node:path'
import { CniError, ErrorCode } from './errors.js'
import { parseResult } from './result.js'
import type { CniCommand, CniEnv, CniResult } from './types.js'

export function findPlugin(type: string, path: string[]): string {
  if (type.includes('/')) throw new CniError(ErrorCode.InvalidConfig, `invalid plugin type "${type}"`)
  for (const dir of path) {
    const candidate = join(dir, type)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not in this directory; try the next one
    }
  }
  throw new CniError(ErrorCode.InvalidConfig, `failed to find plugin "${type}" in path [${path.join(' ')}]`)
}

interface Exited {
  code: number | null
  signal: NodeJS.Signals | null
  overflowed: boolean
  timedOut: boolean
  stdout: string
  stderr: string
}

/**
 * Most a delegated plugin may print: a result is a few KiB. A plugin printing without end is killed
 * rather than buffered (its exit code then reports it), so it cannot exhaust this process's memory.
 */
const MAX_OUTPUT_BYTES = 1 << 20

/**
 * How long a delegated plugin may run unless the caller says otherwise. libcni puts no bound on a
 * plugin; a hung IPAM plugin (a dhcp daemon that never answers, a store on a dead NFS mount) would
 * hold the pod's ADD, and the runtime's sandbox slot, until kubelet gives up minutes later.
 */
export const DEFAULT_DELEGATE_TIMEOUT_MS = 30_000

export interface DelegateOptions {
  /** Kill the plugin after this long and fail with code 11 (the runtime retries). */
  timeoutMs?: number
}

/** Gathers a child's output; past MAX_OUTPUT_BYTES the child is killed and `overflowed` set. */
function collect(child: ChildProcess, stream: NodeJS.ReadableStream, into: Buffer[], seen: { total: number; overflowed: boolean }): void {
  stream.on('data', (b: Buffer) => {
    seen.total += b.length
    if (seen.total > MAX_OUTPUT_BYTES) {
      seen.overflowed = true
      child.kill('SIGKILL')
      return
    }
    into.push(b)
  })
}

async function run(file: string, env: NodeJS.ProcessEnv, stdin: string, timeoutMs: number): Promise<Exited> {
  const { spawn } = await import('node:child_process')
  return new Promise((resolve, reject) => {
    const child = spawn(file, [], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    const seen = { total: 0, overflowed: false }
    let timedOut = false
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer)
      resolve({ code, signal, overflowed: seen.overflowed, timedOut, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() })
    }
    // Killed at the deadline, and answered at once: a grandchild holding the pipes open must not
    // keep 'close' from ever firing.
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
      child.stdout?.destroy()
      child.stderr?.destroy()
      finish(null, 'SIGKILL')
    }, timeoutMs)
    collect(child, child.stdout, out, seen)
    collect(child, child.stderr, err, seen)
    child.on('error', (e) => {
      clearTimeout(timer)
      reject(new Error(`exec ${file}`, { cause: e }))
    })
    child.on('close', (code, signal) => {
      if (!timedOut) finish(code, signal)
    })
    child.stdin.on('error', () => {}) // a plugin may exit before reading stdin; its exit code tells
    child.stdin.end(stdin)
  })
}

async function delegate(command: CniCommand, type: string, conf: object, env: CniEnv, opts: DelegateOptions = {}): Promise<string> {
  const file = findPlugin(type, env.path)
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    CNI_COMMAND: command,
    CNI_CONTAINERID: env.containerId,
    CNI_NETNS: env.netns,
    CNI_IFNAME: env.ifName,
    CNI_PATH: env.path.join(':'),
    CNI_ARGS: Object.entries(env.args).map(([k, v]) => `${k}=${v}`).join(';'),
  }
  const timeoutMs = opts.timeoutMs ?? DEFAULT_DELEGATE_TIMEOUT_MS
  const { code, signal, overflowed, timedOut, stdout, stderr } = await run(file, childEnv, JSON.stringify(conf), timeoutMs)
  if (timedOut) {
    throw new CniError(ErrorCode.TryAgainLater, `${type} ${command} did not finish within ${timeoutMs} ms`, `${file} was killed; is the IPAM plugin or its backend hung?`)
  }
  if (code === 0) return stdout
  let parsed: { code?: unknown; msg?: unknown; details?: unknown } | undefined
  try {
    parsed = JSON.parse(stdout)
  } catch {
    parsed = undefined
  }
  if (parsed && typeof parsed.code === 'number') {
    const details = typeof parsed.details === 'string' && parsed.details ? parsed.details : undefined
    throw new CniError(parsed.code, `${type}: ${String(parsed.msg ?? 'failed')}`, details)
  }
  const why = (stderr || stdout).trim().slice(0, 500)
  const how = code === null ? `signal ${signal}${overflowed ? ` (printed more than ${MAX_OUTPUT_BYTES} bytes)` : ''}` : `exit code ${code}`
  throw new CniError(ErrorCode.Internal, `${type} ${command} failed with ${how}`, why || undefined)
}

export async function delegateAdd(type: string, conf: object, env: CniEnv, opts?: DelegateOptions): Promise<CniResult> {
  const stdout = await delegate('ADD', type, conf, env, opts)
  let raw: unknown
  try {
    raw = JSON.parse(stdout)
  } catch (err) {
    throw new CniError(ErrorCode.DecodingFailure, `${type} ADD printed no JSON result`, stdout.slice(0, 200), { cause: err })
  }
  const version = (conf as { cniVersion?: string }).cniVersion ?? '1.1.0'
  return parseResult(raw, version)
}

export async function delegateDel(type: string, conf: object, env: CniEnv, opts?: DelegateOptions): Promise<void> {
  await delegate('DEL', type, conf, env, opts)
}

export async function delegateCheck(type: string, conf: object, env: CniEnv, opts?: DelegateOptions): Promise<void> {
  await delegate('CHECK', type, conf, env, opts)
}

export async function delegateGc(type: string, conf: object, env: CniEnv, opts?: DelegateOptions): Promise<void> {
  await delegate('GC', type, conf, env, opts)
}

export async function delegateStatus(type: string, conf: object, env: CniEnv, opts?: DelegateOptions): Promise<void> {
  await delegate('STATUS', type, conf, env, opts)
}
