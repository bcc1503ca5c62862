// lib/nft against the real kernel, inside a fresh netns per test.
import test from 'ava'
import { tsInNetns, inNetns } from './agent-helpers.js'
import { cleanupFor } from '../kit/cleanup.js'
import { makeNetns } from '../kit/netns.js'

const lib = `import * as nft from './lib/nft/index.js';`
const good = `table inet cinch-t {
  counter policy-x-y {
  }
  chain c {
    type filter hook input priority 0; policy accept;
    counter name "policy-x-y" accept
  }
}
`
// The second statement fails (no such chain): the first must not be committed either.
const bad = `table inet cinch-t {
  chain a {
  }
}
add rule inet cinch-t nosuchchain accept
`

test('runNft applies a ruleset and listTableJson reads it back; absent table is null', async (t) => {
  const ns = makeNetns(cleanupFor(t), 'cinch-t-agent-nft')
  const out = await tsInNetns(
    ns,
    `${lib}
     const before = await nft.listTableJson('inet', 'cinch-t');
     await nft.runNft(${JSON.stringify(good)});
     const after = await nft.listTableJson('inet', 'cinch-t');
     const counters = await nft.listCounters('inet', 'cinch-t');
     console.log(JSON.stringify({ before, chains: after.nftables.filter(i => i.chain).map(i => i.chain.name), counters }));`,
  )
  const r = JSON.parse(out)
  t.is(r.before, null)
  t.deepEqual(r.chains, ['c'])
  t.deepEqual(r.counters.map((c: any) => c.name), ['policy-x-y'])
})

test('runNft is all-or-nothing and reports nft stderr', async (t) => {
  const ns = makeNetns(cleanupFor(t), 'cinch-t-agent-nft')
  const out = await tsInNetns(
    ns,
    `${lib}
     let msg = '';
     try { await nft.runNft(${JSON.stringify(bad)}); } catch (e) { msg = e.message }
     console.log(JSON.stringify({ msg, table: await nft.listTableJson('inet', 'cinch-t') }));`,
  )
  const r = JSON.parse(out)
  t.regex(r.msg, /nft -f - failed.*(nosuchchain|No such file)/s)
  t.is(r.table, null, 'the first statement must not have been committed')
  // And the netns's ruleset is really empty (not just our reading of it).
  t.is((await inNetns(ns, 'nft', ['list', 'ruleset'])).trim(), '')
})
