// cinch-ipam's verbs through the built executable: the behaviour a runtime sees.
import test from 'ava'
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ipamConf, makeDataDir, readStore, run } from './ipam-helpers.js'

const dual = { ranges: [[{ subnet: '10.77.0.0/29' }], [{ subnet: 'fd00:77::/120' }]], routes: [{ dst: '0.0.0.0/0' }] }

const setup = (t: any): string => makeDataDir(t)

test('ADD returns a 1.1.0 result with ips, gateways, routes and dns; a repeated ADD the same addresses', async (t) => {
  const dir = setup(t)
  const resolv = join(dir, 'resolv.conf')
  writeFileSync(resolv, 'nameserver 10.96.0.10\nsearch svc.cluster.local\noptions ndots:5\n')
  const conf = ipamConf(dir, { ...dual, resolvConf: resolv })
  const a = await run({ command: 'ADD', conf, containerId: 'ctr-a' })
  t.is(a.code, 0, a.stdout)
  t.deepEqual(a.out, {
    cniVersion: '1.1.0',
    ips: [
      { address: '10.77.0.2/29', gateway: '10.77.0.1' },
      { address: 'fd00:77::2/120', gateway: 'fd00:77::1' },
    ],
    routes: [{ dst: '0.0.0.0/0' }],
    dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'], options: ['ndots:5'] },
  })
  await run({ command: 'ADD', conf, containerId: 'ctr-b' })
  const again = await run({ command: 'ADD', conf, containerId: 'ctr-a' })
  t.deepEqual(again.out.ips, a.out.ips)
  t.is(readStore(dir).files.size, 4)
  t.is(readStore(dir).files.get('10.77.0.2'), 'ctr-a\r\neth0')
})

test('the result is converted to the config version (0.3.1 has interface-less ips with version)', async (t) => {
  const dir = setup(t)
  const r = await run({ command: 'ADD', conf: { ...ipamConf(dir, dual), cniVersion: '0.3.1' }, containerId: 'ctr-a' })
  t.is(r.code, 0, r.stdout)
  t.is(r.out.cniVersion, '0.3.1')
  t.is(r.out.ips[0].address, '10.77.0.2/29')
  t.is(r.out.ips[0].interface, undefined)
})

test('DEL releases, and a second DEL succeeds too', async (t) => {
  const dir = setup(t)
  const conf = ipamConf(dir, dual)
  await run({ command: 'ADD', conf, containerId: 'ctr-a' })
  await run({ command: 'ADD', conf, containerId: 'ctr-b' })
  const d1 = await run({ command: 'DEL', conf, containerId: 'ctr-a' })
  t.is(d1.code, 0, d1.stdout)
  t.is(d1.stdout, '')
  t.deepEqual([...readStore(dir).files.keys()].sort(), ['10.77.0.3', 'fd00:77::3'])
  const d2 = await run({ command: 'DEL', conf, containerId: 'ctr-a' })
  t.is(d2.code, 0, d2.stdout)
  const never = await run({ command: 'DEL', conf, containerId: 'never-added' })
  t.is(never.code, 0, never.stdout)
})

test('exhaustion is error 999 naming the range; it succeeds again after a DEL', async (t) => {
  const dir = setup(t)
  const conf = ipamConf(dir, { ranges: [[{ subnet: '10.77.0.0/29' }]] }) // .2 .. .6
  for (let i = 0; i < 5; i++) t.is((await run({ command: 'ADD', conf, containerId: `c${i}` })).code, 0)
  const full = await run({ command: 'ADD', conf, containerId: 'one-too-many' })
  t.is(full.code, 1)
  t.is(full.out.code, 999)
  t.is(full.out.msg, 'no IP addresses available in range set 0 (10.77.0.0/29 10.77.0.1-10.77.0.6)')
  const status = await run({ command: 'STATUS', conf })
  t.is(status.out?.code, 50)
  await run({ command: 'DEL', conf, containerId: 'c3' })
  const ok = await run({ command: 'ADD', conf, containerId: 'one-too-many' })
  t.is(ok.out.ips[0].address, '10.77.0.5/29')
  t.deepEqual([...readStore(dir).files.values()].filter((c) => c.startsWith('one-too-many')), ['one-too-many\r\neth0'])
})

test('a requested address (runtimeConfig.ips, CNI_ARGS IP=) is handed out; one outside the range is code 7', async (t) => {
  const dir = setup(t)
  const base = { ranges: [[{ subnet: '10.77.0.0/24', rangeStart: '10.77.0.10', rangeEnd: '10.77.0.50' }]] }
  const r1 = await run({ command: 'ADD', conf: ipamConf(dir, base, { runtimeConfig: { ips: ['10.77.0.42/24'] } }), containerId: 'a' })
  t.is(r1.out.ips[0].address, '10.77.0.42/24')
  const r2 = await run({ command: 'ADD', conf: ipamConf(dir, base), containerId: 'b', args: 'IgnoreUnknown=1;IP=10.77.0.43' })
  t.is(r2.out.ips[0].address, '10.77.0.43/24')
  const taken = await run({ command: 'ADD', conf: ipamConf(dir, base), containerId: 'c', args: 'IP=10.77.0.43' })
  t.is(taken.code, 1)
  t.regex(taken.stdout, /10\.77\.0\.43 is not available/)
  const out = await run({ command: 'ADD', conf: ipamConf(dir, base, { runtimeConfig: { ips: ['10.77.0.5'] } }), containerId: 'd' })
  t.is(out.out.code, 7)
  t.is(readStore(dir).files.size, 2)
})

test('invalid config is code 7 naming the field', async (t) => {
  const dir = setup(t)
  const r = await run({ command: 'ADD', conf: ipamConf(dir, { ranges: [[{ subnet: '10.1.0.0/33' }]] }), containerId: 'a' })
  t.is(r.out.code, 7)
  t.regex(r.out.msg, /ipam\.ranges\[0\]\[0\]\.subnet: 10\.1\.0\.0\/33 is not a valid CIDR/)
})

test('CHECK passes for an allocated container and fails after DEL', async (t) => {
  const dir = setup(t)
  const conf = ipamConf(dir, dual)
  const add = await run({ command: 'ADD', conf, containerId: 'a' })
  const withPrev = { ...conf, prevResult: add.out }
  t.is((await run({ command: 'CHECK', conf: withPrev, containerId: 'a' })).code, 0)
  await run({ command: 'DEL', conf, containerId: 'a' })
  const after = await run({ command: 'CHECK', conf: withPrev, containerId: 'a' })
  t.is(after.code, 1)
  t.regex(after.out.msg, /no address allocated to container a eth0/)
})

test('GC releases every allocation not in cni.dev/valid-attachments', async (t) => {
  const dir = setup(t)
  const conf = ipamConf(dir, dual)
  for (const id of ['keep', 'drop1', 'drop2']) await run({ command: 'ADD', conf, containerId: id })
  await run({ command: 'ADD', conf, containerId: 'keep', ifName: 'net1' })
  const valid = { 'cni.dev/valid-attachments': [{ containerID: 'keep', ifname: 'eth0' }] }
  // By default GC keeps allocations younger than a minute: an ADD may be in flight.
  const young = await run({ command: 'GC', conf: { ...conf, ...valid } })
  t.is(young.code, 0, young.stdout)
  t.is(readStore(dir).files.size, 8, 'nothing younger than gcMinAgeSeconds is released')
  const gc = await run({ command: 'GC', conf: { ...conf, ipam: { ...(conf as { ipam: object }).ipam, gcMinAgeSeconds: 0 }, ...valid } })
  t.is(gc.code, 0, gc.stdout)
  const left = [...readStore(dir).files.values()]
  t.deepEqual(left, ['keep\r\neth0', 'keep\r\neth0'])
})

test('STATUS is ok with a writable store and 50 when the dataDir cannot be written', async (t) => {
  const dir = setup(t)
  t.is((await run({ command: 'STATUS', conf: ipamConf(dir, dual) })).code, 0)
  const notADir = join(dir, 'file')
  writeFileSync(notADir, '')
  chmodSync(notADir, 0o444)
  const bad = await run({ command: 'STATUS', conf: ipamConf(notADir, dual) })
  t.is(bad.code, 1)
  t.is(bad.out.code, 50)
})
