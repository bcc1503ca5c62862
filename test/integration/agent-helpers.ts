// Helpers for the agent's integration tests: throwaway network namespaces and running our code
// inside one (a process started by `ip netns exec` lives wholly in that netns, nft included).
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

export const sh = promisify(execFile)
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../..')

/** Creates a netns named cinch-t-agent-<tag>-<random>; call the returned cleanup in t.teardown. */
export async function makeNetns(tag: string): Promise<{ name: string; remove: () => Promise<void> }> {
  const name = `cinch-t-agent-${tag}-${randomBytes(3).toString('hex')}`
  await sh('ip', ['netns', 'add', name])
  await sh('ip', ['-n', name, 'link', 'set', 'lo', 'up'])
  return { name, remove: async () => void (await sh('ip', ['netns', 'del', name]).catch(() => {})) }
}

/** Runs a command inside the netns; resolves with stdout, rejects with stderr on failure. */
export async function inNetns(ns: string, cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // Absolute nft: under npx, PATH starts with node_modules/.bin, which holds @vercel/nft's `nft`.
    const bin = cmd === 'nft' ? '/usr/sbin/nft' : cmd
    const child = spawn('ip', ['netns', 'exec', ns, bin, ...args], { cwd: repoRoot })
    let out = ''
    let err = ''
    child.stdout.on('data', (b) => (out += b))
    child.stderr.on('data', (b) => (err += b))
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${err}`))))
    child.stdin.on('error', () => {}) // the command may exit without reading stdin
    child.stdin.end(input ?? '')
  })
}

/** Runs an ESM TypeScript snippet (imports relative to the repo root) in the netns; returns stdout. */
export function tsInNetns(ns: string, code: string): Promise<string> {
  return inNetns(ns, process.execPath, ['--import', 'tsx/esm', '--input-type=module', '-e', code])
}

/** Starts the agent CLI in the netns (not waited for); stdout+stderr collected in `.log`. */
export function spawnAgentInNetns(ns: string, args: string[]): ChildProcess & { log: string } {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx/esm', 'cli/main.ts', 'agent', ...args], {
    cwd: repoRoot,
  }) as ChildProcess & { log: string }
  child.log = ''
  child.stdout!.on('data', (b) => (child.log += b))
  child.stderr!.on('data', (b) => (child.log += b))
  return child
}

/** `nft -j list table` in the netns, parsed; null when absent. */
export async function nftTable(ns: string, family: string, table: string): Promise<any | null> {
  try {
    return JSON.parse(await inNetns(ns, 'nft', ['-j', 'list', 'table', family, table]))
  } catch {
    return null
  }
}

export { sleep } from './helpers.js'
