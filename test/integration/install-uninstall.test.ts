// `cinch uninstall` removes what `cinch install` placed, and nothing else: the other plugins in
// the CNI bin dir, and a file someone replaced after install, stay.
import test from 'ava'
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { buildPackage, cinch, snapshot, tempDir } from './install-helpers.js'

test('uninstall restores the directories to exactly what they were before install', async (t) => {
  t.timeout(120_000)
  const pkg = buildPackage(t)
  const dir = tempDir(t)
  const bin = join(dir, 'bin')
  const prefix = join(dir, 'opt')
  mkdirSync(bin)
  // Another CNI's plugins live beside ours.
  for (const p of ['bridge', 'host-local', 'portmap']) copyFileSync(join('/usr/lib/cni', p), join(bin, p))
  writeFileSync(join(bin, 'cinch-bridge.bak'), 'an operator\'s file whose name looks like ours\n')
  const before = snapshot(dir)

  const out = await cinch(pkg, 'install', '--from', pkg, '--prefix', prefix, '--cni-bin-dir', bin)
  t.regex(out, /installed/)
  const installed = snapshot(dir)
  t.truthy(installed['bin/cinch-bridge'])
  t.truthy(installed['bin/cinch-ipam'])
  t.truthy(installed['opt/current'])

  await cinch(pkg, 'uninstall', '--prefix', prefix)
  t.deepEqual(snapshot(dir), before)
  // Twice is fine: nothing left to remove.
  t.regex(await cinch(pkg, 'uninstall', '--prefix', prefix), /nothing to remove/)
})

test('uninstall keeps a plugin someone replaced after install', async (t) => {
  t.timeout(120_000)
  const pkg = buildPackage(t)
  const dir = tempDir(t)
  const bin = join(dir, 'bin')
  const prefix = join(dir, 'opt')
  await cinch(pkg, 'install', '--from', pkg, '--prefix', prefix, '--cni-bin-dir', bin)
  writeFileSync(join(bin, 'cinch-ipam'), '#!/bin/sh\necho "a hand-built cinch-ipam"\n')
  const out = await cinch(pkg, 'uninstall', '--prefix', prefix)
  t.regex(out, /kept .*cinch-ipam: changed since cinch placed it/)
  t.deepEqual(Object.keys(snapshot(dir)).sort(), ['bin', 'bin/cinch-ipam'])
})
