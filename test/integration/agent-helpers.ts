// Helpers for the agent's integration tests: running our TypeScript inside a netns (a process
// started by `ip netns exec` lives wholly in that netns, nft included) and reading its tables.
// Namespaces, processes and waits are the kit's (test/kit).
import { repoRoot } from '../kit/paths.js'
import { inNetns, spawnInNetns, type Spawned } from '../kit/proc.js'
import type { Cleanup } from '../kit/cleanup.js'

export { repoRoot }
export { inNetns } from '../kit/proc.js'

/** Runs an ESM TypeScript snippet (imports relative to the repo root) in the netns; returns stdout. */
export function tsInNetns(ns: string, code: string): Promise<string> {
  return inNetns(ns, process.execPath, ['--import', 'tsx/esm', '--input-type=module', '-e', code], { cwd: repoRoot })
}

/** Starts the agent CLI from source in the netns (not waited for), killed by `cleanup`; output in `log()`. */
export function spawnAgentInNetns(cleanup: Cleanup, ns: string, args: string[]): Spawned {
  return spawnInNetns(cleanup, ns, process.execPath, ['--import', 'tsx/esm', 'cli/main.ts', 'agent', ...args], { cwd: repoRoot })
}

/** `nft -j list table` in the netns, parsed; null when absent. */
export async function nftTable(ns: string, family: string, table: string): Promise<any | null> {
  try {
    return JSON.parse(await inNetns(ns, 'nft', ['-j', 'list', 'table', family, table]))
  } catch {
    return null
  }
}
