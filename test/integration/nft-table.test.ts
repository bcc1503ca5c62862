// lib/nft's NftTable against the real kernel, on both backends (libnftables in process, the nft
// binary), each test in its own netns. The in-process backend enters the netns with withNetns
// around nft_ctx_new + the run (lib/nft/libnftables.ts); the binary is spawned inside it.
import test from 'ava'
import { inNetns, tsInNetns } from './agent-helpers.js'
import { cleanupFor } from '../kit/cleanup.js'
import { makeNetns } from '../kit/netns.js'
import { NftTable, NftError, backendNamed, isExists, isNotFound, type NftBackend } from '../../lib/nft/index.js'

const BACKENDS = ['libnftables', 'nft'] as const

async function tableIn(t: import('ava').ExecutionContext, backend: NftBackend) {
  const ns = makeNetns(cleanupFor(t), 'cinch-t-agent-nft')
  return { ns: ns, table: new NftTable({ family: 'inet', name: 'cinch-t', backend, netns: `/var/run/netns/${ns}` }) }
}

function skeleton(table: NftTable) {
  return table
    .tx()
    .add({ kind: 'table' })
    .add({ kind: 'chain', name: 'input', type: 'filter', hook: 'input', priority: 'filter', policy: 'accept', comment: 'base chain' })
    .add({ kind: 'chain', name: 'pod-ingress-ns-a', comment: 'pod ns/a' })
    .add({ kind: 'set', name: 'peers', type: ['ipv4_addr'], flags: ['interval'], comment: 'peers of ns/a' })
    .add({ kind: 'map', name: 'dispatch', type: ['ipv4_addr'], valueType: 'verdict' })
    .add({ kind: 'element', set: 'peers', key: ['10.0.0.0/24'], comment: 'ns/b' })
    .add({ kind: 'element', set: 'peers', key: ['10.0.1.5'] })
    .add({ kind: 'element', set: 'dispatch', key: ['10.0.2.1'], value: ['jump pod-ingress-ns-a'] })
    .add({ kind: 'rule', chain: 'pod-ingress-ns-a', rule: 'ip saddr @peers accept', comment: 'from peers' })
    .add({ kind: 'rule', chain: 'input', rule: 'ip daddr vmap @dispatch' })
}

for (const name of BACKENDS) {
  const backend = backendNamed(name)

  test(`${name}: run commits a typed transaction; list, listChains and listElements read it back typed`, async (t) => {
    const { ns, table } = await tableIn(t, backend)
    t.is(await table.list(), null, 'absent table lists as null')
    await table.run(skeleton(table))
    const listing = await table.list()
    t.deepEqual(listing!.chains.map((c) => [c.name, c.hook ?? null, c.policy ?? null]), [['input', 'input', 'accept'], ['pod-ingress-ns-a', null, null]])
    t.deepEqual(listing!.rules.map((r) => [r.chain, r.comment ?? null]), [['input', null], ['pod-ingress-ns-a', 'from peers']])
    t.deepEqual(await table.listElements('peers'), [{ key: { prefix: { addr: '10.0.0.0', len: 24 } }, comment: 'ns/b' }, { key: '10.0.1.5' }])
    const dispatch = await table.listElements('dispatch')
    t.deepEqual(dispatch.map((e) => e.key), ['10.0.2.1'])
    t.deepEqual((await table.listChains()).map((c) => c.name), ['input', 'pod-ingress-ns-a'])
    // What the kernel holds, seen by the nft binary in that netns.
    t.regex(await inNetns(ns, 'nft', ['list', 'set', 'inet', 'cinch-t', 'peers']), /10\.0\.0\.0\/24 comment "ns\/b"/)
    // nft 1.0.6 leaves chain comments out of its JSON; the text shows them.
    t.regex(await inNetns(ns, 'nft', ['list', 'chain', 'inet', 'cinch-t', 'pod-ingress-ns-a']), /comment "pod ns\/a"/)
  })

  test(`${name}: a failing transaction commits nothing and names nft's error and the failing line`, async (t) => {
    const { table } = await tableIn(t, backend)
    await table.run(table.tx().add({ kind: 'table' }).add({ kind: 'set', name: 's', type: ['ipv4_addr'] }))
    const tx = table.tx().add({ kind: 'element', set: 's', key: ['10.1.1.1'] }).add({ kind: 'chain', name: 'c' }).add({ kind: 'rule', chain: 'c', rule: 'jump nosuchchain' })
    const err = await t.throwsAsync(table.run(tx), { instanceOf: NftError })
    t.is(err!.line, 3)
    t.is(err!.lineText, 'add rule inet cinch-t c jump nosuchchain')
    t.regex(err!.stderr, /^line 3:\d+-\d+: Error: Could not process rule: No such file or directory/)
    t.true(isNotFound(err))
    t.deepEqual(await table.listElements('s'), [], 'the element before the failing line was not committed')
    t.deepEqual(await table.listChains(), [])
  })

  test(`${name}: isNotFound and isExists`, async (t) => {
    const { table } = await tableIn(t, backend)
    const del = await t.throwsAsync(table.run(table.tx().delete({ kind: 'table' })))
    t.true(isNotFound(del), String(del))
    t.false(isExists(del))
    await table.run(table.tx().add({ kind: 'table' }).add({ kind: 'set', name: 's', type: ['ipv4_addr'] }))
    const create = await t.throwsAsync(table.run(table.tx().create({ kind: 'table' })))
    t.true(isExists(create), String(create))
    t.false(isNotFound(create))
    t.true(isNotFound(await t.throwsAsync(table.run(table.tx().delete({ kind: 'element', set: 's', key: ['10.9.9.9'] })))))
    t.true(isNotFound(await t.throwsAsync(table.listElements('nosuchset'))))
    // add is idempotent where create is not.
    await table.run(table.tx().add({ kind: 'table' }))
  })

  test(`${name}: check commits nothing and reports what run would`, async (t) => {
    const { table } = await tableIn(t, backend)
    await table.check(skeleton(table))
    t.is(await table.list(), null)
    await t.throwsAsync(table.check(table.tx().add({ kind: 'table' }).add({ kind: 'rule', chain: 'nochain', rule: 'accept' })), { instanceOf: NftError })
  })

  test(`${name}: runText runs a generated script on this table and refuses one naming another`, async (t) => {
    const { ns, table } = await tableIn(t, backend)
    const bridge = new NftTable({ family: 'bridge', name: 'cinch-t', backend, netns: table.netns })
    await table.runText('table inet cinch-t {\n\tset s {\n\t\ttype ipv4_addr; comment "a; b"\n\t}\n}\nadd table bridge cinch-t\n', { also: [bridge] })
    t.deepEqual((await table.list())!.sets.map((s) => [s.name, s.comment]), [['s', 'a; b']])
    await t.throwsAsync(table.runText('add table inet other\n'), { message: /names table inet other/ })
    await t.throwsAsync(table.runText('flush ruleset\n'), { message: /not a command on a table/ })
    t.notRegex(await inNetns(ns, 'nft', ['list', 'tables']), /other/)
  })
}

test('both backends give the same listing and the same error for the same script', async (t) => {
  const results = []
  for (const name of BACKENDS) {
    const { table } = await tableIn(t, backendNamed(name))
    await table.run(skeleton(table))
    const err = await t.throwsAsync(table.run(table.tx().add({ kind: 'element', set: 'peers', key: ['10.0.9.9'] }).add({ kind: 'element', set: 'nosuch', key: ['10.0.9.9'] })))
    results.push({ listing: await table.list(), message: err!.message, stderr: (err as NftError).stderr })
  }
  t.deepEqual(results[0], results[1])
})

test('libnftables: the table lands in the netns, never in the caller\'s namespace', async (t) => {
  const { ns, table } = await tableIn(t, backendNamed('libnftables'))
  const unique = new NftTable({ family: 'inet', name: `cinch-t-${ns.slice(-6)}`, backend: table.backend, netns: table.netns })
  await unique.run(unique.tx().add({ kind: 'table' }))
  t.regex(await inNetns(ns, 'nft', ['list', 'tables']), new RegExp(unique.name))
  // The root namespace, read only.
  t.notRegex((await import('node:child_process')).execFileSync('/usr/sbin/nft', ['list', 'tables']).toString(), new RegExp(unique.name))
})

test('libnftables: a script over 64 KiB runs off the event loop (koffi async) in the process namespace', async (t) => {
  const ns = makeNetns(cleanupFor(t), 'cinch-t-agent-nft')
  // A whole process in the netns (ip netns exec): the pool thread that runs the script is there too.
  const out = await tsInNetns(
    ns,
    `import { NftTable, backendNamed } from './lib/nft/index.ts';
     const table = new NftTable({ family: 'inet', name: 'cinch-t', backend: backendNamed('libnftables') });
     const tx = table.tx().add({ kind: 'table' }).add({ kind: 'set', name: 's', type: ['ipv4_addr'] });
     for (let i = 0; i < 6000; i++) tx.add({ kind: 'element', set: 's', key: ['10.' + (i >> 8) + '.' + (i & 255) + '.1'] });
     const text = tx.render();
     let ticks = 0; const timer = setInterval(() => ticks++, 1);
     await table.run(tx);
     clearInterval(timer);
     console.log(JSON.stringify({ bytes: text.length, elements: (await table.listElements('s')).length }));`,
  )
  const r = JSON.parse(out)
  t.true(r.bytes > 64 * 1024)
  t.is(r.elements, 6000)
})
