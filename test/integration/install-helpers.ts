// Helpers for the `cinch install` tests: a package built from dist/ by build/package.mjs into a temp
// dir, variants of it that differ in one file (a new version), and the installed CLI.
import type { ExecutionContext } from 'ava'
import { execFile, execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cleanupFor } from '../kit/cleanup.js'
import { tempDir as kitTempDir } from '../kit/netns.js'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../..')
export const pExecFile = promisify(execFile)

/** A temp dir `cinch-t-<what>-*`, removed with the test (the kit's Cleanup). */
export function tempDir(t: ExecutionContext, what = 'install'): string {
  return kitTempDir(cleanupFor(t), `cinch-t-${what}`)
}

/** `node build/package.mjs --out DIR` from the current dist/ (npm run build must have run). */
export function buildPackage(t: ExecutionContext): string {
  const out = join(tempDir(t), 'pkg')
  execFileSync(process.execPath, [join(repoRoot, 'build/package.mjs'), '--out', out], { stdio: 'pipe' })
  return out
}

/**
 * A copy of `pkg` (hard links) whose cinch-bridge and cinch-ipam announce `tag` on stderr when
 * they start, with its manifest re-digested: another version as far as install can tell. With
 * `runtime`, its `node` differs too: a sh script that marks the environment with `tag` and execs
 * the real runtime, so a bundle can tell which version's runtime started it
 * ("cinch-package <bundle tag> runtime <runtime tag>").
 */
export function packageVariant(t: ExecutionContext, pkg: string, tag: string, o: { runtime?: boolean } = {}): string {
  const out = join(tempDir(t), 'pkg')
  execFileSync('cp', ['-al', pkg, out])
  const m = JSON.parse(readFileSync(join(pkg, 'manifest.json'), 'utf8'))
  const rewrite = (f: { path: string; mode: number; sha256: string }, data: Buffer | string) => {
    const path = join(out, f.path)
    rmSync(path) // break the hard link: the original package stays as it was
    writeFileSync(path, data, { mode: f.mode })
    f.sha256 = createHash('sha256').update(readFileSync(path)).digest('hex')
  }
  for (const f of m.files) {
    if (/^lib\/cinch-(bridge|ipam)\.cjs$/.test(f.path)) {
      const mark = `process.stderr.write(${JSON.stringify(`cinch-package ${tag} runtime `)} + (process.env.CINCH_FAKE_RUNTIME ?? 'base') + '\\n')`
      rewrite(f, Buffer.concat([readFileSync(join(pkg, f.path)), Buffer.from(`\n${mark}\n`)]))
    } else if (f.path === 'node' && o.runtime) {
      rewrite(f, `#!/bin/sh\nCINCH_FAKE_RUNTIME=${tag} exec ${join(pkg, 'node')} "$@"\n`)
    }
  }
  m.id = `${m.version}-${tag}`
  rmSync(join(out, 'manifest.json'))
  writeFileSync(join(out, 'manifest.json'), JSON.stringify(m, null, 2))
  return out
}

/** Runs the packaged CLI (its own Node) with `args`. */
export async function cinch(pkg: string, ...args: string[]): Promise<string> {
  const r = await pExecFile(join(pkg, 'node'), [join(pkg, 'lib/cinch.cjs'), ...args], { encoding: 'utf8' })
  return r.stdout
}

/** Every file, link and directory under `dir`, with contents (or link targets) hashed. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  const list = execFileSync('find', [dir, '-mindepth', '1', '-printf', '%y %P %l\\n'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean)
  for (const line of list) {
    const [type, rel, link] = line.split(' ')
    out[rel] = type === 'f' ? createHash('sha256').update(readFileSync(join(dir, rel))).digest('hex') : `${type}${link ? ` -> ${link}` : ''}`
  }
  return out
}
