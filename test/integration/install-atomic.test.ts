// `cinch install` replaces the plugins while the runtime keeps executing them: not one run may
// fail (kubelet may exec a plugin at any instant, CNI SPEC "Overview": plugins are executables).
import test from 'ava'
import { spawn } from 'node:child_process'
import { readdirSync, readlinkSync } from 'node:fs'
import { join } from 'node:path'
import { buildPackage, cinch, packageVariant, tempDir } from './install-helpers.js'

interface LoopResult { runs: number; failures: string[]; seen: Set<string> }

/** Execs `bin` with CNI_COMMAND=VERSION until `stop()`; every run must print a VERSION result. */
function execLoop(bin: string) {
  const r: LoopResult = { runs: 0, failures: [], seen: new Set() }
  let stopped = false
  const once = () =>
    new Promise<void>((resolve) => {
      const child = spawn(bin, [], { env: { PATH: '/usr/bin:/bin', CNI_COMMAND: 'VERSION' }, stdio: ['pipe', 'pipe', 'pipe'] })
      let out = ''
      let err = ''
      child.stdout.on('data', (d) => (out += d))
      child.stderr.on('data', (d) => (err += d))
      child.on('error', (e) => (err += String(e)))
      child.on('close', (code) => {
        r.runs++
        let ok = false
        try {
          ok = code === 0 && JSON.parse(out).supportedVersions.includes('1.1.0')
        } catch { /* not JSON */ }
        if (!ok) r.failures.push(`exit ${code}: ${out.trim()} ${err.trim()}`)
        r.seen.add(/cinch-package (\w+)/.exec(err)?.[1] ?? 'base')
        resolve()
      })
      child.stdin.end('{"cniVersion":"1.1.0"}')
    })
  const done = (async () => {
    while (!stopped) await once()
  })()
  return { result: r, stop: async () => ((stopped = true), await done, r) }
}

test('install flips versions while cinch-bridge and cinch-ipam run in a loop; no run fails', async (t) => {
  t.timeout(240_000)
  const base = buildPackage(t)
  const a = packageVariant(t, base, 'a')
  const b = packageVariant(t, base, 'b')
  const dir = tempDir(t)
  const prefix = join(dir, 'opt')
  const bin = join(dir, 'bin')
  await cinch(a, 'install', '--from', a, '--prefix', prefix, '--cni-bin-dir', bin)

  const loops = [execLoop(join(bin, 'cinch-bridge')), execLoop(join(bin, 'cinch-ipam'))]
  const installs = [b, a, b, a, b, a, b, a, b]
  for (const pkg of installs) {
    await cinch(pkg, 'install', '--from', pkg, '--prefix', prefix, '--cni-bin-dir', bin)
    await new Promise((r) => setTimeout(r, 150)) // let runs start on this version
  }
  const results = await Promise.all(loops.map((l) => l.stop()))
  for (const r of results) {
    t.log(`${r.runs} runs`)
    t.deepEqual(r.failures, [])
    t.true(r.runs >= installs.length, `only ${r.runs} runs`)
    // Both versions really ran: the flips happened under the loop, not around it.
    t.deepEqual([...r.seen].sort(), ['a', 'b'])
  }
  t.is(readlinkSync(join(prefix, 'current')), '0.1.0-b')
})

test('a new version is placed complete before current points at it, and the previous one is kept', async (t) => {
  t.timeout(120_000)
  const base = buildPackage(t)
  const [a, b, c] = ['a', 'b', 'c'].map((tag) => packageVariant(t, base, tag))
  const dir = tempDir(t)
  const flags = ['--prefix', join(dir, 'opt'), '--cni-bin-dir', join(dir, 'bin')]
  await cinch(a, 'install', '--from', a, ...flags)
  const second = await cinch(b, 'install', '--from', b, ...flags)
  // The runtime did not change between a and b: hard-linked, not copied again.
  t.regex(second, /hard-linked/)
  const third = await cinch(c, 'install', '--from', c, ...flags)
  t.regex(third, /removed old version 0\.1\.0-a/)
  t.deepEqual(readdirSync(join(dir, 'opt')).sort(), ['0.1.0-b', '0.1.0-c', 'bin', 'current', 'installed.json'])
})
