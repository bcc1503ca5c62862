// The applier: a diff that the kernel refuses is logged with nft's error and replaced by a full
// apply; every script it renders names only the owned tables (the guard NftTable.runText applies).
import { describe, expect, it } from 'vitest'
import { webDbIr } from '../../test/kit/policy-state.js'
import { renderDiff, renderFull, renderTeardown } from '../render/index.js'
import { tablesNamed } from '../../lib/nft/syntax.js'
import { NftError, UnsupportedElements, type NftCommand } from '../../lib/nft/index.js'
import { Applier } from './applier.js'

const ir = webDbIr

describe('Applier', () => {
  it('logs why a diff failed, then replaces the tables whole', async () => {
    const runs: string[] = []
    const warnings: { obj: object; msg: string }[] = []
    const refused = new NftError('nft run on inet cinch', '/dev/stdin:1:1-3: Error: Could not process rule: No such file or directory\n', 'delete element inet cinch x { 1 }\n')
    const applier = new Applier({
      run: async (text) => {
        runs.push(text)
        if (runs.length === 2) throw refused // the diff
      },
      log: { warn: (obj, msg) => warnings.push({ obj, msg }) },
    })
    expect(await applier.apply(ir('web'))).toMatchObject({ mode: 'full' })
    expect(await applier.apply(ir('client'))).toMatchObject({ mode: 'full' })
    expect(runs).toHaveLength(3)
    expect(warnings).toEqual([{ obj: { err: refused, lines: expect.any(Number), via: 'nft' }, msg: 'diff apply failed; replacing the tables whole' }])
  })

  // Someone deleted inet cinch; the batch's echo probe made it anew and a diff of new objects
  // committed into the empty table (NftTable.runCommands says so: tableCreated). The kernel does
  // not hold the last IR: the same apply replaces the tables whole.
  it('replaces the tables whole when a diff had to make its table anew', async () => {
    const batches: NftCommand[][] = []
    const warnings: string[] = []
    const applier = new Applier({
      run: async () => {},
      runCommands: async (commands) => {
        batches.push(commands)
        return batches.length === 2 ? { genId: 7, tableCreated: true } : { genId: batches.length === 1 ? 5 : 8 }
      },
      log: { warn: (_obj, msg) => warnings.push(msg) },
    })
    expect(await applier.apply(ir('web'))).toMatchObject({ mode: 'full', via: 'netlink' })
    expect(await applier.apply(ir('client'))).toMatchObject({ mode: 'full', via: 'netlink' })
    expect(batches).toHaveLength(3)
    expect(batches[2]!.some((c) => 'kind' in c && c.kind === 'table' && c.verb === 'delete')).toBe(true)
    expect(warnings).toEqual(['diff apply failed; replacing the tables whole'])
  })

  it('sends the first apply as one netlink batch of the full replace, and its text when lib/nft refuses it', async () => {
    const runs: string[] = [], batches: { commands: NftCommand[]; maxBytes?: number }[] = []
    let refuse: Error | undefined
    const warnings: string[] = []
    const applier = new Applier({
      run: async (text) => void runs.push(text),
      runCommands: async (commands, o) => {
        batches.push({ commands, maxBytes: o?.maxBytes })
        if (refuse) throw refuse
      },
      log: { warn: (_obj, msg) => warnings.push(msg) },
    })
    expect(await applier.apply(ir('web'))).toMatchObject({ mode: 'full', via: 'netlink' })
    expect(batches[0]!.commands.slice(0, 3)).toEqual([
      { family: 'inet', table: 'cinch', kind: 'table', verb: 'add' }, { family: 'inet', table: 'cinch', kind: 'table', verb: 'delete' }, { family: 'inet', table: 'cinch', kind: 'table', verb: 'add' },
    ])
    expect(batches[0]!.maxBytes).toBeGreaterThan(16 * 1024 * 1024)
    expect(runs).toEqual([])
    // Not encoded (nothing sent): renderFull's text, no warning, and why at info level.
    const infos: object[] = []
    const fresh = () => new Applier({ run: async (text) => void runs.push(text), runCommands: async () => { if (refuse) throw refuse }, log: { warn: (_o, msg) => warnings.push(msg), info: (o) => void infos.push(o) } })
    refuse = new UnsupportedElements('a rule outside the grammar')
    expect(await fresh().apply(ir('web'))).toMatchObject({ mode: 'full', via: 'nft' })
    expect(runs).toEqual([renderFull(ir('web'))])
    expect(warnings).toEqual([])
    expect(infos).toEqual([{ reason: 'a rule outside the grammar', commands: expect.any(Number) }])
    // Refused by the kernel: logged, then the text.
    refuse = new NftError('nft run on inet cinch', 'netlink: Error: Could not process rule: Invalid argument', '')
    expect(await fresh().apply(ir('web'))).toMatchObject({ mode: 'full', via: 'nft' })
    expect(runs).toHaveLength(2)
    expect(warnings).toEqual(['full replace over netlink failed; sending it through nft'])
  })

  it('replaces the tables whole over netlink when the diff would be a full render (the flow log limit changed)', async () => {
    const batches: { n: number; maxBytes?: number }[] = []
    const applier = new Applier({ run: async () => { throw new Error('no text expected') }, runCommands: async (c, o) => void batches.push({ n: c.length, maxBytes: o?.maxBytes }) })
    const a = ir('web')
    await applier.apply(a)
    expect(await applier.apply({ ...a, flowLog: { group: 3, rate: 10, burst: 20 } })).toMatchObject({ mode: 'full', via: 'netlink' })
    expect(batches).toHaveLength(2)
    expect(batches[1]!.maxBytes).toBe(batches[0]!.maxBytes)
  })

  it('a diff over netlink reports the kernel\'s round trip (the agent logs it apart from its own work)', async () => {
    const applier = new Applier({ run: async () => { throw new Error('no text expected') }, runCommands: async () => ({ genId: 7, kernelMs: 1.25 }) })
    const a = ir('web')
    await applier.apply(a)
    expect(await applier.apply(ir('db'))).toEqual({ mode: 'diff', lines: expect.any(Number), via: 'netlink', kernelMs: 1.25 })
  })

  it('after a full replace of unknown outcome (no answer) whose text fails too, the next apply replaces again', async () => {
    // The batch may have been committed (its answer came too late), so the kernel may hold `b`;
    // a diff from `a` would then leave b's flow log limit (or any other part of b) in place.
    let fail = false
    const sent: string[] = []
    const applier = new Applier({
      run: async () => { sent.push('text'); if (fail) throw new NftError('nft run on inet cinch', 'Error: Could not process rule: Device or resource busy', '') },
      runCommands: async (c) => { sent.push(c.some((x) => 'kind' in x && x.kind === 'table') ? 'full' : 'diff'); if (fail) throw new Error('netfilter netlink batch: no answer within 10000 ms') },
    })
    const a = ir('web')
    await applier.apply(a)
    fail = true
    await expect(applier.apply({ ...a, flowLog: { group: 3, rate: 10, burst: 20 } })).rejects.toThrow(NftError)
    fail = false
    sent.length = 0
    expect(await applier.apply(ir('client'))).toMatchObject({ mode: 'full', via: 'netlink' })
    expect(sent).toEqual(['full'])
  })

  it('keeps the committed IR in memory: an unchanged IR sends nothing', async () => {
    const runs: string[] = []
    const applier = new Applier({ run: async (t) => void runs.push(t) })
    await applier.apply(ir('web'))
    expect(await applier.apply(ir('web'))).toEqual({ mode: 'none', lines: 0 })
    expect(runs).toHaveLength(1)
  })

  // An IR that differs from the last only in what reports read (the policies of a chain, which
  // flow records name) renders nothing; it is still the IR the kernel holds from then on: a stop
  // records its digest, which the restart's compile (that IR again) must match to adopt the tables.
  it('an IR that renders no change becomes the committed one', async () => {
    const applier = new Applier({ run: async () => {}, runCommands: async () => ({ genId: 5 }) })
    const a = ir('web')
    await applier.apply(a)
    const [name, chain] = Object.entries(a.chains)[0]!
    const b = { ...a, chains: { ...a.chains, [name]: { ...chain, policies: [...chain.policies, 'x/also'] } } }
    expect(renderDiff(a, b)).toBe('')
    expect(await applier.apply(b)).toEqual({ mode: 'none', lines: 0 })
    expect(applier.committed?.ir).toBe(b)
  })

  it('renders scripts that name only inet cinch and bridge cinch', () => {
    const named = [renderFull(ir('web')), renderDiff(ir('web'), ir('client')), renderTeardown()].flatMap(tablesNamed)
    expect(new Set(named.map((t) => `${t.family} ${t.name}`))).toEqual(new Set(['inet cinch', 'bridge cinch']))
  })
})
