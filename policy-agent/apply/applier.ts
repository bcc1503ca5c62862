// Puts a PolicyIR into the kernel. The first apply after start is a full replace of cinch's tables
// in ONE transaction, so rules left by a previous agent stay in force until the instant the new
// ones replace them: one nf_tables netlink batch of megabytes (fullCommands, lib/nft: no nft
// parsing 1.8 MB of text at 30k policies), or renderFull's text through nft when lib/nft refuses
// a command of it, or the kernel refuses the batch. Later applies carry only the difference to the last IR the
// kernel accepted (renderDiff). A diff that only adds and deletes elements of existing sets and
// maps (most pod and namespace changes) goes to nf_tables as one netlink batch, without nft and
// the cache it fetches first (lib/nft/elements-netlink.ts); any other diff, or elements that path
// cannot encode (interval sets), goes through nft. A failed diff, either way, is logged with the
// kernel's error, then retried as a full replace. The committed IR is kept in memory: no sync
// reads the kernel back (issue 14).
//
// After a restart, the first apply may instead ADOPT the tables the last agent committed (adopt.ts):
// nothing is sent when the kernel provably holds the IR. For that proof every commit's nf_tables
// generation id is followed (lib/nft/generation.ts): known exactly for a netlink batch (the kernel
// echoes it), bracketed by two reads for an nft run, and kept only while each commit of ours
// follows the one before with nobody else's in between (`committed`).
//
// Big chains (render/rule-edits.ts) are changed rule by rule: the applier keeps the handles of
// their rules (read once after a replace, an adoption or a diff writes a chain whole, then kept up
// to date from the kernel's echo of each inserted rule), on the ground every diff stands on: nobody else writes `inet
// cinch`. Other tables' commits (kube-proxy's, every few seconds on a busy node) change no handle
// of ours: a handle names one rule for the table's life. It forgets them at any replace (the table
// is made anew and numbers its rules from 1), any nft run and any failure. A handle that is gone
// (someone deleted our rule) makes the kernel refuse the diff, and the tables are replaced whole.
import { NftTable, UnsupportedElements, isSetFull, type NftCommand } from '../../lib/nft/index.js'
import { nextGeneration, ownCommit, readGeneration } from '../../lib/nft/generation.js'
import { BRIDGE_TABLE, POLICY_TABLE } from '../../lib/state/tables.js'
import { fullCommands, lineCount, planDiff, renderFull, renderTeardown, setSizesAfter, updateSetSizesAfterDiff, type DiffPlan } from '../render/index.js'
import type { IrChain, PolicyIR } from '../compile/ir.js'
import type { Proof } from './adopt.js'
import { RULE_EDIT_MIN, type KnownRules } from '../render/rule-edits.js'
import { chainRules } from '../render/rules.js'

export interface ApplyResult {
  /** adopted: the first apply after a restart found its IR in the kernel and sent nothing (adopt.ts) */
  mode: 'full' | 'diff' | 'none' | 'adopted'
  /** Lines of nft text sent to the kernel (for an element batch: of the equivalent script). */
  lines: number
  /** How it was sent: one nf_tables netlink batch, or an nft script. */
  via?: 'netlink' | 'nft'
  /** A netlink batch's round trip, from its send to the kernel's answer (the rest of the apply is ours). */
  kernelMs?: number
}

export interface ApplierOptions {
  failOpen?: boolean
  /** Runs the ruleset; by default on the owned tables `inet cinch` + `bridge cinch` (lib/state/tables). */
  run?: (ruleset: string) => Promise<void>
  /**
   * Commits a diff's commands over netlink (NftTable.runCommands); by default on the same tables,
   * unless `run` is given alone (then every diff goes to `run`). Throws UnsupportedElements,
   * having sent nothing, for a diff it cannot encode: `run` gets its text.
   */
  runCommands?: (commands: NftCommand[], o?: { maxBytes?: number }) => Promise<{ genId?: number; tableCreated?: boolean; kernelMs?: number; handles?: Map<number, number> } | void>
  /**
   * The handles of a chain's rules in `inet cinch`, in order, and the low 16 bits of the generation
   * read (lib/nft/rule-handles.ts); by default when `runCommands` is. Without it every chain is
   * rewritten whole on a change.
   */
  ruleHandles?: (chain: string) => Promise<{ handles: number[]; gen16?: number }>
  /**
   * Where a failed diff is reported before the full replace (warn), and why a full replace could
   * not go over netlink (info: a command lib/nft does not encode, a send buffer it could not grow).
   */
  log?: { warn(obj: object, msg: string): void; info?(obj: object, msg: string): void }
  /**
   * The namespace's nf_tables generation id now (lib/nft/generation.ts), read around an nft run to
   * learn its commit's id; by default readGeneration() when `run` and `runCommands` are the
   * defaults, else none (an nft run's generation is then unknown).
   */
  generation?: () => Promise<number>
  /**
   * For the first apply only: whether the kernel already holds exactly that IR (adopt.ts
   * proveCommitted); when it does, the apply sends nothing. Its reason is logged (info) otherwise.
   */
  prove?: (ir: PolicyIR) => Promise<Proof>
}

export class Applier {
  #last?: PolicyIR
  /**
   * The generation id of the commit that left #last in the kernel, while it is known that nothing
   * but this applier (and this process's noted commits of other tables) committed since the last
   * full replace or adoption; undefined otherwise.
   */
  #gen?: number
  #prove?: (ir: PolicyIR) => Promise<Proof>
  /** The size each set of #last has in the kernel, as far as this applier made them (render's setSizes). */
  #sizes = new Map<string, number>()
  readonly #run: (ruleset: string) => Promise<void>
  readonly #runCommands?: (commands: NftCommand[], o?: { maxBytes?: number }) => Promise<{ genId?: number; tableCreated?: boolean; kernelMs?: number; handles?: Map<number, number> } | void>
  readonly #generation?: () => Promise<number>
  readonly #ruleHandles?: (chain: string) => Promise<{ handles: number[]; gen16?: number }>
  /** The big chains of #last whose rules' handles are known, by name (until a replace, an nft run or a failure). */
  #known = new Map<string, KnownRules>()

  constructor(private readonly opts: ApplierOptions = {}) {
    const policy = new NftTable(POLICY_TABLE)
    const bridge = new NftTable(BRIDGE_TABLE)
    this.#run = opts.run ?? ((text) => policy.runText(text, { also: [bridge] }))
    this.#runCommands = opts.runCommands ?? (opts.run ? undefined : (cmds, o) => policy.runCommands(cmds, { also: [bridge], ...o }))
    this.#generation = opts.generation ?? (opts.run || opts.runCommands ? undefined : () => readGeneration())
    this.#ruleHandles = opts.ruleHandles ?? (opts.run || opts.runCommands ? undefined : (chain) => policy.ruleHandles(chain))
    this.#prove = opts.prove
  }

  /** The IR the kernel holds now, if this applier has applied one. */
  get applied(): PolicyIR | undefined {
    return this.#last
  }

  /**
   * The IR the kernel holds and the generation id of the commit that left it there, when that is
   * known exactly (what the commit record of a graceful stop holds, adopt.ts); undefined when the
   * last apply failed, went through nft without a clean bracket, or followed someone else's commit.
   */
  get committed(): { ir: PolicyIR; genId: number } | undefined {
    if (!this.#last || this.#gen === undefined) return undefined
    // The agent's later commits of its other tables (noted, generation.ts) left ours as they were.
    let g = this.#gen
    for (let n = nextGeneration(g); isOthers(ownCommit(n)); n = nextGeneration(n)) g = n
    return { ir: this.#last, genId: g }
  }

  async apply(ir: PolicyIR): Promise<ApplyResult> {
    const render = { failOpen: this.opts.failOpen }
    if (this.#prove) {
      const adopted = await this.#adopt(ir)
      if (adopted) return adopted
    }
    if (this.#last) {
      const known = this.#known.size ? (n: string) => this.#known.get(n) : undefined
      const plan = planDiff(this.#last, ir, render, { knownRules: known })
      if (plan.lines === 0) {
        // What the kernel holds is `ir` as much as the last one (they render alike; they differ in
        // what only reports read: a closed chain's policies, its reason). It becomes the last IR:
        // the compiler's next one is derived from it, so the next diff is planned from its deltas
        // (counters.ts had already moved its counts to it) rather than by walking both IRs whole,
        // ~50 ms with a tenant's 26,000 policy counters on the node; and a stop records its digest,
        // which the restart's compile can then prove (adopt.ts).
        this.#last = ir
        return { mode: 'none', lines: 0 }
      }
      // A change a diff does not express (a set redefined, the flow log limit changed) is a full
      // replace, below, over netlink like the first apply.
      if (!plan.full) {
        const done = await this.#diff(ir, plan)
        if (done) return done
      }
    }
    return this.#replace(ir)
  }

  /** The first apply only: adopts the kernel's tables when proveCommitted says they hold `ir`. */
  async #adopt(ir: PolicyIR): Promise<ApplyResult | undefined> {
    const prove = this.#prove!
    this.#prove = undefined
    let proof: Proof
    try {
      proof = await prove(ir)
    } catch (err) {
      proof = { holds: false, reason: `proof failed: ${(err as Error).message}` }
    }
    if (!proof.holds) {
      // Operators must be able to see why a restart replaced the tables: one line, the check that failed.
      this.opts.log?.info?.({ reason: proof.reason }, 'restart: the tables are not adopted; replacing them whole')
      return undefined
    }
    this.#last = ir
    this.#gen = proof.genId
    // The last agent's sizes are not known: the next replace sizes each set from its count.
    this.#sizes = new Map()
    this.opts.log?.info?.({ genId: proof.genId }, 'restart: the kernel holds the last agent\'s commit of these rules; adopted, nothing sent')
    // The big chains' handles, so that their first change after the restart is rule by rule too.
    await this.#learn(bigChains(ir), proof.genId)
    return { mode: 'adopted', lines: 0 }
  }

  /** The diff's commands over netlink when lib/nft encodes them all, else its script; undefined when the kernel refused it. */
  async #diff(ir: PolicyIR, plan: DiffPlan): Promise<ApplyResult | undefined> {
    let via: 'netlink' | 'nft' = plan.commands && this.#runCommands ? 'netlink' : 'nft'
    const prev = this.#gen
    // Until this commit's id is known, the kernel's generation is not ours to vouch for.
    this.#gen = undefined
    try {
      let genId: number | undefined, kernelMs: number | undefined, handles: Map<number, number> | undefined
      if (via === 'netlink') {
        try {
          // As large as a replace may be: a big chain written whole (thousands of rules, beyond
          // what a socket takes as it is) goes over netlink too, not through nft's parser.
          const r = await this.#runCommands!(plan.commands!, { maxBytes: FULL_BATCH_BYTES })
          genId = r?.genId
          kernelMs = r?.kernelMs
          handles = r?.handles
          // The batch's probe made its first command's table: someone deleted it, and the diff
          // (new chains, rules, sets) went into an empty table. The kernel does not hold the last
          // IR: replace. (A diff that also touched what was there fails instead: ENOENT.)
          if (r?.tableCreated) { const c = plan.commands![0]!; throw new Error(`table ${c.family} ${c.table} was missing: the diff made it anew`) }
        } catch (err) {
          // Refused before anything was sent (an interval set, a rule the encoder does not
          // take, a batch too large): nft writes the same commands.
          if (!(err instanceof UnsupportedElements)) throw err
          via = 'nft'
        }
      }
      if (via === 'nft') genId = await this.#bracket(() => this.#run(plan.text))
      updateSetSizesAfterDiff(this.#sizes, this.#last!, ir)
      this.#last = ir
      // A diff builds on the tables as the last commit left them: its id must follow that one's,
      // or someone else committed in between and the kernel may hold their change too.
      if (genId !== undefined && prev !== undefined && follows(prev, genId)) this.#gen = genId
      if (via === 'netlink') await this.#remember(plan, handles, ir, genId)
      else this.#known.clear()
      return { mode: 'diff', lines: plan.lines, via, ...(kernelMs !== undefined ? { kernelMs } : {}) }
    } catch (err) {
      // A set reached the size it was created with (render/rules.ts setSize): expected as sets
      // grow, and the replace sizes every set anew. Otherwise the kernel no longer holds what we
      // think (someone edited our table): replace it whole, and say so louder.
      if (isSetFull(err)) this.opts.log?.info?.({ reason: (err as Error).message, lines: plan.lines, via }, 'a set outgrew the size it was created with; replacing the tables whole')
      else this.opts.log?.warn({ err, lines: plan.lines, via }, 'diff apply failed; replacing the tables whole')
      this.#last = undefined
      this.#known.clear()
      return undefined
    }
  }

  /**
   * Runs an nft script between two reads of the generation id: when they differ by exactly one,
   * the script's commit was the only one between them, and its id is the second read. libnftables
   * does not hand out the id its commit got.
   */
  async #bracket(run: () => Promise<void>): Promise<number | undefined> {
    const read = this.#generation
    const before = read ? await read().catch(() => undefined) : undefined
    await run()
    if (before === undefined) return undefined
    const after = await read!().catch(() => undefined)
    return after !== undefined && after === nextGeneration(before) ? after : undefined
  }

  /** Replaces cinch's tables whole, in one transaction. */
  async #replace(ir: PolicyIR): Promise<ApplyResult> {
    // Each set at least as large as it is now: a set that shrank and grows back does not outgrow
    // its size again (render/index.ts RenderOptions.setSizes).
    const render = { failOpen: this.opts.failOpen, setSizes: this.#sizes }
    // Until one of the two ways is known to have committed, the kernel may hold either IR: a batch
    // whose answer never came (a timeout, a socket error) may have been committed. Should the text
    // fail too, the next apply must replace again, not diff from an IR the kernel may not hold.
    this.#last = undefined
    this.#gen = undefined
    // A replace makes the table anew: the kernel numbers its rules from 1 again.
    this.#known.clear()
    if (this.#runCommands) {
      const commands = fullCommands(ir, render)
      try {
        // A replace holds exactly `ir` whatever was there before: its own id is all it needs.
        this.#gen = (await this.#runCommands(commands, { maxBytes: FULL_BATCH_BYTES }))?.genId
        this.#last = ir
        this.#sizes = setSizesAfter(ir, this.#sizes)
        // The big chains' handles (the kernel numbered the new table's rules anew).
        await this.#learn(bigChains(ir), this.#gen)
        return { mode: 'full', lines: commands.length, via: 'netlink' }
      } catch (err) {
        // Refused before sending (a command lib/nft does not encode, a send buffer it cannot
        // grow): nft's text. Refused by the kernel: the text once more, which nft encodes itself
        // (if our encoding was the cause, the text commits; if the kernel's state was, it fails too).
        if (!(err instanceof UnsupportedElements)) this.opts.log?.warn({ err, commands: commands.length }, 'full replace over netlink failed; sending it through nft')
        // Not a failure, but the slow way (nft parses megabytes): said once per replace, with why,
        // or a refused shape (or a node's send buffer limit) would cost every restart unseen.
        else this.opts.log?.info?.({ reason: err.message, commands: commands.length }, 'full replace not sent over netlink; sending it through nft')
      }
    }
    const full = renderFull(ir, render)
    this.#gen = await this.#bracket(() => this.#run(full))
    this.#last = ir
    this.#sizes = setSizesAfter(ir, this.#sizes)
    return { mode: 'full', lines: lineCount(full), via: 'nft' }
  }

  /**
   * What is known of the big chains' rules once `plan` committed (as commit `genId`): a chain
   * changed rule by rule has the echoed handles of its inserted rules between those it kept; one
   * written whole has its handles read (a dump of that chain: once, ~10 ms at 13,000 rules); any
   * other chain known before and changed or gone is forgotten.
   */
  async #remember(plan: DiffPlan, handles: Map<number, number> | undefined, next: PolicyIR, genId: number | undefined): Promise<void> {
    const known = this.#known
    for (const [name, k] of known) if (next.chains[name] !== k.chain) known.delete(name)
    for (const e of plan.ruleEdits ?? []) {
      const echoed = e.inserted.map((i) => handles?.get(i))
      if (echoed.every((h) => h !== undefined)) known.set(e.chain, { chain: e.ir, rules: e.rules, handles: [...e.head, ...(echoed as number[]), ...e.tail] })
    }
    await this.#learn(plan.written ?? [], genId)
  }

  /**
   * Reads the handles of big chains the kernel holds as commit `genId` left them (written whole by
   * a diff or a replace, or adopted): a dump of each chain, ~10 ms at 13,000 rules, once.
   */
  async #learn(chains: readonly { chain: string; ir: IrChain; rules: string[] }[], genId: number | undefined): Promise<void> {
    if (!this.#ruleHandles || genId === undefined) return
    for (const w of chains) {
      try {
        const r = await this.#ruleHandles(w.chain)
        // The chain as this commit left it: as many rules, read at this commit's generation (a
        // commit of any table in between: not learnt now, the chain is rewritten once more).
        if (r.handles.length === w.rules.length && r.gen16 === (genId & 0xffff)) this.#known.set(w.chain, { chain: w.ir, rules: w.rules, handles: r.handles })
        else this.opts.log?.info?.({ chain: w.chain, rules: w.rules.length, read: r.handles.length }, 'rule handles not as committed; the chain is rewritten whole at its next change')
      } catch (err) {
        this.opts.log?.info?.({ chain: w.chain, err: (err as Error).message }, 'rule handles not read; the chain is rewritten whole at its next change')
      }
    }
  }

  /** Removes cinch's tables (`cinch agent --cleanup`). */
  async teardown(): Promise<void> {
    this.#gen = undefined
    this.#sizes = new Map()
    this.#known.clear()
    await this.#run(renderTeardown())
    this.#last = undefined
  }
}

/**
 * The chains of `ir` that render to RULE_EDIT_MIN rules or more, with their rules. Only chains
 * that can reach it are rendered: a pod chain renders at most two rules per IR rule (a flow log
 * rule beside it) and its end (a log and the drop).
 */
function bigChains(ir: PolicyIR): { chain: string; ir: IrChain; rules: string[] }[] {
  const out: { chain: string; ir: IrChain; rules: string[] }[] = []
  for (const [chain, c] of Object.entries(ir.chains)) {
    if (2 * c.rules.length + 2 < RULE_EDIT_MIN) continue
    const rules = chainRules(chain, c, ir.flowLog)
    if (rules.length >= RULE_EDIT_MIN) out.push({ chain, ir: c, rules })
  }
  return out
}

const OURS = new Set([POLICY_TABLE, BRIDGE_TABLE].map((t) => `${t.family} ${t.name}`))

/** A noted commit of this process that touched none of the applier's tables (the masquerade table's). */
const isOthers = (tables: readonly string[] | undefined): boolean => !!tables && !tables.some((t) => OURS.has(t))

/**
 * Whether commit `to` came right after `from`, or after nothing but this process's noted commits of
 * other tables (generation.ts ownCommit): then the kernel held what `from` left when `to` committed.
 */
function follows(from: number, to: number): boolean {
  let g = nextGeneration(from)
  for (let i = 0; g !== to; i++, g = nextGeneration(g)) if (i >= 256 || !isOthers(ownCommit(g))) return false
  return true
}

/** A full replace's batch at 30k pods / 30k policies is some megabytes; this bounds what one takes. */
const FULL_BATCH_BYTES = 256 * 1024 * 1024

