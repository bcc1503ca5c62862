// The log-prefix contract between the renderer (which writes `log group N prefix "..."` into nft
// rules) and the agent (which reads the prefix back from nfnetlink_log). One module, imported by
// both sides, so the two can never drift apart. Grammar (ASCII, no spaces, at most 30 bytes; nft
// allows 127, NF_LOG_PREFIXLEN 128 with the NUL):
//
//   cinch1:<dir><tier><hit><action>:<id>[:<rule>]
//     dir    i ingress | e egress                  (whose chain: the destination's or the source's)
//     tier   a ClusterNetworkPolicy Admin | n NetworkPolicy | b ClusterNetworkPolicy Baseline | u audit pass
//     hit    r a rule matched | x the end of the tier's chain (no rule matched)
//     action A allow | D deny | P pass | W would deny (audit: logged, not enforced)
//     id     12 lowercase hex digits: refId() of the policy (r) or of the chain (x)
//     rule   the rule's index in spec.ingress / spec.egress, 0..65535 (r only)
//
// Ids are hashes of names, not indexes into a per-generation table: renderDiff leaves unchanged
// chains in the kernel across generations (and a restarted agent finds the old rules until its
// first sync), so an id must mean the same thing for as long as any rule may carry it.
import { createHash } from 'node:crypto'

export type Direction = 'ingress' | 'egress'
export type Tier = 'admin' | 'networkpolicy' | 'baseline' | 'audit'
export type Hit = 'rule' | 'end'
export type Action = 'allow' | 'deny' | 'pass' | 'would-deny'

export interface LogPoint {
  direction: Direction
  tier: Tier
  hit: Hit
  action: Action
  /** refId() of the policy (hit 'rule') or of the pod chain (hit 'end') */
  id: string
  /** index of the rule in the policy's ingress/egress list (hit 'rule' only) */
  rule?: number
}

export const PREFIX_VERSION = 'cinch1'
export const PREFIX_MAX_BYTES = 127
const MAX_RULE = 0xffff

const DIR = { i: 'ingress', e: 'egress' } as const
const TIER = { a: 'admin', n: 'networkpolicy', b: 'baseline', u: 'audit' } as const
const HIT = { r: 'rule', x: 'end' } as const
const ACTION = { A: 'allow', D: 'deny', P: 'pass', W: 'would-deny' } as const
const letter = <T extends string>(m: Record<string, T>, v: T) => Object.keys(m).find((k) => m[k] === v)!

/**
 * What each tier may log. NetworkPolicy: a rule allows, the end of the chain drops (isolation).
 * ClusterNetworkPolicy tiers: a rule accepts, denies or passes; the end of Admin falls through
 * silently (the next tier decides), the end of Baseline allows (no tier denied). Audit: only the
 * end of an audit chain, where enforcement would have dropped.
 */
export const VALID: Record<Tier, Partial<Record<Hit, Action[]>>> = {
  networkpolicy: { rule: ['allow'], end: ['deny'] },
  admin: { rule: ['allow', 'deny', 'pass'] },
  baseline: { rule: ['allow', 'deny', 'pass'], end: ['allow'] },
  audit: { end: ['would-deny'] },
}

/** The id of a policy or chain name: 48 bits of SHA-256 of `kind:name` (collisions: see RefTable). */
export function refId(kind: 'np' | 'cnp' | 'chain', name: string): string {
  return createHash('sha256').update(`${kind}:${name}`).digest('hex').slice(0, 12)
}

export function encodePrefix(p: LogPoint): string {
  if (!VALID[p.tier][p.hit]?.includes(p.action)) throw new Error(`log point ${p.tier}/${p.hit}/${p.action}: not a valid combination`)
  if (!/^[0-9a-f]{12}$/.test(p.id)) throw new Error(`log point id ${JSON.stringify(p.id)}: not 12 hex digits`)
  if ((p.hit === 'rule') !== (p.rule !== undefined)) throw new Error(`log point: a rule index ${p.hit === 'rule' ? 'is required' : 'is only for rule hits'}`)
  if (p.rule !== undefined && (!Number.isInteger(p.rule) || p.rule < 0 || p.rule > MAX_RULE)) throw new Error(`log point rule ${p.rule}: not 0..${MAX_RULE}`)
  const head = `${PREFIX_VERSION}:${letter(DIR, p.direction)}${letter(TIER, p.tier)}${letter(HIT, p.hit)}${letter(ACTION, p.action)}:${p.id}`
  return p.rule === undefined ? head : `${head}:${p.rule}`
}

const GRAMMAR = /^cinch1:([ie])([anbu])([rx])([ADPW]):([0-9a-f]{12})(?::(0|[1-9][0-9]{0,4}))?$/

/**
 * The log point of a prefix; undefined for anything else: another tool's rule logging to our
 * group, a future version, or a combination the renderer never writes. Strict on purpose: a
 * prefix is the only thing tying a kernel event to a policy, so a doubtful one names nothing.
 */
export function decodePrefix(s: string): LogPoint | undefined {
  const m = GRAMMAR.exec(s)
  if (!m) return undefined
  const p: LogPoint = {
    direction: DIR[m[1] as keyof typeof DIR], tier: TIER[m[2] as keyof typeof TIER], hit: HIT[m[3] as keyof typeof HIT],
    action: ACTION[m[4] as keyof typeof ACTION], id: m[5]!,
  }
  if (m[6] !== undefined) {
    const rule = Number(m[6])
    if (rule > MAX_RULE) return undefined
    p.rule = rule
  }
  if (!VALID[p.tier][p.hit]?.includes(p.action) || (p.hit === 'rule') !== (p.rule !== undefined)) return undefined
  return p
}
