// render(PolicyIR) -> nft text. renderFull replaces cinch's tables in one transaction; renderDiff
// carries only what changed between two IRs; renderTeardown removes the tables. fullCommands and
// planDiff give the same changes as commands (data), which lib/nft sends as one nf_tables netlink
// batch; the text is what nft is fed when lib/nft cannot encode them. Pure.
import { counterNames, MAP_NAMES, recordDeltaFrom, setDeltaFrom, type IrChain, type MapName, type PolicyIR } from '../compile/ir.js'
import {
  AUDIT_PRIORITY, BRIDGE_TABLE, TABLE, UNPROGRAMMED_COUNTER, auditActive, auditBaseChains, auditMapName, baseChains, chainRules, guardChains, isolatedSetName, mapElement, mapKey, mapSpec,
  midstreamChains, setParts, setSize, setSpec,
} from './rules.js'
import { limitSpec } from '../flows/nft.js'
import { FLOWLOG_LIMIT } from '../flows/objects.js'
import { SPOOF_COUNTER, antispoofElements, antispoofRules, setDecls } from './antispoof.js'
import { elementCommandText, type ElementCommand, type KeyPart } from '../../lib/nft/elements.js'
import { commandText, isElementCommand, type NftCommand } from '../../lib/nft/commands.js'
import type { IrSet } from '../compile/ir.js'
import { counterChanges } from './counters.js'
import { MAX_INSERTED, RULE_EDIT_MIN, sharedEnds, worthEditing, type KnownRules } from './rule-edits.js'

export interface RenderOptions {
  failOpen?: boolean /* default false */
  /**
   * A full replace's floor for each set's size: the size it has in the kernel now (the applier
   * keeps them). A set is never created smaller than it was: sizes follow the largest a set has
   * been, not its count at the last replace, so a set that shrank and grows back to where it was
   * does not outgrow its size again (each outgrowing is a full replace).
   */
  setSizes?: ReadonlyMap<string, number>
}

// `flush table` keeps chains, sets, map elements and counters (only rules go), so stale objects
// of the previous state would survive it. Declaring the table (a no-op when it exists), deleting
// it and declaring it again in the same transaction replaces it atomically: the kernel swaps old
// for new at commit, no packet sees a table in between, and no other table is touched.
const replace = (t: string) => [`table ${t}`, `delete table ${t}`]

export function renderFull(ir: PolicyIR, opts: RenderOptions = {}): string {
  const out: string[] = [...replace(TABLE), `table ${TABLE} {`]
  for (const c of counterNames(ir)) out.push(`\tcounter ${c} {`, '\t}')
  // Flow logging's budget: one limit for the node, before the rules that name it.
  if (ir.flowLog) out.push(`\tlimit ${FLOWLOG_LIMIT} {`, `\t\t${limitSpec(ir.flowLog)}`, '\t}')
  // Order matters to nft: sets before the rules that use them, pod chains before the maps that
  // jump to them.
  for (const [name, s] of Object.entries(ir.sets)) {
    // One statement a line; never split the spec text: a comment may hold "; ".
    const size = sizeOf(name, s, opts)
    out.push(`\tset ${name} {`, ...setParts(s).map((x) => `\t\t${x}`), ...(size === undefined ? [] : [`\t\tsize ${size}`]))
    if (s.elements.length) out.push(`\t\telements = { ${s.elements.join(', ')} }`)
    out.push('\t}')
  }
  // A tier chain's Pass goes to the pod's next chain: targets first (Admin chains last).
  const chains = Object.entries(ir.chains)
  for (const [name, c] of [...chains.filter(([, c]) => c.tier !== 'Admin'), ...chains.filter(([, c]) => c.tier === 'Admin')]) {
    out.push(`\tchain ${name} {`, `\t\tcomment "${c.comment}"`, ...chainRules(name, c, ir.flowLog).map((r) => `\t\t${r}`), '\t}')
  }
  const maps = (names: string[], of: (m: MapName) => Record<string, string>) => {
    MAP_NAMES.forEach((m, i) => {
      const els = Object.entries(of(m)).map(([a, c]) => mapElement(a, c))
      out.push(`\tmap ${names[i]} {`, `\t\t${mapSpec(m).replace(/;$/, '')}`)
      if (els.length) out.push(`\t\telements = { ${els.join(', ')} }`)
      out.push('\t}')
    })
  }
  maps(MAP_NAMES, (m) => ir.maps[m])
  maps(MAP_NAMES.map(auditMapName), (m) => ir.auditMaps?.[m] ?? {})
  for (const m of MAP_NAMES) {
    const keys = Object.keys(ir.maps[m])
    out.push(`\tset ${isolatedSetName(m)} {`, `\t\ttype ${mapKey(m)}`)
    if (keys.length) out.push(`\t\telements = { ${keys.join(', ')} }`)
    out.push('\t}')
  }
  for (const c of midstreamChains()) out.push(`\tchain ${c.name} {`, `\t\tcomment "${c.comment}"`, ...c.rules.map((r) => `\t\t${r}`), '\t}')
  for (const b of baseChains()) {
    out.push(`\tchain ${b.name} {`, `\t\ttype filter hook ${b.hook} priority filter; policy accept;`, ...b.rules.map((r) => `\t\t${r}`), '\t}')
  }
  for (const b of auditBaseChains(ir)) {
    out.push(`\tchain ${b.name} {`, `\t\ttype filter hook ${b.hook} priority ${AUDIT_PRIORITY}; policy accept;`, ...b.rules.map((r) => `\t\t${r}`), '\t}')
  }
  out.push('}')
  // Bridge ports are only visible to the bridge family (the inet hooks see the bridge device when
  // br_netfilter hands them bridged packets), so the fail-closed guard on veth names lives there.
  out.push(...replace(BRIDGE_TABLE), `table ${BRIDGE_TABLE} {`, `\tcounter ${UNPROGRAMMED_COUNTER} {`, '\t}', `\tcounter ${SPOOF_COUNTER} {`, '\t}', '\tset veths {', '\t\ttype ifname')
  if (ir.veths.length) out.push(`\t\telements = { ${ir.veths.map((v) => `"${v}"`).join(', ')} }`)
  out.push('\t}')
  const spoofEls = antispoofElements(ir)
  for (const d of setDecls) {
    out.push(`\tset ${d.name} {`, `\t\t${d.spec}`)
    if (spoofEls[d.name]!.length) out.push(`\t\telements = { ${spoofEls[d.name]!.join(', ')} }`)
    out.push('\t}')
  }
  // Anti-spoofing applies to programmed veths whether or not the guard fails open.
  out.push('\tchain prerouting {', '\t\ttype filter hook prerouting priority filter; policy accept;', ...antispoofRules().map((r) => `\t\t${r}`), '\t}')
  for (const g of guardChains(!!opts.failOpen)) {
    out.push(`\tchain ${g.name} {`, `\t\ttype filter hook ${g.hook} priority filter; policy accept;`, ...g.rules.map((r) => `\t\t${r}`), '\t}')
  }
  out.push('}')
  return out.join('\n') + '\n'
}

/**
 * renderFull's replace as commands (lib/nft encodes them as one nf_tables batch), in the order
 * nft sends renderFull's text: per table, the table (declared, deleted, declared again: the same
 * atomic replace), its chains, counters and limit, sets and maps each with its elements, then the
 * chains' rules. The kernel ends up where renderFull's text leaves it (test/integration
 * nft-netlink-full.test.ts); the applier sends the text when lib/nft refuses a command.
 */
export function fullCommands(ir: PolicyIR, opts: RenderOptions = {}): NftCommand[] {
  const out: NftCommand[] = []
  const on = { family: TABLE_FAMILY, table: TABLE_NAME }
  type On = { family: 'inet' | 'bridge'; table: string }
  const table = (t: On) => out.push({ ...t, kind: 'table', verb: 'add' }, { ...t, kind: 'table', verb: 'delete' }, { ...t, kind: 'table', verb: 'add' })
  const elements = (t: On, set: string, key: Pick<ElementCommand, 'key' | 'interval' | 'verdict'>, els: string[]) => {
    if (els.length) out.push({ ...t, verb: 'add', set, ...key, elements: els })
  }
  // inet cinch, in renderFull's order of declarations
  table(on)
  const chains = Object.entries(ir.chains)
  const podChains = [...chains.filter(([, c]) => c.tier !== 'Admin'), ...chains.filter(([, c]) => c.tier === 'Admin')]
  const bases = [...baseChains().map((b) => ({ ...b, priority: 'filter' })), ...auditBaseChains(ir).map((b) => ({ ...b, priority: AUDIT_PRIORITY }))]
  for (const [name, c] of podChains) out.push({ ...on, kind: 'chain', verb: 'add', name, comment: c.comment })
  for (const c of midstreamChains()) out.push({ ...on, kind: 'chain', verb: 'add', name: c.name, comment: c.comment })
  for (const b of bases) out.push({ ...on, kind: 'chain', verb: 'add', name: b.name, base: { hook: b.hook, priority: b.priority } })
  for (const c of counterNames(ir)) out.push({ ...on, kind: 'counter', verb: 'add', name: c })
  if (ir.flowLog) out.push({ ...on, kind: 'limit', verb: 'add', name: FLOWLOG_LIMIT, rate: ir.flowLog.rate, burst: ir.flowLog.burst })
  for (const [name, s] of Object.entries(ir.sets)) {
    out.push({ ...on, kind: 'set', verb: 'add', name, ...setKey(s), ...sized(sizeOf(name, s, opts)), comment: s.comment })
    elements(on, name, setKey(s), s.elements)
  }
  const maps = (names: string[], of: (m: MapName) => Record<string, string>) => MAP_NAMES.forEach((m, i) => {
    const key: KeyPart[] = [mapKey(m)]
    out.push({ ...on, kind: 'set', verb: 'add', name: names[i]!, key, verdictMap: true })
    elements(on, names[i]!, { key, verdict: true }, Object.entries(of(m)).map(([a, c]) => mapElement(a, c)))
  })
  maps(MAP_NAMES, (m) => ir.maps[m])
  maps(MAP_NAMES.map(auditMapName), (m) => ir.auditMaps?.[m] ?? {})
  for (const m of MAP_NAMES) {
    out.push({ ...on, kind: 'set', verb: 'add', name: isolatedSetName(m), key: [mapKey(m)] })
    elements(on, isolatedSetName(m), { key: [mapKey(m)] }, Object.keys(ir.maps[m]))
  }
  for (const [name, c] of podChains) for (const rule of chainRules(name, c, ir.flowLog)) out.push({ ...on, kind: 'rule', verb: 'add', chain: name, rule })
  for (const c of midstreamChains()) for (const rule of c.rules) out.push({ ...on, kind: 'rule', verb: 'add', chain: c.name, rule })
  for (const b of bases) for (const rule of b.rules) out.push({ ...on, kind: 'rule', verb: 'add', chain: b.name, rule })
  // bridge cinch
  const br = { family: BRIDGE_FAMILY, table: BRIDGE_NAME }
  table(br)
  const guards = [{ name: 'prerouting', hook: 'prerouting', rules: antispoofRules() }, ...guardChains(!!opts.failOpen)]
  for (const g of guards) out.push({ ...br, kind: 'chain', verb: 'add', name: g.name, base: { hook: g.hook, priority: 'filter' } })
  for (const name of [UNPROGRAMMED_COUNTER, SPOOF_COUNTER]) out.push({ ...br, kind: 'counter', verb: 'add', name })
  out.push({ ...br, kind: 'set', verb: 'add', name: 'veths', key: ['ifname'] })
  elements(br, 'veths', { key: ['ifname'] }, ir.veths.map((v) => `"${v}"`))
  const spoofEls = antispoofElements(ir)
  for (const d of setDecls) {
    const typeOf = /^typeof (.+)$/.exec(d.spec)?.[1]
    out.push({ ...br, kind: 'set', verb: 'add', name: d.name, ...(typeOf ? { typeof: typeOf } : { key: d.key }) })
    elements(br, d.name, { key: d.key }, spoofEls[d.name]!)
  }
  for (const g of guards) for (const rule of g.rules) out.push({ ...br, kind: 'rule', verb: 'add', chain: g.name, rule })
  return out
}

/**
 * The commands that turn the kernel state of renderFull(prev) into that of renderFull(next):
 * changed set and map elements, new/changed/removed chains, new/removed sets and counters.
 * '' when nothing changed. `opts` must be the one the full render used (it does not change here).
 */
export function renderDiff(prev: PolicyIR, next: PolicyIR, opts: RenderOptions = {}): string {
  return planDiff(prev, next, opts).text
}

export interface DiffPlan {
  /**
   * renderDiff's script ('' when nothing changed). A diff's script is written when first read:
   * the applier sends the commands over netlink and reads it only when nft must run it (a policy
   * create's 600 addresses as text were ~0.2 ms of its sync, for nothing).
   */
  readonly text: string
  /** the script's line count: one per command */
  readonly lines: number
  /**
   * Every command of the script as data, in its order (the script's lines are made from them:
   * commandText), unless the diff is a full render. The applier sends these over nf_tables
   * netlink when lib/nft encodes them all, else the script.
   */
  commands?: NftCommand[]
  /** The diff is renderFull(next): the applier replaces the tables whole (fullCommands). */
  full?: true
  /**
   * Chains changed rule by rule (planDiff's `knownRules`): once the commands commit, a chain's
   * rules are `rules`, whose handles are `head`, the echoed handles of the commands at `inserted`
   * (by index), then `tail`.
   */
  ruleEdits?: { chain: string; ir: IrChain; rules: string[]; head: readonly number[]; inserted: number[]; tail: readonly number[] }[]
  /** Chains of RULE_EDIT_MIN rules or more written whole: the applier reads their handles once committed. */
  written?: { chain: string; ir: IrChain; rules: string[] }[]
}

/** The plan of a full replace: renderFull's script. */
function fullPlan(next: PolicyIR, opts: RenderOptions): DiffPlan {
  const text = renderFull(next, opts)
  return { text, lines: lineCount(text), full: true }
}

/** How many lines a script holds. */
export function lineCount(text: string): number {
  let n = 0
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++
  return n
}

/** A diff's plan: its commands, and their script written when first read. */
function commandsPlan(commands: NftCommand[]): DiffPlan {
  let text: string | undefined
  return {
    commands,
    lines: commands.length,
    get text() {
      // One line per command: commandText never writes a newline (names are checked, comments quoted).
      return (text ??= commands.map(commandText).join('\n') + '\n')
    },
  }
}

const [TABLE_FAMILY, TABLE_NAME] = TABLE.split(' ') as ['inet', string]
const [BRIDGE_FAMILY, BRIDGE_NAME] = BRIDGE_TABLE.split(' ') as ['bridge', string]
const addrKey = (f: 4 | 6): KeyPart => (f === 4 ? 'ipv4_addr' : 'ipv6_addr')
/** A set's key as element commands encode it (the same types as setParts declares). */
function setKey(s: IrSet): Pick<ElementCommand, 'key' | 'interval'> {
  if (s.kind === 'tuple') return { key: [addrKey(s.family), 'inet_proto', 'inet_service'] }
  if (s.kind === 'ports') return { key: ['inet_service'], interval: true }
  return { key: [addrKey(s.family)], ...(s.kind === 'block' ? { interval: true } : {}) }
}

const sized = (size: number | undefined): { size?: number } => (size === undefined ? {} : { size })

/** setSize, never below the size the set has in the kernel now (RenderOptions.setSizes). */
function sizeOf(name: string, s: IrSet, opts: RenderOptions): number | undefined {
  const size = setSize(s)
  const floor = opts.setSizes?.get(name)
  return size === undefined || floor === undefined ? size : Math.max(size, floor)
}

/**
 * The size each set of `ir` has in the kernel once a full replace of it is committed over sets of
 * the sizes `before`: what RenderOptions.setSizes wants next.
 */
export function setSizesAfter(ir: PolicyIR, before: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map<string, number>()
  for (const [name, s] of Object.entries(ir.sets)) {
    const size = sizeOf(name, s, { setSizes: before })
    if (size !== undefined) out.set(name, size)
  }
  return out
}

/**
 * `sizes` (setSizesAfter's) brought to what the kernel has after planDiff(prev, next) committed: a
 * set that was there keeps its size, a new one has its own, a deleted one goes. With the
 * Compiler's record delta, only the sets the change touched are visited (a change's cost, not the
 * cluster's ~445 sets).
 */
export function updateSetSizesAfterDiff(sizes: Map<string, number>, prev: PolicyIR, next: PolicyIR): void {
  if (prev.sets === next.sets) return
  const d = recordDeltaFrom(prev.sets, next.sets)
  for (const name of d ? d.removed : Object.keys(prev.sets)) if (!Object.hasOwn(next.sets, name)) sizes.delete(name)
  for (const name of d ? d.changed : Object.keys(next.sets)) {
    if (!Object.hasOwn(next.sets, name) || (Object.hasOwn(prev.sets, name) && sizes.has(name))) continue
    const size = setSize(next.sets[name]!) // what planDiff created it with
    if (size === undefined) sizes.delete(name)
    else sizes.set(name, size)
  }
}

/** renderDiff, with its element commands as data when it holds nothing else. */
export function planDiff(prev: PolicyIR, next: PolicyIR, opts: RenderOptions = {}, o: { knownRules?: (chain: string) => KnownRules | undefined } = {}): DiffPlan {
  // The limit's settings changed (flags of a restarted agent): rare, start over.
  if (JSON.stringify(prev.flowLog) !== JSON.stringify(next.flowLog)) return fullPlan(next, opts)
  const commands: NftCommand[] = []
  const on = { family: TABLE_FAMILY, table: TABLE_NAME }
  /** One command of the diff (a line of its script). */
  const command = (c: NftCommand) => {
    commands.push(c)
  }
  const element = (c: Omit<ElementCommand, 'family' | 'table'>, bridge = false) => {
    command(bridge ? { family: BRIDGE_FAMILY, table: BRIDGE_NAME, ...c } : { ...on, ...c })
  }
  // A Compiler hands out the parts equal to the previous IR's as the same objects (compiler.ts,
  // keepUnchanged): what is identical is skipped without a walk.
  const sameCounters = prev.chains === next.chains && prev.policyCounters === next.policyCounters && prev.ruleCounters === next.ruleCounters
  const counters = sameCounters ? { added: [], removed: [] } : counterChanges(prev, next)
  // 1. new counters and sets, element changes of kept sets
  for (const c of counters.added) command({ ...on, kind: 'counter', verb: 'add', name: c })
  // An object shared by both IRs is unchanged (a Compiler reuses what a change did not touch):
  // skipping those by identity keeps a diff in proportion to the change, not to the cluster.
  // With a Compiler's record delta (compile/ir.ts), only the names the change touched.
  const setDelta = recordDeltaFrom(prev.sets, next.sets), chainDelta = recordDeltaFrom(prev.chains, next.chains)
  for (const name of prev.sets === next.sets ? [] : setDelta ? setDelta.changed : Object.keys(next.sets)) {
    const old = prev.sets[name], s = next.sets[name]!
    if (old === s) continue
    if (old && setSpec(old) !== setSpec(s)) return fullPlan(next, opts) // same name, other meaning: start over
    if (!old) command({ ...on, kind: 'set', verb: 'add', name, ...setKey(s), ...sized(setSize(s)), comment: s.comment })
    // A set the Compiler derived from exactly `old` says what came and went (a set may hold
    // every pod of the cluster: comparing it whole would cost the cluster, not the change).
    const d = setDeltaFrom(old, s)
    let gone: string[], added: string[]
    if (d) ({ removed: gone, added } = d)
    else if (!old) [gone, added] = [[], s.elements]
    else {
      const before = new Set(old?.elements ?? []), after = new Set(s.elements)
      gone = [...before].filter((e) => !after.has(e))
      added = s.elements.filter((e) => !before.has(e))
    }
    if (gone.length) element({ verb: 'delete', set: name, ...setKey(s), elements: gone })
    if (added.length) element({ verb: 'add', set: name, ...setKey(s), elements: added })
  }
  // 2. new chains, and chains whose rules changed (rewritten whole: one pod direction)
  // New chains are declared before any rule is written: a tier chain's rules `goto` others.
  const rewrite: [string, IrChain, boolean, string[] | undefined][] = []
  const ruleEdits: NonNullable<DiffPlan['ruleEdits']> = []
  let echoBudget = MAX_INSERTED // over every chain of this diff: their echoes share one buffer
  for (const name of prev.chains === next.chains ? [] : chainDelta ? chainDelta.changed : Object.keys(next.chains)) {
    const old = prev.chains[name], c = next.chains[name]!
    if (old === c) continue
    if (old && old.comment !== c.comment) return fullPlan(next, opts)
    // A big chain whose rules' handles the kernel gave are known (rule-edits.ts): its rules
    // compared as text, and what differs between the ends they share deleted and inserted.
    const known = old && o.knownRules?.(name)
    let rules: string[] | undefined
    if (known && known.chain === old) {
      rules = chainRules(name, c, next.flowLog)
      const ends = sharedEnds(known.rules, rules)
      if (worthEditing(known.rules, rules, ends, echoBudget)) {
        const keptTail = known.handles.length - ends.tail
        for (let i = ends.head; i < keptTail; i++) command({ ...on, kind: 'rule', verb: 'delete', chain: name, handle: known.handles[i]! })
        // Each before the first rule of the shared tail, so they keep their order; none: appended.
        const inserted: number[] = []
        for (let i = ends.head; i < rules.length - ends.tail; i++) {
          inserted.push(commands.length)
          command(ends.tail ? { ...on, kind: 'rule', verb: 'insert', chain: name, rule: rules[i]!, position: known.handles[keptTail]!, echo: true } : { ...on, kind: 'rule', verb: 'add', chain: name, rule: rules[i]!, echo: true })
        }
        echoBudget -= inserted.length
        ruleEdits.push({ chain: name, ir: c, rules, head: known.handles.slice(0, ends.head), inserted, tail: known.handles.slice(keptTail) })
        continue
      }
    }
    if (old && sameRules(old, c)) continue
    if (!old) command({ ...on, kind: 'chain', verb: 'add', name, comment: c.comment })
    rewrite.push([name, c, !!old, rules])
  }
  const written: NonNullable<DiffPlan['written']> = []
  for (const [name, c, existed, known] of rewrite) {
    if (existed) command({ ...on, kind: 'chain', verb: 'flush', name })
    const rules = known ?? chainRules(name, c, next.flowLog)
    for (const r of rules) command({ ...on, kind: 'rule', verb: 'add', chain: name, rule: r })
    if (rules.length >= RULE_EDIT_MIN) written.push({ chain: name, ir: c, rules })
  }
  // 3. verdict map entries (enforcing, then audit)
  const none = {} as Record<string, string>
  // Each with the plain set that mirrors its addresses (the enforcing maps': rules.ts isolatedSetName).
  for (const [m, name, a, b, mirror] of [
    ...MAP_NAMES.map((m) => [m, m, prev.maps[m], next.maps[m], isolatedSetName(m)] as const),
    ...MAP_NAMES.map((m) => [m, auditMapName(m), prev.auditMaps?.[m] ?? none, next.auditMaps?.[m] ?? none, undefined] as const),
  ]) {
    if (a === b) continue
    // With the compiler's delta (a new pod: its own addresses), only those keys; sorted, as the
    // compiler builds a map's record, so the commands are those of the whole comparison.
    const d = recordDeltaFrom(a, b)
    const keys = d && [...d.changed, ...d.removed].sort()
    const gone = (keys ?? Object.keys(a)).filter((k) => Object.hasOwn(a, k) && a[k] !== b[k])
    const added = (keys ?? Object.keys(b)).filter((k) => Object.hasOwn(b, k) && a[k] !== b[k])
    const key: KeyPart[] = [mapKey(m)]
    if (gone.length) element({ verb: 'delete', set: name, key, verdict: true, elements: gone })
    if (added.length) element({ verb: 'add', set: name, key, verdict: true, elements: added.map((k) => mapElement(k, b[k]!)) })
    if (!mirror) continue
    // A key whose chain changed stays in the mirror.
    const left = gone.filter((k) => !Object.hasOwn(b, k)), came = added.filter((k) => !Object.hasOwn(a, k))
    if (left.length) element({ verb: 'delete', set: mirror, key, elements: left })
    if (came.length) element({ verb: 'add', set: mirror, key, elements: came })
  }
  // 3b. the audit pass's hooks, installed only while some pod is audited (rules.ts auditActive)
  if (prev.auditMaps !== next.auditMaps && auditActive(prev) !== auditActive(next)) {
    for (const b of auditBaseChains(next)) {
      command({ ...on, kind: 'chain', verb: 'add', name: b.name, base: { hook: b.hook, priority: AUDIT_PRIORITY } })
      for (const rule of b.rules) command({ ...on, kind: 'rule', verb: 'add', chain: b.name, rule })
    }
    for (const b of auditBaseChains(prev)) command({ ...on, kind: 'chain', verb: 'delete', name: b.name })
  }
  // 4. what is no longer referenced: chains (after their map entries), then sets and counters
  // Admin chains first: they are the only ones that jump to others (a chain in use cannot go).
  const gone = prev.chains === next.chains ? [] : (chainDelta ? chainDelta.removed : Object.keys(prev.chains)).filter((n) => !next.chains[n])
  for (const name of [...gone.filter((n) => prev.chains[n]!.tier === 'Admin'), ...gone.filter((n) => prev.chains[n]!.tier !== 'Admin')]) command({ ...on, kind: 'chain', verb: 'delete', name })
  for (const name of prev.sets === next.sets ? [] : setDelta ? setDelta.removed : Object.keys(prev.sets)) if (!next.sets[name]) command({ ...on, kind: 'set', verb: 'delete', name })
  for (const c of counters.removed) command({ ...on, kind: 'counter', verb: 'delete', name: c })
  // 5. veths the guard lets through
  const pv = new Set(prev.veths === next.veths ? [] : prev.veths), nv = new Set(prev.veths === next.veths ? [] : next.veths)
  const vGone = prev.veths === next.veths ? [] : prev.veths.filter((v) => !nv.has(v)), vAdded = prev.veths === next.veths ? [] : next.veths.filter((v) => !pv.has(v))
  const q = (xs: string[]) => xs.map((v) => `"${v}"`)
  if (vAdded.length) element({ verb: 'add', set: 'veths', key: ['ifname'], elements: q(vAdded) }, true)
  if (vGone.length) element({ verb: 'delete', set: 'veths', key: ['ifname'], elements: q(vGone) }, true)
  // 6. the addresses each veth may send from (anti-spoofing)
  if (prev.vethAddrs !== next.vethAddrs) {
    // Only the veths whose address list is not the same array in both: the compiler hands on an
    // unchanged veth's list as it was (compiler.ts), so a local pod's ADD parses its own addresses,
    // not the 110 pods' (1.3 ms of the ADD's diff at 30k, bench:policy-scale phase 10c).
    const changed = new Set<string>()
    for (const v of Object.keys(prev.vethAddrs)) if (prev.vethAddrs[v] !== (Object.hasOwn(next.vethAddrs, v) ? next.vethAddrs[v] : undefined)) changed.add(v)
    for (const v of Object.keys(next.vethAddrs)) if (!Object.hasOwn(prev.vethAddrs, v)) changed.add(v)
    const veths = [...changed].sort() // the IR's order (sorted records), as the text was before
    const a = antispoofElements(prev, veths), b = antispoofElements(next, veths)
    for (const { name, key } of setDecls) {
      const before = new Set(a[name]), after = new Set(b[name])
      const gone = a[name]!.filter((e) => !after.has(e)), added = b[name]!.filter((e) => !before.has(e))
      if (gone.length) element({ verb: 'delete', set: name, key, elements: gone }, true)
      if (added.length) element({ verb: 'add', set: name, key, elements: added }, true)
    }
  }
  // Nothing to send: the kernel holds `next` already, and what is known of it stays as it was
  // (the applier keeps diffing from `prev`).
  if (!commands.length) return { text: '', lines: 0 }
  const plan = commandsPlan(commands) // its text is a getter: not spread
  if (ruleEdits.length) plan.ruleEdits = ruleEdits
  if (written.length) plan.written = written
  return plan
}

/**
 * The plan's commands when all are element commands on sets and maps both IRs declare (most pod
 * and namespace changes), else undefined.
 */
export function elementCommandsOf(plan: DiffPlan): ElementCommand[] | undefined {
  return plan.commands?.length && plan.commands.every(isElementCommand) ? (plan.commands as ElementCommand[]) : undefined
}

function sameRules(a: IrChain, b: IrChain): boolean {
  return a.dropCounter === b.dropCounter && a.direction === b.direction && a.tier === b.tier && a.next === b.next && !!a.flowLog === !!b.flowLog && !!a.audit === !!b.audit &&
    JSON.stringify(a.rules) === JSON.stringify(b.rules)
}

/** Deletes cinch's filter tables (declared first, so that a missing table is no error). */
export function renderTeardown(): string {
  return [...replace(TABLE), ...replace(BRIDGE_TABLE)].join('\n') + '\n'
}
