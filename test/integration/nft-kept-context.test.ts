// libnftables' kept context (lib/nft/libnftables.ts): a request without `netns` reuses one context
// for the process, with nft's cache inside it. Each case runs a whole process in its own netns
// (ip netns exec), where "the process's own namespace" is that netns.
import test from 'ava'
import { inNetns, tsInNetns } from './agent-helpers.js'
import { cleanupFor } from '../kit/cleanup.js'
import { makeNetns } from '../kit/netns.js'

const HEAD = `import { NftTable, backendNamed } from './lib/nft/index.ts';
import { execFileSync } from 'node:child_process';
const t = new NftTable({ family: 'inet', name: 'kept', backend: backendNamed('libnftables') });
const out = {};`

test('kept context: another writer\'s changes are seen (nft\'s cache is not trusted across generations)', async (t) => {
  const ns = makeNetns(cleanupFor(t), 'cinch-t-kept')
  const r = JSON.parse(await tsInNetns(ns, `${HEAD}
    await t.run(t.tx().add({ kind: 'table' }).add({ kind: 'set', name: 'a', type: ['ipv4_addr'] }).add({ kind: 'chain', name: 'c' }));
    await t.runText('add element inet kept a { 10.0.0.9 }\\nadd rule inet kept c ip saddr @a accept\\n');
    // The cache of the kept context now holds set a and chain c. Another process replaces them, in
    // ONE transaction (the generation moves by one, as after one of our own commits).
    execFileSync('/usr/sbin/nft', ['-f', '-'], { input: 'flush chain inet kept c\\ndelete set inet kept a\\nadd set inet kept b { type ipv4_addr; }\\ndelete chain inet kept c\\n' });
    out.gone = await t.runText('add element inet kept a { 10.0.0.1 }\\n').then(() => 'committed', (e) => e.stderr.split('\\n')[0]);
    out.ruleGone = await t.runText('add rule inet kept c accept\\n').then(() => 'committed', (e) => e.stderr.split('\\n')[0]);
    await t.runText('add element inet kept b { 10.0.0.2 }\\n');
    out.b = (await t.listElements('b')).map((e) => e.key);
    console.log(JSON.stringify(out));`))
  t.regex(r.gone, /No such file or directory/)
  t.regex(r.ruleGone, /No such file or directory/)
  t.deepEqual(r.b, ['10.0.0.2'])
})

test('kept context: each call\'s output and errors are its own (buffers rewound, flags per call)', async (t) => {
  const ns = makeNetns(cleanupFor(t), 'cinch-t-kept')
  const r = JSON.parse(await tsInNetns(ns, `${HEAD}
    await t.run(t.tx().add({ kind: 'table' }).add({ kind: 'set', name: 's', type: ['ipv4_addr'] }));
    out.list1 = JSON.stringify(await t.listJson());
    out.list2 = JSON.stringify(await t.listJson());
    out.err1 = await t.runText('add element inet kept nosuch { 10.0.0.1 }\\n').catch((e) => e.stderr);
    out.err2 = await t.runText('add element inet kept other { 10.0.0.1 }\\n').catch((e) => e.stderr);
    // A check (dry run) commits nothing; the next run commits again (the flag is per call).
    await t.check(t.tx().add({ kind: 'element', set: 's', key: ['10.0.0.9'] }));
    out.afterCheck = (await t.listElements('s')).length;
    await t.runText('add element inet kept s { 10.0.0.1 }\\n');
    out.afterRun = (await t.listElements('s')).map((e) => e.key);
    console.log(JSON.stringify(out));`))
  t.is(r.list1, r.list2)
  t.is(r.err1.split('\n').length, r.err2.split('\n').length, 'the second error does not carry the first')
  t.regex(r.err1, /nosuch/)
  t.notRegex(r.err2, /nosuch/)
  t.is(r.afterCheck, 0)
  t.deepEqual(r.afterRun, ['10.0.0.1'])
})

test('kept context: requests with netns still land in their own namespace, not the kept one\'s', async (t) => {
  const cleanup = cleanupFor(t)
  const home = makeNetns(cleanup, 'cinch-t-kept')
  const other = makeNetns(cleanup, 'cinch-t-kept')
  await tsInNetns(home, `${HEAD}
    await t.run(t.tx().add({ kind: 'table' }));
    const o = new NftTable({ family: 'inet', name: 'elsewhere', backend: backendNamed('libnftables'), netns: '/var/run/netns/${other}' });
    await o.run(o.tx().add({ kind: 'table' }));
    await t.runText('add chain inet kept after\\n');`)
  t.regex(await inNetns(home, 'nft', ['list', 'tables']), /kept/)
  t.notRegex(await inNetns(home, 'nft', ['list', 'tables']), /elsewhere/)
  t.regex(await inNetns(other, 'nft', ['list', 'tables']), /elsewhere/)
  t.regex(await inNetns(home, 'nft', ['list', 'chains']), /after/)
})
