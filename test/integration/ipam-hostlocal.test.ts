// cinch-ipam and the reference host-local on one dataDir: same file format, same lock file, so
// an operator can switch plugins (or run both) without losing or duplicating an allocation.
import test from 'ava'
import { HOST_LOCAL, ipamConf, makeDataDir, readStore, run } from './ipam-helpers.js'

// host-local here speaks up to 1.0.0.
const confFor = (dir: string, ipam: object) => ({ ...ipamConf(dir, ipam), cniVersion: '1.0.0' })
const ranges = { ranges: [[{ subnet: '10.79.0.0/24' }], [{ subnet: 'fd00:79::/120' }]] }

test('host-local respects cinch-ipam allocations and round robin, and the reverse', async (t) => {
  const dir = makeDataDir(t)
  const conf = confFor(dir, ranges)
  const ours = await run({ command: 'ADD', conf, containerId: 'ours' })
  t.is(ours.code, 0, ours.stdout)
  t.deepEqual(ours.out.ips.map((i: any) => i.address), ['10.79.0.2/24', 'fd00:79::2/120'])

  // host-local reads our last_reserved_ip.N and files: it continues after ours.
  const theirs = await run({ command: 'ADD', conf, containerId: 'theirs', plugin: HOST_LOCAL })
  t.is(theirs.code, 0, theirs.stdout + theirs.stderr)
  t.deepEqual(theirs.out.ips.map((i: any) => i.address), ['10.79.0.3/24', 'fd00:79::3/120'])

  // host-local refuses an address we hold.
  const clash = await run({ command: 'ADD', conf, containerId: 'clash', plugin: HOST_LOCAL, args: 'IP=10.79.0.2' })
  t.is(clash.code, 1)

  // We see host-local's allocation as its container's: repeated ADD, CHECK, and no reuse.
  t.deepEqual((await run({ command: 'ADD', conf, containerId: 'theirs' })).out.ips, theirs.out.ips)
  t.is((await run({ command: 'CHECK', conf, containerId: 'theirs' })).code, 0)
  const next = await run({ command: 'ADD', conf, containerId: 'next' })
  t.deepEqual(next.out.ips.map((i: any) => i.address), ['10.79.0.4/24', 'fd00:79::4/120'])

  // Each releases the other's allocations.
  t.is((await run({ command: 'DEL', conf, containerId: 'ours', plugin: HOST_LOCAL })).code, 0)
  t.is((await run({ command: 'DEL', conf, containerId: 'theirs' })).code, 0)
  t.deepEqual([...readStore(dir).files.values()], ['next\r\neth0', 'next\r\neth0'])
})

test('16 cinch-ipam and 16 host-local ADDs at once share the lock: 32 distinct addresses', async (t) => {
  const dir = makeDataDir(t)
  const conf = confFor(dir, ranges)
  const runs = await Promise.all(
    Array.from({ length: 32 }, (_, i) => run({ command: 'ADD', conf, containerId: `mix-${i}`, plugin: i % 2 ? HOST_LOCAL : undefined })),
  )
  for (const r of runs) t.is(r.code, 0, r.stdout + r.stderr)
  t.is(new Set(runs.map((r) => r.out.ips[0].address)).size, 32)
  t.is(new Set(runs.map((r) => r.out.ips[1].address)).size, 32)
  const view = readStore(dir)
  t.is(view.files.size, 64)
  t.deepEqual(view.temps, [])
})
