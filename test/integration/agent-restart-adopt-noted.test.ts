// The agent notes its own text transactions of other tables (the overlay's `inet cinch-nat`) by
// the generation between two reads, one apart (lib/nft/generation.ts commitNoted), and the applier
// steps over noted commits when it proves a restart may adopt the tables. A transaction that
// changes nothing commits nothing: the one commit between the reads was then someone else's, which
// could be a change to `inet cinch`. Each noted transaction ends with a table added and deleted
// again, so it always commits. A file of its own: noteOwnCommits() is for the whole process.
import test from 'ava'
import { execFileSync } from 'node:child_process'
import { commitNoted, noteOwnCommits, ownCommit, readGeneration } from '../../lib/nft/generation.js'
import { withNetns } from '../../lib/net/netns.js'
import { cleanupFor } from '../kit/cleanup.js'
import { makeNetns, nsPath } from '../kit/netns.js'
import { NFT } from '../kit/proc.js'

const nft = (ns: string, text: string) => execFileSync('ip', ['netns', 'exec', ns, NFT, '-f', '-'], { input: text, encoding: 'utf8' })

test.serial('a noted transaction that changes nothing still commits, so someone else\'s commit meanwhile is not taken for it', async (t) => {
  const ns = makeNetns(cleanupFor(t), 'cinch-t-noted')
  const netns = nsPath(ns)
  // readGeneration()'s kept socket (the agent's, in its own namespace) opened in the test's.
  let primed: Promise<number> | undefined
  withNetns(netns, () => void (primed = readGeneration()))
  await primed
  noteOwnCommits()
  nft(ns, 'add table inet cinch-nat\nadd set inet cinch-nat s { type ipv4_addr; }\nadd table inet cinch\nadd chain inet cinch c\n')
  const noop = 'add table inet cinch-nat\nflush set inet cinch-nat s\n' // the set is empty: nothing changes

  // Alone: noted as the agent's commit of inet cinch-nat.
  const g0 = await readGeneration({ netns })
  t.is(await readGeneration(), g0, 'the kept socket reads the test namespace')
  await commitNoted(['inet cinch-nat'], noop, async (text) => void nft(ns, text))
  t.is(await readGeneration({ netns }), g0 + 1, 'the no-op transaction committed')
  t.deepEqual(ownCommit(g0 + 1), ['inet cinch-nat'])

  // With someone's rule added to inet cinch between the reads: two commits, neither noted.
  const g1 = await readGeneration({ netns })
  await commitNoted(['inet cinch-nat'], noop, async (text) => {
    nft(ns, text)
    nft(ns, 'add rule inet cinch c accept\n')
  })
  t.is(await readGeneration({ netns }), g1 + 2)
  t.is(ownCommit(g1 + 1), undefined)
  t.is(ownCommit(g1 + 2), undefined, 'the foreign rule in inet cinch taken for the agent\'s commit of inet cinch-nat')
  t.is(nft(ns, 'list tables\n').includes('cinch-commit-mark'), false, 'the mark leaves no table')
})
