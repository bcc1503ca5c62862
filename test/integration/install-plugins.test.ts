// The packaged plugins, placed by `cinch install` (sh wrappers -> cinch's own Node), pass the
// plugins' integration tests in place of the dist/ bundles: bridge-helpers.ts reads CINCH_CNI_DIR.
import test from 'ava'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { buildPackage, cinch, repoRoot, tempDir } from './install-helpers.js'

const suites = ['test/integration/bridge-add.test.ts', 'test/integration/cni-cinch-ipam.test.ts']

test('bridge-add and cni-cinch-ipam pass against the installed plugins', async (t) => {
  t.timeout(600_000)
  const pkg = buildPackage(t)
  const dir = tempDir(t)
  const bin = join(dir, 'bin')
  await cinch(pkg, 'install', '--from', pkg, '--prefix', join(dir, 'opt'), '--cni-bin-dir', bin)
  // What the runtime finds is the wrapper, not a copy of the bundle.
  t.regex(readFileSync(join(bin, 'cinch-bridge'), 'utf8'), /^#!\/bin\/sh\n/)

  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(join(repoRoot, 'node_modules/.bin/ava'), ['--concurrency=1', ...suites], {
      cwd: repoRoot,
      env: { ...process.env, CINCH_CNI_DIR: bin, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (d) => (output += d))
    child.stderr.on('data', (d) => (output += d))
    child.on('close', (c) => resolve({ code: c, output }))
  })
  t.log(output.split('\n').filter((l) => /tests? (passed|failed)|✘/.test(l)).join('\n'))
  t.is(code, 0, output)
  t.regex(output, /\d+ tests? passed/)
})
