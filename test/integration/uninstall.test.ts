// Install, upgrade (to a version whose Node runtime differs), uninstall --all and reinstall leave a
// node exactly as daemonset/README.md documents it: files (wrappers, /opt/cinch, the conflist) and
// kernel state (nftables tables, cinch-vxlan, routes of protocol 193), in a network namespace of
// its own standing in for the node. The agent that programs the node is the installed one.
import test from 'ava'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { nodeObject } from '../kit/manifests.js'
import { buildPackage, packageVariant, pExecFile, snapshot, tempDir } from './install-helpers.js'
import { cleanupFor } from '../kit/cleanup.js'
import { makeNetns } from '../kit/netns.js'

const inNs = async (ns: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv) =>
  (await pExecFile('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', env: env ?? process.env })).stdout

/** What the kernel of `ns` holds that cinch could have put there. */
async function kernelState(ns: string): Promise<Record<string, string>> {
  return {
    // By path: under npm, node_modules/.bin/nft is @vercel/nft.
    tables: (await inNs(ns, '/usr/sbin/nft', ['list', 'tables'])).trim().split('\n').sort().join('\n'),
    links: (await inNs(ns, 'ip', ['-o', 'link', 'show'])).split('\n').map((l) => l.split(':')[1]?.trim().split('@')[0]).filter(Boolean).sort().join(' '),
    routes: ((await inNs(ns, 'ip', ['route', 'show', 'proto', '193'])) + (await inNs(ns, 'ip', ['-6', 'route', 'show', 'proto', '193']))).trim(),
  }
}

test('install, upgrade with a new runtime, uninstall --all, reinstall: files and kernel exactly as documented', async (t) => {
  t.timeout(300_000)
  const base = buildPackage(t)
  const a = packageVariant(t, base, 'a', { runtime: true })
  const b = packageVariant(t, base, 'b', { runtime: true })
  const host = tempDir(t, 'uninstall') // the node's files: opt/cni/bin, opt/cinch, etc/cni/net.d
  const bin = join(host, 'opt/cni/bin')
  const prefix = join(host, 'opt/cinch')
  const conf = join(host, 'etc/cni/net.d')
  mkdirSync(bin, { recursive: true })
  mkdirSync(conf, { recursive: true })
  // Another CNI's files stay untouched.
  writeFileSync(join(bin, 'portmap'), '#!/bin/sh\n')
  writeFileSync(join(conf, '20-other.conflist'), '{}\n')
  // The plugins' compile cache lives beside other programs' caches (lib/cni/compile-cache.ts).
  const cacheDir = join(host, 'var/cache/cinch/compile-cache')
  mkdirSync(join(host, 'var/cache/other'), { recursive: true })
  writeFileSync(join(host, 'var/cache/other/keep'), 'not ours\n')
  const work = tempDir(t, 'uninstall-work') // the agent's state, socket, manifests: not part of the comparison
  const manifests = join(work, 'manifests')
  mkdirSync(manifests)
  for (const n of [
    { name: 'node1', podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'], internalIPs: ['192.168.50.1'] },
    { name: 'node2', podCIDRs: ['10.244.2.0/24', 'fd00:10:244:2::/64'], internalIPs: ['192.168.50.2'] },
  ]) writeFileSync(join(manifests, `${n.name}.json`), JSON.stringify(nodeObject(n)))

  const ns = makeNetns(cleanupFor(t), 'cinch-t-uninst')
  // A veth pair stands in for the node's NIC (the dummy module is not everywhere).
  await inNs(ns, 'ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0peer'])
  await inNs(ns, 'ip', ['link', 'set', 'eth0peer', 'up'])
  await inNs(ns, 'ip', ['addr', 'add', '192.168.50.1/24', 'dev', 'eth0'])
  await inNs(ns, 'ip', ['link', 'set', 'eth0', 'up'])
  await inNs(ns, 'ip', ['link', 'set', 'lo', 'up'])

  const filesBefore = snapshot(host)
  const kernelBefore = await kernelState(ns)
  const cinch = (...args: string[]) => inNs(ns, join(prefix, 'bin/cinch'), args)
  const install = (pkg: string) => inNs(ns, join(pkg, 'node'), [join(pkg, 'lib/cinch.cjs'), 'install', '--from', pkg, '--prefix', prefix, '--cni-bin-dir', bin])
  // The installed agent programs the node once and exits when its rules are in the kernel.
  const agentOnce = () => cinch('agent', '--once', '--manifests', manifests, '--node', 'node1', '--state-dir', join(work, 'state'),
    '--socket', join(work, 'agent.sock'), '--metrics-addr', '127.0.0.1:0', '--cni-conf-dir', conf, '--cni-bin-dir', bin, '--ipam-data-dir', join(work, 'ipam'))
  /** Which package's bundle and runtime a plugin exec runs ("<bundle> runtime <runtime>"). */
  const pluginRuns = async () => {
    const r = pExecFile(join(bin, 'cinch-bridge'), [], { env: { PATH: '/usr/bin:/bin', CNI_COMMAND: 'VERSION' }, encoding: 'utf8' })
    r.child.stdin!.end('{"cniVersion":"1.0.0"}')
    return /cinch-package (\w+ runtime \w+)/.exec((await r).stderr)?.[1]
  }

  await install(a)
  t.is(await pluginRuns(), 'a runtime a')
  await agentOnce()
  const kernelA = await kernelState(ns)
  t.is(kernelA.tables, ['table bridge cinch', 'table inet cinch', 'table inet cinch-nat'].join('\n'))
  t.regex(kernelA.links, /\bcinch-vxlan\b/)
  t.regex(kernelA.routes, /10\.244\.2\.0\/24 via 10\.244\.2\.0 dev cinch-vxlan/)
  t.regex(kernelA.routes, /fd00:10:244:2::\/64 via fd00:10:244:2:: dev cinch-vxlan/)
  const conflist = JSON.parse(readFileSync(join(conf, '10-cinch.conflist'), 'utf8'))
  t.like(conflist.plugins[0], { type: 'cinch-bridge', ipMasq: false, policyRequired: true })
  // portmap is in the bin dir, so it is chained.
  t.deepEqual(conflist.plugins.map((p: any) => p.type), ['cinch-bridge', 'portmap'])

  // Upgrade: another bundle AND another runtime; every exec runs b's pair.
  await install(b)
  t.is(await pluginRuns(), 'b runtime b')
  await agentOnce()
  const kernelB = await kernelState(ns)
  t.deepEqual(kernelB, kernelA)
  const filesB = snapshot(host)

  // What the plugins cached while they ran (they create it at run time, 0700).
  mkdirSync(join(cacheDir, 'v24.22.3-x64-964aae3f-0'), { recursive: true, mode: 0o700 })
  writeFileSync(join(cacheDir, 'v24.22.3-x64-964aae3f-0', 'code'), 'v8 cache\n')
  // Uninstall everything: files and kernel exactly as before the first install.
  const out = await cinch('uninstall', '--all', '--prefix', prefix, '--cni-conf-dir', conf, '--cache-dir', cacheDir)
  t.regex(out, /removed .*10-cinch\.conflist/)
  t.regex(out, /removed .*var\/cache\/cinch\n/)
  t.deepEqual(snapshot(host), filesBefore)
  t.deepEqual(await kernelState(ns), kernelBefore)
  // Twice is fine (a cleanup pod restarted on a clean node).
  t.regex(await inNs(ns, join(b, 'node'), [join(b, 'lib/cinch.cjs'), 'uninstall', '--all', '--prefix', prefix, '--cni-conf-dir', conf, '--cache-dir', cacheDir]), /nothing to remove/)

  // Reinstall: the same files and kernel state as after the upgrade.
  await install(b)
  await agentOnce()
  t.deepEqual(await kernelState(ns), kernelB)
  const filesAgain = snapshot(host)
  // installed.json differs (no previous version now): everything else is identical.
  const { 'opt/cinch/installed.json': _1, ...restB } = filesB
  const { 'opt/cinch/installed.json': _2, ...restAgain } = filesAgain
  t.deepEqual(Object.keys(restAgain).filter((k) => !k.startsWith('opt/cinch/0.1.0-a')), Object.keys(restAgain))
  t.deepEqual(Object.fromEntries(Object.entries(restB).filter(([k]) => !k.startsWith('opt/cinch/0.1.0-a'))), restAgain)
  await cinch('uninstall', '--all', '--prefix', prefix, '--cni-conf-dir', conf, '--cache-dir', cacheDir)
  t.deepEqual(snapshot(host), filesBefore)
  t.deepEqual(await kernelState(ns), kernelBefore)
})
