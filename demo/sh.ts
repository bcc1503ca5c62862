// Moved to test/kit/proc.ts and test/kit/wait.ts; this adapter goes once nothing imports it.
import { waitFor as kitWaitFor } from '../test/kit/wait.js'
export { inNetns as inNs, pidRuns, run, spawnDetachedInNetns as spawnInNs, stopPids } from '../test/kit/proc.js'
export const waitFor = <T>(what: string, ms: number, probe: () => Promise<T | undefined | false> | T | undefined | false): Promise<T> =>
  kitWaitFor(what, probe, { timeoutMs: ms }) as Promise<T>
