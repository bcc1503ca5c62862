// Moved to test/kit: these re-exports stay only while a test still imports them from here.
import { execFileSync } from 'node:child_process'
import { removeNetns } from '../kit/netns.js'
import { waitFor as kitWaitFor } from '../kit/wait.js'

export { cniBin, refBin, repoRoot } from '../kit/paths.js'
export { uniqueName } from '../kit/netns.js'
export { run } from '../kit/proc.js'

/** Prefer the kit's makeNetns(cleanup, ...), which registers the removal before creating. */
export function netnsAdd(name: string): void {
  execFileSync('ip', ['netns', 'add', name])
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up'])
}

export const netnsDel = removeNetns

/** The old argument order; use the kit's waitFor(what, predicate, { timeoutMs }). */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  await kitWaitFor(what, cond, { timeoutMs: ms })
}
