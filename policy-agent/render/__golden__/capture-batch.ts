// Captures the golden batches of full-commands.test.ts: renderFull of the test's IR (an empty
// cluster, flow logs on) fed to `nft -f` (nft 1.0.6) in a throwaway network namespace under
// `strace -e write=3`, whose hex dump of nft's one sendmsg is cut into nf_tables messages.
// As root: node --import tsx/esm policy-agent/render/__golden__/capture-batch.ts [--fail-open] > FILE
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { goldenIr } from './ir.js'
import { renderFull } from '../index.js'

const NAMES: Record<number, string> = { 0: 'NEWTABLE', 2: 'DELTABLE', 3: 'NEWCHAIN', 6: 'NEWRULE', 9: 'NEWSET', 12: 'NEWSETELEM', 18: 'NEWOBJ' }
const failOpen = process.argv.includes('--fail-open')
const dir = mkdtempSync(join(tmpdir(), 'cinch-golden-'))
try {
  writeFileSync(join(dir, 'full.nft'), renderFull(goldenIr(), { failOpen }))
  execFileSync('unshare', ['-n', 'strace', '-e', 'trace=sendmsg', '-e', 'write=3', '-s', '0', '-o', join(dir, 'trace'), '/usr/sbin/nft', '-f', join(dir, 'full.nft')])
  // strace's dump lines: ` | 00000  14 00 00 00 ...  ascii |`
  const hex = readFileSync(join(dir, 'trace'), 'utf8').split('\n').filter((l) => /^ \| [0-9a-f]{5} {2}/.test(l)).map((l) => l.slice(10, 58).replace(/\s+/g, '')).join('')
  const b = Buffer.from(hex, 'hex')
  const out = [
    `# nf_tables messages nft 1.0.6 sent (strace -e write of its sendmsg) for renderFull${failOpen ? ' (failOpen)' : ''} of an empty cluster with`,
    '# flow logs on (FlowCompiler, clusterWide): tables, base chains, counters, limit, maps, bridge sets, base rules.',
    '# One message a line: type, nlmsg flags, nfgen family, attributes in hex. full-commands.test.ts; capture-batch.ts.',
  ]
  for (let o = 0; o + 20 <= b.length; o += (b.readUInt32LE(o) + 3) & ~3) {
    const len = b.readUInt32LE(o), type = b.readUInt16LE(o + 4)
    if (type >> 8 !== 10) continue // batch begin/end (NFNL_MSG_BATCH_*)
    const name = NAMES[type & 0xff]
    if (!name) throw new Error(`nf_tables message ${type & 0xff} has no name here`)
    out.push(`${name} flags=0x${b.readUInt16LE(o + 6).toString(16)} fam=${b[o + 16]} ${b.subarray(o + 20, o + len).toString('hex')}`)
  }
  process.stdout.write(out.join('\n') + '\n')
} finally {
  rmSync(dir, { recursive: true, force: true })
}
