// A big chain's change as rule deletes and inserts instead of a flush and rewrite. A pod chain is
// rewritten whole whenever one of its policies changes; at thousands of rules (one tenant's many
// policies on one pod: up to ~13,000 under --max-pod-policy-cost's default) that was ~0.8 s of
// encoding and kernel work per change, in which the agent served no one else (bench/README phase
// 14). With the handles of the rules the kernel holds (the applier keeps them: apply/applier.ts),
// a change costs the rules it touches. Pure.
import type { IrChain } from '../compile/ir.js'

/**
 * Chains of at least this many rules are changed rule by rule once their handles are known, and
 * their handles are read after a rewrite. Below it a rewrite is cheap (the pod chains of the 30k
 * bench hold 5 to 40 rules) and nothing of this runs.
 */
export const RULE_EDIT_MIN = 256

/** What the applier knows of a chain in the kernel: the IR chain written, its rules' text and handles, in order. */
export interface KnownRules { chain: IrChain; rules: readonly string[]; handles: readonly number[] }

/** The rules both lists share at their head (`head`) and tail (`tail`, not overlapping the head). */
export function sharedEnds(old: readonly string[], next: readonly string[]): { head: number; tail: number } {
  let head = 0
  const max = Math.min(old.length, next.length)
  while (head < max && old[head] === next[head]) head++
  let tail = 0
  while (tail < max - head && old[old.length - 1 - tail] === next[next.length - 1 - tail]) tail++
  return { head, tail }
}

/**
 * The most rules one diff inserts by position, over all its chains (one change of a namespace's
 * policy can edit the big chain of each of its pods). Each comes back to our socket with its
 * handle (NLM_F_ECHO), the whole rule in the message, all queued at the commit before the batch's
 * answer. Past what the receive buffer holds the kernel drops them (ENOBUFS), and the `netlink`
 * binding then aborted the process at the next batch: 384 echoed rules of a pod chain's shape
 * overflowed the default buffer (212,992 bytes); the kept socket asks for twice that, where 768
 * came back whole (elements-netlink.ts socketFor). Past this budget, chains are rewritten and their
 * handles read by a dump, which is paced.
 */
export const MAX_INSERTED = 128

/**
 * Whether changing `old` into `next` rule by rule is worth it: the rules deleted and inserted are
 * fewer than half of what a rewrite writes (each costs the kernel about what a written rule does),
 * and the rules inserted fit what is left of the diff's `budget` (MAX_INSERTED).
 */
export function worthEditing(old: readonly string[], next: readonly string[], ends: { head: number; tail: number }, budget = MAX_INSERTED): boolean {
  const deleted = old.length - ends.head - ends.tail, inserted = next.length - ends.head - ends.tail
  return inserted <= budget && deleted + inserted < next.length / 2
}
