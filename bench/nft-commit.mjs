// npm run bench:nft-commit (as root): what the kernel's share of a policy change costs, by the
// shape of what the batch carries (issue 14, bench/README.md phase 9). One nf_tables netlink batch
// per sample (lib/nft elements-netlink, as the agent sends a diff), timed from its send to the
// kernel's ACK, in a table shaped like the 30k/30k cluster's (SETS named sets, default 760):
//   - a pod chain rewritten (flush, 6 policy rules, the drop), its rules' ports written three
//     ways: one port each (`meta l4proto tcp th dport N`, no set), a named port set each (`th
//     dport @ports-...`, what the compiler writes for two ports or more), and an anonymous set
//     each (`meta l4proto . th dport { tcp . N, tcp . M }`, what it wrote before phase 9);
//   - a policy create's shape (two new sets of ELEMENTS addresses each, then that rewrite), with and
//     without a listener in nf_tables' event group (NFNLGRP_NFTABLES): with one, the kernel builds
//     a notification for every object of the transaction (`nft monitor`, or a bench's probe); and
//     with the new sets sized as the agent creates them since phase 11 (NFTA_SET_DESC size,
//     render/rules.ts setSize: a hash of fixed buckets, no resizes, capped at that size).
// The variants alternate within each round, so all see the same machine load; medians, and each
// against its baseline measured in the same run. Runs in a network namespace of its own, removed
// on exit. Knobs: ROUNDS (default 40), SETS (760), ELEMENTS (300).
import { RawNetlinkSocket } from 'netlink/dist/raw.js'
import { NftTable } from '../lib/nft/index.ts'
import { elementBatch, runElementBatch } from '../lib/nft/elements-netlink.ts'
import { NETLINK_NETFILTER } from '../lib/net/nfnetlink.ts'
import { inOwnNetns, median } from './lib.mjs'
import { setSize } from '../policy-agent/render/rules.ts'

inOwnNetns('cinch-bench-nftc')
const ROUNDS = Number(process.env.ROUNDS ?? 40)
const SETS = Number(process.env.SETS ?? 760)
const ELEMENTS = Number(process.env.ELEMENTS ?? 300)
const NFNLGRP_NFTABLES = 7 // include/uapi/linux/netfilter/nfnetlink.h

const T = { family: 'inet', table: 'cinch' }
// Set names as the compiler makes them: a prefix and 32 hex digits of a hash (compile/names.ts
// contentHash; a cheap mix here). The kernel looks a set up by name through a list of every set.
const hex8 = (x) => (x >>> 0).toString(16).padStart(8, '0')
const peer = (i) => { const k = (i % SETS) + 1; return `peer-v4-${[0x9e3779b1, 0x85ebca77, 0xc2b2ae3d, 0x27d4eb2f].map((m) => hex8(Math.imul(k, m))).join('')}` }
const table = new NftTable({ family: 'inet', name: 'cinch' })
{
  const lines = ['add table inet cinch', 'delete table inet cinch', 'add table inet cinch', 'add chain inet cinch pod-ingress-x-a', 'add counter inet cinch policy-x-p', 'add counter inet cinch drop-ingress-x-a']
  for (let i = 0; i < SETS; i++) lines.push(`add set inet cinch ${peer(i)} { type ipv4_addr; }`)
  for (let i = 0; i < 6; i++) lines.push(`add set inet cinch ports-tcp-${i} { type inet_service; flags interval; }`, `add element inet cinch ports-tcp-${i} { ${7000 + i}, 8000-8100 }`)
  await table.runText(lines.join('\n') + '\n')
}
const rule = (r) => ({ kind: 'rule', verb: 'add', ...T, chain: 'pod-ingress-x-a', rule: r })
const rewrite = (ports) => [
  { kind: 'chain', verb: 'flush', ...T, name: 'pod-ingress-x-a' },
  ...Array.from({ length: 6 }, (_, i) => rule(`ip saddr @${peer(i * 97)} ${ports(i)} counter name "policy-x-p" accept comment "x/p ingress[${i}] from[0]"`)),
  rule('counter name "drop-ingress-x-a" drop'),
]
const shapes = {
  'one port a rule': rewrite((i) => `meta l4proto tcp th dport ${7000 + i}`),
  'a named port set a rule': rewrite((i) => `meta l4proto tcp th dport @ports-tcp-${i}`),
  'an anonymous set a rule': rewrite((i) => `meta l4proto . th dport { tcp . ${7000 + i}, tcp . 8000-8100 }`),
}

// A policy create: two new sets of addresses, then the chain rewrite; the sets are deleted after.
let made = 0
function create(o = {}) {
  const n = made++
  const sets = [0, 1].map((j) => `new-${n}-${j}`)
  const elements = (j) => Array.from({ length: ELEMENTS }, (_, i) => `10.${64 + j}.${i >> 8}.${i & 255}`)
  // o.sized: each new set with the size the agent gives it (render/rules.ts setSize).
  const size = (j) => (o.sized ? { size: setSize({ family: 4, kind: 'addr', comment: 'bench', elements: elements(j) }) } : {})
  return {
    add: [
      ...sets.flatMap((s, j) => [{ kind: 'set', verb: 'add', ...T, name: s, key: ['ipv4_addr'], ...size(j), comment: 'bench' }, { ...T, verb: 'add', set: s, key: ['ipv4_addr'], elements: elements(j) }]),
      ...rewrite((i) => `meta l4proto tcp th dport ${7000 + i}`).map((c) => (c.kind === 'rule' && c.rule.startsWith('ip saddr') ? { ...c, rule: c.rule.replace(/@peer-v4-\w+/, `@${sets[c.rule.includes('[0]') ? 0 : 1]}`) } : c)),
    ],
    remove: [{ kind: 'chain', verb: 'flush', ...T, name: 'pod-ingress-x-a' }, ...sets.map((s) => ({ kind: 'set', verb: 'delete', ...T, name: s }))],
  }
}
const listener = new RawNetlinkSocket(NETLINK_NETFILTER, { recvBufferSize: 8 << 20, sendBufferSize: 0 })
listener.on('message', () => {}) // read and dropped: only its membership matters
listener.on('error', () => {}) // an overrun costs it events, nothing else

/** ms from the batch's send to the kernel's ACK (the encoding is done before). */
async function timed(cmds) {
  const b = elementBatch(cmds)
  const t0 = performance.now()
  await runElementBatch(b)
  return performance.now() - t0
}

const times = {}
const push = (k, ms) => (times[k] ??= []).push(ms)
for (let round = 0; round < ROUNDS; round++) {
  const order = Object.keys(shapes)
  if (round % 2) order.reverse()
  for (const k of order) push(k, await timed(shapes[k]))
  for (const listening of round % 2 ? [true, false] : [false, true]) {
    if (listening) listener.addMembership(NFNLGRP_NFTABLES)
    const c = create()
    push(listening ? 'create, a listener' : 'create, no listener', await timed(c.add))
    if (listening) listener.dropMembership(NFNLGRP_NFTABLES)
    await timed(c.remove)
  }
  {
    const c = create({ sized: true })
    push('create, sets sized as the agent sends them', await timed(c.add))
    await timed(c.remove)
  }
}
listener.close()

const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]))
console.log(`nf_tables batch -> ACK, median of ${ROUNDS} (${SETS} sets in the table; a new set has ${ELEMENTS} addresses)`)
console.log('the kernel\'s share of a change; issue 14\'s goal for the whole change -> commit: p50 <= 5 ms')
const row = (k, base, goal) => console.log(`${k.padEnd(44)} ${m[k].toFixed(3).padStart(8)} ms${base ? `  x${(m[k] / m[base]).toFixed(2)} of "${base}"` : ''}${goal ? `  ${goal}` : ''}`)
console.log('a pod chain rewritten (flush, 6 rules, drop):')
row('one port a rule')
row('a named port set a rule', 'one port a rule', '(the compiler\'s shape for two ports or more)')
row('an anonymous set a rule', 'one port a rule', '(what the compiler no longer writes)')
console.log(`a policy create's shape (2 new sets of ${ELEMENTS} addresses, the rewrite):`)
row('create, no listener')
row('create, a listener', 'create, no listener', '(the bench probe before phase 9 paid this)')
row('create, sets sized as the agent sends them', 'create, no listener', `(size ${setSize({ family: 4, kind: 'addr', comment: '', elements: new Array(ELEMENTS) })}: a hash of fixed buckets, no resizes; phase 11)`)
