// NftTable: one nftables table that cinch owns, in the manner of knftables' Interface. Everything
// cinch writes goes through one of these, so the table's family and name come from here and no
// script reaches another table (a knftables Interface is bound to one table the same way).
//
//   const nat = new NftTable({ family: 'inet', name: 'cinch-nat' })
//   await nat.run(nat.tx().add({ kind: 'table' }).add({ kind: 'set', name: 's', type: ['ipv4_addr'] }))
//   const els = await nat.listElements('s')
import { defaultBackend, type NftBackend, type NftRequest } from './backend.js'
import { NftError, isNotFound } from './errors.js'
import { isDocument, parseElements, parseListing, type ListedChain, type ListedElement, type NftDocument, type TableListing } from './json.js'
import { checkFamily, checkName, tablesNamed, type NftFamily } from './syntax.js'
import { Transaction } from './transaction.js'
import type { NftCommand } from './commands.js'
import { elementBatch, runElementBatch, socketFor, type BatchCommitted } from './elements-netlink.js'
import { commitNoted, noteCommit, notingCommits } from './generation.js'
import { chainRuleHandles } from './rule-handles.js'

export interface NftTableOptions {
  family: NftFamily
  name: string
  /** Default: defaultBackend() (libnftables, else the nft binary). */
  backend?: NftBackend
  /** A network namespace file: the table lives there instead of in the caller's namespace. */
  netns?: string
}

export class NftTable {
  readonly family: NftFamily
  readonly name: string
  readonly netns?: string
  readonly #backend?: NftBackend

  constructor(o: NftTableOptions) {
    this.family = checkFamily(o.family)
    this.name = checkName('table', o.name)
    this.netns = o.netns
    this.#backend = o.backend
  }

  /** `inet cinch`: how nft text names this table. */
  get ref(): string {
    return `${this.family} ${this.name}`
  }

  get backend(): NftBackend {
    return this.#backend ?? defaultBackend()
  }

  /** A new, empty transaction on this table. */
  tx(): Transaction {
    return new Transaction(this.family, this.name)
  }

  /** Commits `tx` as one transaction: all of it, or (on an NftError) nothing. */
  async run(tx: Transaction): Promise<void> {
    const text = this.#own(tx)
    await this.#noted([this], text)
  }

  /** `nft -c`: would `tx` commit? Throws the NftError the commit would; changes nothing. */
  async check(tx: Transaction): Promise<void> {
    await this.#exec('check', this.#own(tx), { check: true })
  }

  /**
   * Runs a generated script (the policy renderer's full and diff rulesets) as one transaction.
   * Every top-level statement must name this table or one of `also` (the agent replaces `inet
   * cinch` and `bridge cinch` in one commit); `flush ruleset`, `include` and the like throw.
   */
  async runText(text: string, opts: { also?: readonly NftTable[]; check?: boolean } = {}): Promise<void> {
    const owned = [this, ...(opts.also ?? [])]
    for (const o of owned) {
      if (o.netns !== this.netns || o.backend !== this.backend) throw new Error(`nft: table ${o.ref} is in another namespace or backend than ${this.ref}`)
    }
    for (const t of tablesNamed(text)) {
      if (!owned.some((o) => o.family === t.family && o.name === t.name)) throw new Error(`nft: the script names table ${t.family} ${t.name}; it may only name ${owned.map((o) => o.ref).join(', ')}`)
    }
    if (text.trim() === '') return
    if (opts.check) await this.#exec('check', text, { check: true })
    else await this.#noted(owned, text)
  }

  /**
   * Commands of a diff (elements of existing sets and maps; chains, rules, plain sets and counters:
   * commands.ts) on this table (or one of `also`), committed as one transaction over nf_tables
   * netlink, without nft and its cache (elements-netlink.ts). Throws UnsupportedElements before
   * sending anything when a command needs nft (an interval set, a rule outside the encoder's
   * grammar), and an NftError (isNotFound, isExists) when the kernel refuses.
   * `maxBytes`: the batch may be that large (a full replace: megabytes; the socket's send buffer
   * is grown to take it in one datagram); by default a diff's bound (elements-netlink.ts).
   * Resolves with the commit's generation id (generation.ts), when the kernel sent it, and
   * `tableCreated` when the first command's table was missing (the batch's probe made it).
   */
  async runCommands(cmds: readonly NftCommand[], opts: { also?: readonly NftTable[]; maxBytes?: number } = {}): Promise<BatchCommitted> {
    const owned = [this, ...(opts.also ?? [])]
    for (const o of owned) if (o.netns !== this.netns) throw new Error(`nft: table ${o.ref} is in another namespace than ${this.ref}`)
    for (const c of cmds) {
      if (!owned.some((o) => o.family === c.family && o.name === c.table)) throw new Error(`nft: a command names table ${c.family} ${c.table}; it may only name ${owned.map((o) => o.ref).join(', ')}`)
    }
    const r = await runElementBatch(elementBatch([...cmds], { maxBytes: opts.maxBytes }), { netns: this.netns, what: `nft run on ${this.ref}` })
    if (r.genId !== undefined && !this.netns) noteCommit(r.genId, owned.map((o) => o.ref))
    return r
  }

  /** The handles of one chain's rules, in order, and the generation read (rule-handles.ts). */
  ruleHandles(chain: string): Promise<{ handles: number[]; gen16?: number }> {
    return chainRuleHandles(socketFor(this.netns), this.family, this.name, chain)
  }

  /** The whole table (`nft -j list table`), typed; null when the table does not exist. */
  async list(): Promise<TableListing | null> {
    const doc = await this.listJson()
    return doc && parseListing(doc, this.family, this.name)
  }

  /** `nft -j list table` as a checked document; null when the table does not exist. */
  async listJson(): Promise<NftDocument | null> {
    return nullIfNotFound(this.#listDoc(`list table ${this.ref}`))
  }

  /** The chains (with their base-chain properties), not their rules. */
  async listChains(): Promise<ListedChain[]> {
    return (await this.list())?.chains ?? []
  }

  /** The elements of set or map `name`. Throws an NftError (isNotFound) when it does not exist. */
  async listElements(name: string): Promise<ListedElement[]> {
    checkName('set', name)
    let doc: NftDocument
    try {
      doc = await this.#listDoc(`list set ${this.ref} ${name}`)
    } catch (err) {
      // nft has no "list set or map": a map is not found as a set.
      if (!isNotFound(err)) throw err
      doc = await this.#listDoc(`list map ${this.ref} ${name}`)
    }
    return parseElements(doc, this.family, this.name, name) ?? []
  }

  /** `nft -j list counters table`, parsed; [] when the table does not exist. */
  async listCounters(): Promise<TableListing['counters']> {
    const doc = await nullIfNotFound(this.#listDoc(`list counters table ${this.ref}`))
    return doc ? parseListing(doc, this.family, this.name).counters : []
  }

  async #listDoc(text: string): Promise<NftDocument> {
    const stdout = await this.#exec('list', text + '\n', { json: true })
    const doc: unknown = JSON.parse(stdout)
    if (!isDocument(doc)) throw new Error(`nft ${text}: output is not an nft JSON document`)
    return doc
  }

  #own(tx: Transaction): string {
    if (tx.table !== this.ref) throw new Error(`nft: a transaction on ${tx.table} run on table ${this.ref}`)
    return tx.render()
  }

  /**
   * A commit in the process's own namespace is noted with its generation when the process notes
   * its commits (generation.ts: the agent, so that its applier can step over its other tables' commits).
   */
  #noted(tables: readonly NftTable[], text: string): Promise<string> {
    if (this.netns || !notingCommits() || text === '') return this.#exec('run', text, {})
    return commitNoted(tables.map((t) => t.ref), text, (marked) => this.#exec('run', marked, {}))
  }

  async #exec(what: string, text: string, req: Omit<NftRequest, 'text' | 'netns'>): Promise<string> {
    if (text === '') return ''
    const r = await this.backend.run({ ...req, text, netns: this.netns })
    if (!r.ok) throw new NftError(`nft ${what} on ${this.ref}`, r.stderr, text)
    return r.stdout
  }
}

async function nullIfNotFound<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p
  } catch (err) {
    if (isNotFound(err)) return null
    throw err
  }
}
