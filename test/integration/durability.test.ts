// What a CNI ADD reports must survive a power cut: the IPAM lease is fsynced, placed (link), and
// then its directory fsynced, since a directory entry is data of the directory (rename(2),
// fsync(2)), or a restarted node could hand a running pod's address to another. The attachment
// record is placed (rename) before the answer and not fsynced: it describes what a power cut ends
// anyway (lib/state/attachments.ts writeAttachmentSync).
// Seen from outside, as the kernel sees it: the built cinch-bridge (with cinch-ipam in process)
// under strace, the order of its fsync/link/rename calls and of its answer on stdout.
import test from 'ava'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeNode, makeNs, nsPath, pluginConf, runBridge } from './bridge-helpers.js'

const CALLS = 'trace=fsync,fdatasync,link,linkat,rename,renameat,renameat2,write'

/** The trace lines around the call that placed `final`: its temp was fsynced before, its directory after. */
function durablyPlaced(lines: string[], final: (path: string) => boolean, dir: string): string[] {
  const problems: string[] = []
  const at = lines.findIndex((l) => {
    const m = /\b(?:link|linkat|rename|renameat2?)\((?:AT_FDCWD, )?"([^"]+)", (?:AT_FDCWD, )?"([^"]+)"/.exec(l)
    return !!m && final(m[2]!) && / = 0$/.test(l)
  })
  if (at < 0) return ['no link/rename placed it']
  const tmp = /"([^"]+)"/.exec(lines[at]!)![1]!
  if (!lines.slice(0, at).some((l) => l.includes(`fsync(`) && l.includes(`<${tmp}>`))) problems.push(`temp ${tmp} not fsynced before it was placed`)
  if (!lines.slice(at + 1).some((l) => /fsync\(\d+</.test(l) && l.includes(`<${dir}>`))) problems.push(`directory ${dir} not fsynced after`)
  return problems
}

/** The record placed by rename before the ADD's answer (its write to stdout), and not fsynced on the ADD's way. */
function placedBeforeAnswer(lines: string[], final: string, dir: string): string[] {
  const answer = lines.findIndex((l) => /\bwrite\(1</.test(l) && l.includes('cniVersion'))
  if (answer < 0) return ['no answer written to stdout']
  const before = lines.slice(0, answer)
  const placed = before.findIndex((l) => /\brename(?:at2?)?\(/.test(l) && l.includes(`"${final}"`) && / = 0$/.test(l))
  if (placed < 0) return ['not placed before the answer']
  const tmp = /"([^"]+)"/.exec(before[placed]!)![1]!
  const synced = before.filter((l) => /fsync\(\d+</.test(l) && (l.includes(`<${tmp}>`) || l.includes(`<${final}>`) || l.includes(`<${dir}>`)))
  return synced.length ? [`fsynced on the ADD's way: ${synced.join('; ')}`] : []
}

test('ADD fsyncs the lease, places it, then fsyncs its directory; the attachment record is placed before the answer, with no fsync', async (t) => {
  const node = makeNode(t, { ipam: { type: 'cinch-ipam' } })
  const pod = makeNs(t, 'dur')
  const trace = join(node.dir, 'strace.out')
  const r = await runBridge(node, {
    verb: 'ADD', conf: pluginConf(node, { ipMasq: false, policyTimeoutMs: 0 }), netns: nsPath(pod), id: 'ctr-dur',
    wrap: ['strace', '-f', '-y', '-qq', '-o', trace, '-e', CALLS],
  })
  t.is(r.code, 0, JSON.stringify(r.json))
  const lines = readFileSync(trace, 'utf8').split('\n')
  const store = join(node.dir, 'ipam', 'tnet')
  const ip4 = r.json.ips.map((i: { address: string }) => i.address.split('/')[0]).find((a: string) => !a.includes(':'))
  t.deepEqual(durablyPlaced(lines, (p) => p === join(store, ip4), store), [], `the IPv4 lease\n${lines.join('\n')}`)
  const records = join(node.dir, 'state', 'attachments')
  t.deepEqual(placedBeforeAnswer(lines, join(records, 'ctr-dur_eth0.json'), records), [], `the attachment record\n${lines.join('\n')}`)
})
