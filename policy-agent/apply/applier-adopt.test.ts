// The applier's part of adoption at restart (adopt.ts): the first apply sends nothing when the
// proof holds and replaces whole (saying why) when it does not; `committed` knows the generation
// of the kernel's tables only while every commit of ours followed the one before: a full replace's
// own id, a diff's id one past the last, an nft run bracketed by two reads one apart.
import { describe, expect, it } from 'vitest'
import { webDbIr } from '../../test/kit/policy-state.js'
import { UnsupportedElements, type NftCommand } from '../../lib/nft/index.js'
import { Applier, type ApplierOptions } from './applier.js'
import type { Proof } from './adopt.js'
import { noteCommit, noteOwnCommits } from '../../lib/nft/generation.js'

const ir = webDbIr

/** A kernel of one counter: each commit (netlink or text) takes the next id; `others` commit too. */
function kernel(o: { echo?: boolean; refuseNetlink?: boolean } = {}) {
  const k = { gen: 10, sent: [] as string[], others: () => void k.gen++ }
  const opts: ApplierOptions = {
    run: async () => { k.sent.push('text'); k.gen++ },
    runCommands: async (c: NftCommand[]) => {
      if (o.refuseNetlink) throw new UnsupportedElements('not encoded')
      k.sent.push(c.some((x) => 'kind' in x && x.kind === 'table') ? 'full' : 'diff')
      k.gen++
      return o.echo === false ? {} : { genId: k.gen }
    },
    generation: async () => k.gen,
  }
  return { k, opts }
}

describe('Applier adoption', () => {
  it('adopts when the proof holds: nothing sent, later diffs go on from the adopted generation', async () => {
    const { k, opts } = kernel()
    const infos: string[] = []
    let asked: unknown
    const a = new Applier({ ...opts, prove: async (x): Promise<Proof> => ((asked = x), { holds: true, genId: 10 }), log: { warn: () => {}, info: (_o, m) => void infos.push(m) } })
    const web = ir('web')
    expect(await a.apply(web)).toEqual({ mode: 'adopted', lines: 0 })
    expect(asked).toBe(web)
    expect(k.sent).toEqual([])
    expect(a.committed).toEqual({ ir: web, genId: 10 })
    expect(infos).toEqual([expect.stringMatching(/adopted, nothing sent/)])
    expect(await a.apply(ir('client'))).toMatchObject({ mode: 'diff' })
    expect(k.sent).toEqual(['diff'])
    expect(a.committed?.genId).toBe(11)
  })

  it('replaces whole when the proof does not hold, and says why once; the proof is asked once', async () => {
    const { k, opts } = kernel()
    const infos: object[] = []
    let asked = 0
    const a = new Applier({ ...opts, prove: async () => (asked++, { holds: false, reason: 'because' }), log: { warn: () => {}, info: (o) => void infos.push(o) } })
    expect(await a.apply(ir('web'))).toMatchObject({ mode: 'full' })
    expect(infos).toEqual([{ reason: 'because' }])
    expect(a.committed?.genId).toBe(11)
    await a.apply(ir('client'))
    expect(asked).toBe(1)
    // A proof that throws is a proof that does not hold.
    const b = new Applier({ ...kernel().opts, prove: async () => { throw new Error('boom') }, log: { warn: () => {}, info: (o) => void infos.push(o) } })
    expect(await b.apply(ir('web'))).toMatchObject({ mode: 'full' })
    expect(infos[1]).toEqual({ reason: 'proof failed: boom' })
  })

  it('forgets the generation when someone else committed between two of its commits', async () => {
    const { k, opts } = kernel()
    const a = new Applier(opts)
    await a.apply(ir('web'))
    expect(a.committed?.genId).toBe(11)
    k.others()
    await a.apply(ir('client'))
    expect(a.committed).toBeUndefined() // the diff's id is 13, not 12
    await a.apply(ir('web'))
    expect(a.committed).toBeUndefined() // and stays unknown: nothing since vouches for the tables
  })

  it('knows no generation for a batch without an echo, a failed apply, or a teardown', async () => {
    const n = kernel({ echo: false })
    const a = new Applier(n.opts)
    await a.apply(ir('web'))
    expect(a.committed).toBeUndefined()
    const { opts } = kernel()
    let fail = false
    const b = new Applier({ ...opts, runCommands: async (c, o) => { if (fail) throw new Error('no answer'); return opts.runCommands!(c, o) }, run: async (t) => { if (fail) throw new Error('busy'); return opts.run!(t) } })
    await b.apply(ir('web'))
    expect(b.committed).toBeDefined()
    fail = true
    await expect(b.apply(ir('client'))).rejects.toThrow()
    expect(b.committed).toBeUndefined()
    fail = false
    await b.apply(ir('web'))
    expect(b.committed).toBeDefined()
    await b.teardown()
    expect(b.committed).toBeUndefined()
  })

  it('brackets an nft run with two reads: its id when they are one apart and the first is ours', async () => {
    const { k, opts } = kernel({ refuseNetlink: true })
    const a = new Applier(opts)
    await a.apply(ir('web')) // full replace through nft
    expect(k.sent).toEqual(['text'])
    expect(a.committed?.genId).toBe(11)
    await a.apply(ir('client')) // a diff through nft
    expect(a.committed?.genId).toBe(12)
    // someone commits while nft runs: the reads are two apart
    const c = kernel({ refuseNetlink: true })
    const b = new Applier({ ...c.opts, run: async (t) => { await c.opts.run!(t); c.k.others() } })
    await b.apply(ir('web'))
    expect(b.committed).toBeUndefined()
    // someone committed before the diff's first read: a diff on top of their change
    const d = kernel({ refuseNetlink: true })
    const e = new Applier(d.opts)
    await e.apply(ir('web'))
    d.k.others()
    await e.apply(ir('client'))
    expect(e.committed).toBeUndefined()
    // no reader: unknown
    const f = new Applier({ run: async () => {} })
    await f.apply(ir('web'))
    expect(f.committed).toBeUndefined()
  })

  it('steps over its own process\'s noted commits of other tables, not over anyone else\'s or its own tables\'', async () => {
    noteOwnCommits()
    const { k, opts } = kernel()
    const a = new Applier(opts)
    await a.apply(ir('web'))
    expect(a.committed?.genId).toBe(11)
    // the overlay's masquerade table, noted: the record moves past it
    k.others(); noteCommit(k.gen, ['inet cinch-nat'])
    expect(a.committed?.genId).toBe(12)
    // and a diff after it follows the last commit of ours
    await a.apply(ir('client'))
    expect(a.committed?.genId).toBe(13)
    // a noted commit that touched one of our tables (not the applier's) is a gap
    k.others(); noteCommit(k.gen, ['inet cinch-nat', 'bridge cinch'])
    expect(a.committed?.genId).toBe(13)
    await a.apply(ir('web'))
    expect(a.committed).toBeUndefined()
    // an unnoted commit is a gap too
    const b = kernel()
    const c = new Applier(b.opts)
    await c.apply(ir('web'))
    b.k.others(); noteCommit(b.k.gen, ['inet cinch-nat'])
    b.k.others()
    await c.apply(ir('client'))
    expect(c.committed).toBeUndefined()
  })
})
