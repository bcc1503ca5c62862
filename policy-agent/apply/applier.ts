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
import { NftTable, UnsupportedElements, type NftCommand } from '../../lib/nft/index.js'
import { BRIDGE_TABLE, POLICY_TABLE } from '../../lib/state/tables.js'
import { fullCommands, planDiff, renderFull, renderTeardown, type DiffPlan } from '../render/index.js'
import type { PolicyIR } from '../compile/ir.js'

export interface ApplyResult {
  mode: 'full' | 'diff' | 'none'
  /** Lines of nft text sent to the kernel (for an element batch: of the equivalent script). */
  lines: number
  /** How it was sent: one nf_tables netlink batch, or an nft script. */
  via?: 'netlink' | 'nft'
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
  runCommands?: (commands: NftCommand[], o?: { maxBytes?: number }) => Promise<void>
  /**
   * Where a failed diff is reported before the full replace (warn), and why a full replace could
   * not go over netlink (info: a command lib/nft does not encode, a send buffer it could not grow).
   */
  log?: { warn(obj: object, msg: string): void; info?(obj: object, msg: string): void }
}

export class Applier {
  #last?: PolicyIR
  readonly #run: (ruleset: string) => Promise<void>
  readonly #runCommands?: (commands: NftCommand[], o?: { maxBytes?: number }) => Promise<void>

  constructor(private readonly opts: ApplierOptions = {}) {
    const policy = new NftTable(POLICY_TABLE)
    const bridge = new NftTable(BRIDGE_TABLE)
    this.#run = opts.run ?? ((text) => policy.runText(text, { also: [bridge] }))
    this.#runCommands = opts.runCommands ?? (opts.run ? undefined : (cmds, o) => policy.runCommands(cmds, { also: [bridge], ...o }))
  }

  /** The IR the kernel holds now, if this applier has applied one. */
  get applied(): PolicyIR | undefined {
    return this.#last
  }

  async apply(ir: PolicyIR): Promise<ApplyResult> {
    const render = { failOpen: this.opts.failOpen }
    if (this.#last) {
      const plan = planDiff(this.#last, ir, render)
      if (plan.text === '') return { mode: 'none', lines: 0 }
      // A change a diff does not express (a set redefined, the flow log limit changed) is a full
      // replace, below, over netlink like the first apply.
      if (!plan.full) {
        const done = await this.#diff(ir, plan)
        if (done) return done
      }
    }
    return this.#replace(ir)
  }

  /** The diff's commands over netlink when lib/nft encodes them all, else its script; undefined when the kernel refused it. */
  async #diff(ir: PolicyIR, plan: DiffPlan): Promise<ApplyResult | undefined> {
    let via: 'netlink' | 'nft' = plan.commands && this.#runCommands ? 'netlink' : 'nft'
    try {
      if (via === 'netlink') {
        try {
          await this.#runCommands!(plan.commands!)
        } catch (err) {
          // Refused before anything was sent (an interval set, a rule the encoder does not
          // take, a batch too large): nft writes the same commands.
          if (!(err instanceof UnsupportedElements)) throw err
          via = 'nft'
        }
      }
      if (via === 'nft') await this.#run(plan.text)
      this.#last = ir
      return { mode: 'diff', lines: countLines(plan.text), via }
    } catch (err) {
      // The kernel no longer holds what we think (someone edited our table): replace it whole.
      this.opts.log?.warn({ err, lines: countLines(plan.text), via }, 'diff apply failed; replacing the tables whole')
      this.#last = undefined
      return undefined
    }
  }

  /** Replaces cinch's tables whole, in one transaction. */
  async #replace(ir: PolicyIR): Promise<ApplyResult> {
    const render = { failOpen: this.opts.failOpen }
    // Until one of the two ways is known to have committed, the kernel may hold either IR: a batch
    // whose answer never came (a timeout, a socket error) may have been committed. Should the text
    // fail too, the next apply must replace again, not diff from an IR the kernel may not hold.
    this.#last = undefined
    if (this.#runCommands) {
      const commands = fullCommands(ir, render)
      try {
        await this.#runCommands(commands, { maxBytes: FULL_BATCH_BYTES })
        this.#last = ir
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
    await this.#run(full)
    this.#last = ir
    return { mode: 'full', lines: countLines(full), via: 'nft' }
  }

  /** Removes cinch's tables (`cinch agent --cleanup`). */
  async teardown(): Promise<void> {
    await this.#run(renderTeardown())
    this.#last = undefined
  }
}

/** A full replace's batch at 30k pods / 30k policies is some megabytes; this bounds what one takes. */
const FULL_BATCH_BYTES = 256 * 1024 * 1024

function countLines(text: string): number {
  let n = 0
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++
  return n
}
