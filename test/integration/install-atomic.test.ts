// `cinch install` replaces the plugins while the runtime keeps executing them: not one run may
// fail (kubelet may exec a plugin at any instant, CNI SPEC "Overview": plugins are executables).
import test from 'ava'
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { buildPackage, cinch, packageVariant, pExecFile, tempDir } from './install-helpers.js'
import { waitFor } from '../kit/wait.js'

interface LoopResult { runs: number; failures: string[]; seen: Set<string>; mixed: string[] }

/** Execs `bin` with CNI_COMMAND=VERSION until `stop()`; every run must print a VERSION result. */
function execLoop(bin: string) {
  const r: LoopResult = { runs: 0, failures: [], seen: new Set(), mixed: [] }
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
        const m = /cinch-package (\w+) runtime (\w+)/.exec(err)
        r.seen.add(m?.[1] ?? 'base')
        // One version per exec: the bundle of one package on the runtime of another is a mix.
        if (m && m[1] !== m[2]) r.mixed.push(`bundle ${m[1]} on runtime ${m[2]}`)
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
    // Let runs start on this version: the second run to end after the flip began after it.
    const before = loops.map((l) => l.result.runs)
    await waitFor('a run of each plugin on the new version', () => loops.every((l, i) => l.result.runs >= before[i]! + 2), { timeoutMs: 10_000, intervalMs: 10 })
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

test('while versions with different runtimes flip, every exec runs one version: its runtime and its bundle', async (t) => {
  t.timeout(240_000)
  const base = buildPackage(t)
  const a = packageVariant(t, base, 'a', { runtime: true })
  const b = packageVariant(t, base, 'b', { runtime: true })
  const dir = tempDir(t)
  const flags = ['--prefix', join(dir, 'opt'), '--cni-bin-dir', join(dir, 'bin')]
  await cinch(a, 'install', '--from', a, ...flags)
  // Four loops on two cores: execs start at every instant of the flips.
  const loops = [0, 1, 2, 3].map((i) => execLoop(join(dir, 'bin', i % 2 ? 'cinch-ipam' : 'cinch-bridge')))
  const flips = 40
  for (let i = 0; i < flips; i++) await cinch(i % 2 ? a : b, 'install', '--from', i % 2 ? a : b, ...flags)
  const results = await Promise.all(loops.map((l) => l.stop()))
  const runs = results.reduce((n, r) => n + r.runs, 0)
  t.log(`${flips} flips, ${runs} execs`)
  t.deepEqual(results.flatMap((r) => r.failures), [])
  t.deepEqual(results.flatMap((r) => r.mixed), [])
  t.deepEqual([...new Set(results.flatMap((r) => [...r.seen]))].sort(), ['a', 'b'])
})

test("the host's NODE_OPTIONS and NODE_PATH do not reach cinch's runtime", async (t) => {
  t.timeout(120_000)
  const pkg = buildPackage(t)
  const dir = tempDir(t)
  await cinch(pkg, 'install', '--from', pkg, '--prefix', join(dir, 'opt'), '--cni-bin-dir', join(dir, 'bin'))
  const evil = join(dir, 'evil.js')
  const marker = join(dir, 'evil-ran')
  writeFileSync(evil, `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')\n`)
  const env = { PATH: '/usr/bin:/bin', CNI_COMMAND: 'VERSION', NODE_OPTIONS: `--require=${evil}`, NODE_PATH: dir }
  for (const bin of [join(dir, 'bin/cinch-bridge'), join(dir, 'bin/cinch-ipam')]) {
    const child = pExecFile(bin, [], { env, encoding: 'utf8' })
    child.child.stdin!.end('{"cniVersion":"1.1.0"}')
    const { stdout } = await child
    t.true(JSON.parse(stdout).supportedVersions.includes('1.1.0'))
  }
  await pExecFile(join(dir, 'opt/bin/cinch'), ['version'], { env })
  t.false(existsSync(marker), 'the host\'s --require ran inside cinch')
  // The same variable does reach a runtime started without the wrapper: the test can fail.
  await pExecFile(join(dir, 'opt/current/node'), ['-e', '0'], { env })
  t.true(existsSync(marker))
})
