// Puts a PolicyIR into the kernel. The first apply after start is a full replace of cinch's tables
// in ONE nft transaction (renderFull), so rules left by a previous agent stay in force until the
// instant the new ones replace them; later applies carry only the difference to the last IR the
// kernel accepted (renderDiff). A failed diff is logged with nft's error, then retried as a full
// replace. The committed IR is kept in memory: no sync reads the kernel back (issue 14).
import { NftTable } from '../../lib/nft/index.js'
import { BRIDGE_TABLE, POLICY_TABLE } from '../../lib/state/tables.js'
import { renderDiff, renderFull, renderTeardown } from '../render/index.js'
import type { PolicyIR } from '../compile/ir.js'

export interface ApplyResult {
  mode: 'full' | 'diff' | 'none'
  /** Lines of nft text sent to the kernel. */
  lines: number
}

export interface ApplierOptions {
  failOpen?: boolean
  /** Runs the ruleset; by default on the owned tables `inet cinch` + `bridge cinch` (lib/state/tables). */
  run?: (ruleset: string) => Promise<void>
  /** Where a failed diff is reported before the full replace. */
  log?: { warn(obj: object, msg: string): void }
}

export class Applier {
  #last?: PolicyIR
  readonly #run: (ruleset: string) => Promise<void>

  constructor(private readonly opts: ApplierOptions = {}) {
    const policy = new NftTable(POLICY_TABLE)
    const bridge = new NftTable(BRIDGE_TABLE)
    this.#run = opts.run ?? ((text) => policy.runText(text, { also: [bridge] }))
  }

  /** The IR the kernel holds now, if this applier has applied one. */
  get applied(): PolicyIR | undefined {
    return this.#last
  }

  async apply(ir: PolicyIR): Promise<ApplyResult> {
    const render = { failOpen: this.opts.failOpen }
    if (this.#last) {
      const diff = renderDiff(this.#last, ir, render)
      if (diff === '') return { mode: 'none', lines: 0 }
      try {
        await this.#run(diff)
        this.#last = ir
        return { mode: 'diff', lines: countLines(diff) }
      } catch (err) {
        // The kernel no longer holds what we think (someone edited our table): replace it whole.
        this.opts.log?.warn({ err, lines: countLines(diff) }, 'diff apply failed; replacing the tables whole')
        this.#last = undefined
      }
    }
    const full = renderFull(ir, render)
    await this.#run(full)
    this.#last = ir
    return { mode: 'full', lines: countLines(full) }
  }

  /** Removes cinch's tables (`cinch agent --cleanup`). */
  async teardown(): Promise<void> {
    await this.#run(renderTeardown())
    this.#last = undefined
  }
}

function countLines(text: string): number {
  let n = 0
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++
  return n
}
