// Runs another plugin (the IPAM plugin, usually) the way a runtime would: found on CNI_PATH,
// the same CNI_* environment with the verb's CNI_COMMAND, the config on stdin (libcni's
// pkg/invoke DelegateAdd/Del/Check/GC/Status). Its error object comes back as a CniError.
import { spawn } from 'node:child_process'
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
  stdout: string
  stderr: string
}

/**
 * Most a delegated plugin may print: a result is a few KiB. A plugin printing without end is killed
 * rather than buffered (its exit code then reports it), so it cannot exhaust this process's memory.
 */
const MAX_OUTPUT_BYTES = 1 << 20

/** Gathers a child's output; past MAX_OUTPUT_BYTES the child is killed and `overflowed` set. */
function collect(child: ReturnType<typeof spawn>, stream: NodeJS.ReadableStream, into: Buffer[], seen: { total: number; overflowed: boolean }): void {
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

function run(file: string, env: NodeJS.ProcessEnv, stdin: string): Promise<Exited> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, [], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    const seen = { total: 0, overflowed: false }
    collect(child, child.stdout, out, seen)
    collect(child, child.stderr, err, seen)
    child.on('error', (e) => reject(new Error(`exec ${file}`, { cause: e })))
    child.on('close', (code, signal) =>
      resolve({ code, signal, overflowed: seen.overflowed, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }),
    )
    child.stdin.on('error', () => {}) // a plugin may exit before reading stdin; its exit code tells
    child.stdin.end(stdin)
  })
}

async function delegate(command: CniCommand, type: string, conf: object, env: CniEnv): Promise<string> {
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
  const { code, signal, overflowed, stdout, stderr } = await run(file, childEnv, JSON.stringify(conf))
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

export async function delegateAdd(type: string, conf: object, env: CniEnv): Promise<CniResult> {
  const stdout = await delegate('ADD', type, conf, env)
  let raw: unknown
  try {
    raw = JSON.parse(stdout)
  } catch (err) {
    throw new CniError(ErrorCode.DecodingFailure, `${type} ADD printed no JSON result`, stdout.slice(0, 200), { cause: err })
  }
  const version = (conf as { cniVersion?: string }).cniVersion ?? '1.1.0'
  return parseResult(raw, version)
}

export async function delegateDel(type: string, conf: object, env: CniEnv): Promise<void> {
  await delegate('DEL', type, conf, env)
}

export async function delegateCheck(type: string, conf: object, env: CniEnv): Promise<void> {
  await delegate('CHECK', type, conf, env)
}

export async function delegateGc(type: string, conf: object, env: CniEnv): Promise<void> {
  await delegate('GC', type, conf, env)
}

export async function delegateStatus(type: string, conf: object, env: CniEnv): Promise<void> {
  await delegate('STATUS', type, conf, env)
}
