// fullCommands, encoded by lib/nft, against the bytes nft 1.0.6 sent for renderFull's text of the
// same IR (__golden__/full-batch*.nft-1.0.6.txt, from strace of its sendmsg: __golden__/capture-batch.ts
// captures them anew after a change to a base chain or the bridge table): the declarations and
// the fixed rules of the base chains and of the bridge table, attribute for attribute, fail
// closed and fail open. Set ids
// are left out of the comparison (nft numbers a batch's sets in its own order; lib/nft sends 0 in
// lookups of named sets, which the kernel finds by name). The kernel's side of the same batches
// is test/integration/nft-netlink-full.test.ts.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { elementBatch } from '../../lib/nft/elements-netlink.js'
import { goldenIr } from './__golden__/ir.js'
import { fullCommands, renderFull } from './index.js'

const NAMES: Record<number, string> = { 0: 'NEWTABLE', 2: 'DELTABLE', 3: 'NEWCHAIN', 6: 'NEWRULE', 9: 'NEWSET', 12: 'NEWSETELEM', 18: 'NEWOBJ' }

/** Attributes as indented lines; ids (NEWSET 10, NEWSETELEM 4, a lookup's 4) as `ID`. */
function tree(b: Buffer, ids: (type: number) => boolean, depth = 1): string[] {
  const out: string[] = []
  let expr = ''
  for (let o = 0; o + 4 <= b.length;) {
    const len = b.readUInt16LE(o), raw = b.readUInt16LE(o + 2), type = raw & 0x3fff
    if (len < 4) break
    const v = b.subarray(o + 4, o + len)
    const pad = '  '.repeat(depth)
    if (type === 1 && depth > 1 && /^[a-z]+\0$/.test(v.toString('latin1'))) expr = v.toString('latin1')
    if (raw & 0x8000) out.push(`${pad}${type} {`, ...tree(v, expr === 'lookup\0' ? (t) => t === 4 : () => false, depth + 1), `${pad}}`)
    else out.push(`${pad}${type} = ${ids(type) ? 'ID' : v.toString('hex')}`)
    o += (len + 3) & ~3
  }
  return out
}

function show(msg: number, flags: number, family: number, attrs: Buffer): string {
  const ids = (t: number) => (msg === 9 && t === 10) || (msg === 12 && t === 4)
  // nft names a set it added in this batch by id in element messages too; lib/nft by name only.
  const lines = tree(attrs, ids).filter((l) => !(msg === 12 && l === '  4 = ID'))
  return [`${NAMES[msg] ?? msg} flags 0x${flags.toString(16)} family ${family}`, ...lines].join('\n')
}

describe('fullCommands over netlink', () => {
  const ir = goldenIr()
  const golden = (file: string) => readFileSync(new URL(`./__golden__/${file}`, import.meta.url), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'))
  const theirs = (lines: string[]) => lines.map((l) => {
    const [name, flags, family, hex] = l.split(' ')
    const msg = Number(Object.entries(NAMES).find(([, n]) => n === name)![0])
    return show(msg, Number(flags!.slice('flags='.length)), Number(family!.slice('fam='.length)), Buffer.from(hex ?? '', 'hex'))
  })
  const mine = (failOpen: boolean) => elementBatch(fullCommands(ir, { failOpen }), { maxBytes: 1 << 24 }).messages.map(({ m }) => show(m.msg, m.flags | 1, m.family, m.attrs))

  it('renders the IR the golden batches were taken from', () => {
    // The golden files' source: renderFull of this IR (flow logs on, no pods, nobody audited):
    // 3 inet base chains and the 2 mid-stream chains, 8 maps, the limit; the bridge table's 4 sets, its prerouting chain and,
    // fail closed, the guard's 3 chains (fail open: none).
    expect(renderFull(ir)).toMatch(/limit flowlog \{\n\t\trate 100\/second burst 200 packets/)
    expect(golden('full-batch.nft-1.0.6.txt')).toHaveLength(89)
    expect(golden('full-batch-fail-open.nft-1.0.6.txt')).toHaveLength(71)
  })

  it('sends what nft sent, message for message (the REQUEST flag aside, which the socket adds)', () => {
    expect(mine(false)).toEqual(theirs(golden('full-batch.nft-1.0.6.txt')))
  })

  it('fail open: the same without the guard\'s chains and rules (no empty base chain is registered)', () => {
    expect(mine(true)).toEqual(theirs(golden('full-batch-fail-open.nft-1.0.6.txt')))
  })
})
