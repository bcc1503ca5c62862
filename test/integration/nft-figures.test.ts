// lib/nft/figures-netlink.ts against the real kernel: what it reads over netlink (counters with their
// values, rules, set and map elements) equals what nft's own listing of the same table says, for
// the policy renderer's whole ruleset and for every kind of set it uses. Each test in its own netns.
import test from 'ava'
import { cleanupFor } from '../kit/cleanup.js'
import { makeNetns } from '../kit/netns.js'
import { NftTable } from '../../lib/nft/index.js'
import { readTableFigures } from '../../lib/nft/figures-netlink.js'
import { tsInNetns } from './agent-helpers.js'

function tableIn(t: import('ava').ExecutionContext, family: 'inet' | 'bridge' = 'inet') {
  const ns = makeNetns(cleanupFor(t), 'cinch-t-figures')
  return new NftTable({ family, name: 'cinch-t', netns: `/var/run/netns/${ns}` })
}

/** nft's view, in the same shape. */
async function viaNft(table: NftTable) {
  const l = await table.list()
  return { rules: l?.rules.length ?? 0, setElements: (l?.sets ?? []).reduce((n, s) => n + s.elements.length, 0), counters: l?.counters ?? [] }
}

const byName = (c: { name: string }[]) => [...c].sort((a, b) => a.name.localeCompare(b.name))

test('counters, rules and elements as nft lists them: intervals once, anonymous sets with their rule', async (t) => {
  const table = tableIn(t)
  await table.runText(`table inet cinch-t {
  counter allowed { packets 5 bytes 300 }
  counter big { packets 4294967299 bytes 9007199254740000 }
  counter dropped { }
  set block { type ipv4_addr; flags interval; elements = { 192.168.0.0/24, 192.168.2.0-192.168.255.255, 10.0.0.1 } }
  set block6 { type ipv6_addr; flags interval; elements = { fd00::/64, fd01::1 } }
  set peers { type ipv4_addr; elements = { 10.0.2.1, 10.0.2.2, 10.0.2.3 } }
  set tuples { type ipv4_addr . inet_proto . inet_service; elements = { 10.0.2.1 . tcp . 80, 10.0.2.2 . udp . 53 } }
  set ports { type inet_proto . inet_service; flags interval; elements = { tcp . 8000-8100, udp . 53 } }
  set empty { type ipv4_addr; }
  map dispatch { type ipv4_addr : verdict; elements = { 10.0.1.1 : jump pod-a, 10.0.1.2 : drop } }
  chain pod-a {
    ip saddr @peers meta l4proto . th dport { tcp . 8080, udp . 53-60 } counter name "allowed" accept
    ip saddr @block counter name "allowed" accept
    counter name "dropped" drop
  }
  chain input { type filter hook input priority filter; policy accept; ip daddr vmap @dispatch; }
}
`)
  const got = await readTableFigures(table)
  const want = await viaNft(table)
  t.is(got.rules, 4)
  t.is(got.rules, want.rules)
  t.is(got.setElements, 3 + 2 + 3 + 2 + 2 + 2)
  t.is(got.setElements, want.setElements)
  t.deepEqual(byName(got.counters), byName(want.counters))
  t.deepEqual(byName(got.counters).find((c) => c.name === 'big'), { name: 'big', packets: 4294967299, bytes: 9007199254740000 })
})

test('a table that does not exist has no figures; another table is not counted', async (t) => {
  const table = tableIn(t)
  t.deepEqual(await readTableFigures(table), { rules: 0, setElements: 0, counters: [] })
  const other = new NftTable({ family: 'inet', name: 'other', netns: table.netns })
  await other.runText('table inet other { counter c { packets 1 bytes 1 }\n set s { type ipv4_addr; elements = { 10.0.0.1 } }\n chain x { counter accept; }\n}\n')
  t.deepEqual(await readTableFigures(table), { rules: 0, setElements: 0, counters: [] })
  t.deepEqual(await readTableFigures(other), { rules: 1, setElements: 1, counters: [{ name: 'c', packets: 1, bytes: 1 }] })
})

test('the bridge family and interface-name keys', async (t) => {
  const table = tableIn(t, 'bridge')
  await table.runText(`table bridge cinch-t {
  counter drop-spoofed { packets 7 bytes 420 }
  set pods4 { type ifname . ipv4_addr; elements = { "cinch0a1b2c3d4e" . 10.0.0.1, "cinch0a1b2c3d4f" . 10.0.0.2 } }
  chain prerouting { type filter hook prerouting priority -300; policy accept; iifname . ip saddr != @pods4 counter name "drop-spoofed" drop; }
}
`)
  const got = await readTableFigures(table)
  t.deepEqual(got, { rules: 1, setElements: 2, counters: [{ name: 'drop-spoofed', packets: 7, bytes: 420 }] })
  t.deepEqual({ ...got, counters: byName(got.counters) }, { ...(await viaNft(table)) })
})

test('reads of two tables at once in the process\'s own namespace (a scrape does that) both complete', async (t) => {
  // The kernel runs one dump per socket at a time; the kept socket serves both reads in turn.
  const ns = makeNetns(cleanupFor(t), 'cinch-t-figures')
  const out = await tsInNetns(ns, `
    import { execFileSync } from 'node:child_process'
    import { readTableFigures } from ${JSON.stringify(new URL('../../lib/nft/figures-netlink.ts', import.meta.url).pathname)}
    execFileSync('/usr/sbin/nft', ['-f', '-'], { input: 'table inet a {\\n counter c { packets 1 bytes 2 }\\n set s { type ipv4_addr; elements = { 10.0.0.1 }; }\\n}\\ntable bridge b {\\n counter d { packets 3 bytes 4 }\\n}\\n' })
    const r = await Promise.all([readTableFigures({ family: 'inet', name: 'a' }), readTableFigures({ family: 'bridge', name: 'b' }), readTableFigures({ family: 'inet', name: 'none' })])
    console.log(JSON.stringify(r))`)
  t.deepEqual(JSON.parse(out), [
    { rules: 0, setElements: 1, counters: [{ name: 'c', packets: 1, bytes: 2 }] },
    { rules: 0, setElements: 0, counters: [{ name: 'd', packets: 3, bytes: 4 }] },
    { rules: 0, setElements: 0, counters: [] },
  ])
})
