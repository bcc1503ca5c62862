// `cinch install` / `cinch uninstall`: place a package built by build/package.mjs on a host.
//
//   <prefix>/<id>/            one immutable directory per build (node, lib/*.cjs, node_modules/)
//   <prefix>/current -> <id>  flipped by one rename: every wrapper switches version at once
//   <prefix>/bin/cinch        the CLI wrapper
//   <cniBinDir>/cinch-bridge  exec wrappers, each replaced by rename (kubelet may exec it any time)
//   <prefix>/installed.json   what cinch placed, so that uninstall removes that and nothing else
//
// The conflist is not ours to write here: the agent renders it once it knows the node's podCIDR.
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, renameSync, rmdirSync, lstatSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { copyFileDurable, fsyncPath, linkOrCopy, symlinkAtomic, writeFileAtomic } from './atomic.js'
import { wrapperScript } from './wrapper.js'

export { wrapperScript }

export const DEFAULT_PREFIX = '/opt/cinch'
export const DEFAULT_CNI_BIN_DIR = '/opt/cni/bin'
/** The names the CNI runtime execs; the `cinch` CLI goes to <prefix>/bin instead. */
export const CNI_PLUGINS = ['cinch-bridge', 'cinch-ipam'] as const

export interface PackageManifest {
  name: 'cinch'
  version: string
  id: string
  commands: string[]
  files: { path: string; sha256: string; mode: number }[]
}

/** installed.json: every path cinch placed, with the digest of what it wrote there. */
export interface InstalledState {
  prefix: string
  current: string
  previous?: string
  versions: string[]
  placed: { path: string; sha256: string }[]
}

export interface InstallOptions {
  from: string
  cniBinDir?: string
  prefix?: string
}

export interface InstallReport {
  id: string
  copied: number
  linked: number
  reused: boolean
  wrote: string[]
  removedVersions: string[]
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex')

export function readPackageManifest(dir: string): PackageManifest {
  const path = join(dir, 'manifest.json')
  let m: PackageManifest
  try {
    m = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new Error(`read ${path} (is --from a directory built by build/package.mjs?)`, { cause: err })
  }
  if (m.name !== 'cinch' || !/^[\w.+-]+$/.test(m.id ?? '') || !Array.isArray(m.files)) throw new Error(`${path}: not a cinch package manifest`)
  return m
}

export function readInstalledState(prefix: string): InstalledState | undefined {
  const path = join(prefix, 'installed.json')
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as InstalledState) : undefined
}

/** Files of already installed versions by digest, to hard-link instead of copying ~90 MB again. */
function knownFiles(prefix: string, versions: string[]): Map<string, string> {
  const known = new Map<string, string>()
  for (const v of versions) {
    try {
      for (const f of readPackageManifest(join(prefix, v)).files) known.set(f.sha256, join(prefix, v, f.path))
    } catch {
      /* a version directory someone removed: nothing to reuse */
    }
  }
  return known
}

/** Copies the package into <prefix>/<id> through a temp directory renamed into place when complete. */
function placeVersion(m: PackageManifest, from: string, prefix: string, known: Map<string, string>) {
  const dir = join(prefix, m.id)
  if (existsSync(join(dir, 'manifest.json'))) return { copied: 0, linked: 0, reused: true }
  const tmp = join(prefix, `.${m.id}.cinch-tmp-${process.pid}`)
  rmSync(tmp, { recursive: true, force: true })
  let copied = 0
  let linked = 0
  for (const f of m.files) {
    const dst = join(tmp, f.path)
    mkdirSync(join(dst, '..'), { recursive: true })
    const same = known.get(f.sha256)
    if (same && existsSync(same) && linkOrCopy(same, dst, f.mode) === 'linked') linked++
    else (copyFileDurable(join(from, f.path), dst, f.mode), copied++)
  }
  // The manifest last: its presence marks a complete version directory.
  copyFileDurable(join(from, 'manifest.json'), join(tmp, 'manifest.json'), 0o644)
  rmSync(dir, { recursive: true, force: true }) // an incomplete leftover (no manifest)
  renameSync(tmp, dir)
  fsyncPath(prefix)
  return { copied, linked, reused: false }
}

/** Writes `content` at `path` by rename unless it is already there; returns whether it wrote. */
function placeFile(path: string, content: string): boolean {
  if (existsSync(path) && readFileSync(path, 'utf8') === content) return false
  writeFileAtomic(path, content, 0o755)
  return true
}

export function installPackage(o: InstallOptions): InstallReport {
  const prefix = o.prefix ?? DEFAULT_PREFIX
  const cniBinDir = o.cniBinDir ?? DEFAULT_CNI_BIN_DIR
  const m = readPackageManifest(o.from)
  mkdirSync(join(prefix, 'bin'), { recursive: true })
  mkdirSync(cniBinDir, { recursive: true })
  const before = readInstalledState(prefix)
  const versions = before?.versions ?? []

  const placed = placeVersion(m, o.from, prefix, knownFiles(prefix, versions))
  symlinkAtomic(m.id, join(prefix, 'current'))

  const wrappers: [string, string][] = [
    ...CNI_PLUGINS.filter((p) => m.commands.includes(p)).map((p): [string, string] => [join(cniBinDir, p), wrapperScript(prefix, p)]),
    [join(prefix, 'bin/cinch'), wrapperScript(prefix, 'cinch')],
  ]
  const wrote = wrappers.filter(([path, content]) => placeFile(path, content)).map(([path]) => path)

  // Keep the version just replaced: a plugin started a moment ago from it may still load modules
  // (node_modules are required lazily). Versions older than that have no running process left.
  const previous = before && before.current !== m.id ? before.current : before?.previous
  const keep = new Set([m.id, previous].filter((v): v is string => !!v))
  const removedVersions = versions.filter((v) => !keep.has(v))
  for (const v of removedVersions) rmSync(join(prefix, v), { recursive: true, force: true })

  const placedFiles = new Map((before?.placed ?? []).map((p) => [p.path, p.sha256]))
  for (const [path, content] of wrappers) placedFiles.set(path, sha256(content))
  const state: InstalledState = {
    prefix,
    current: m.id,
    previous,
    versions: [...keep],
    placed: [...placedFiles].map(([path, sha]) => ({ path, sha256: sha })),
  }
  writeFileAtomic(join(prefix, 'installed.json'), JSON.stringify(state, null, 2) + '\n')
  return { id: m.id, ...placed, wrote, removedVersions }
}

export interface UninstallReport {
  removed: string[]
  /** Placed by cinch but changed since: someone else's file now, left alone. */
  kept: string[]
}

/** Removes what installed.json lists (files still as cinch wrote them), then empty directories. */
export function uninstallPackage(o: { prefix?: string } = {}): UninstallReport {
  const prefix = o.prefix ?? DEFAULT_PREFIX
  const state = readInstalledState(prefix)
  const report: UninstallReport = { removed: [], kept: [] }
  if (!state) return report
  for (const p of state.placed) {
    if (!existsSync(p.path)) continue
    if (sha256(readFileSync(p.path)) !== p.sha256) {
      report.kept.push(p.path)
      continue
    }
    rmSync(p.path)
    report.removed.push(p.path)
  }
  const current = join(prefix, 'current')
  try {
    if (lstatSync(current).isSymbolicLink() && state.versions.includes(readlinkSync(current))) (rmSync(current), report.removed.push(current))
  } catch {
    /* already gone */
  }
  for (const v of state.versions) {
    if (!existsSync(join(prefix, v))) continue
    rmSync(join(prefix, v), { recursive: true, force: true })
    report.removed.push(join(prefix, v))
  }
  // Temp leftovers of an interrupted install are ours too (their names say so).
  for (const name of readdirSync(prefix)) {
    if (name.includes('.cinch-tmp-')) (rmSync(join(prefix, name), { recursive: true, force: true }), report.removed.push(join(prefix, name)))
  }
  rmSync(join(prefix, 'installed.json'))
  report.removed.push(join(prefix, 'installed.json'))
  for (const dir of [join(prefix, 'bin'), prefix]) {
    try {
      rmdirSync(dir) // only if empty: anything else there is not ours
    } catch {
      /* not empty or gone */
    }
  }
  return report
}
