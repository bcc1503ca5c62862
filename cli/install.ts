// `cinch install` and `cinch uninstall`: the DaemonSet's init container runs the first.
import { realpathSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { parseFlags, UsageError } from './args.js'
import { DEFAULT_CNI_BIN_DIR, DEFAULT_PREFIX, installPackage, uninstallPackage } from './install/install.js'

export const INSTALL_USAGE = `Usage:
  cinch install [--cni-bin-dir D] [--prefix P] [--from DIR]
      copy cinch's runtime to P/<id>/ (default ${DEFAULT_PREFIX}), flip P/current to it, and place
      exec wrappers for cinch-bridge and cinch-ipam in D (default ${DEFAULT_CNI_BIN_DIR}) by rename.
      --from: a directory built by build/package.mjs (default: the package this cinch runs from).
  cinch uninstall [--prefix P] [--all [--cni-conf-dir C] [--cache-dir K]]
      remove what cinch install placed (P/installed.json lists it) and nothing else.
      --all: also what the agent put on this node, conflist first (C/10-cinch.conflist, default
      /etc/cni/net.d), then tables inet cinch, bridge cinch, inet cinch-nat, routes of protocol 193,
      cinch-vxlan, and cinch0 once no pod is attached; then the plugins' compile cache (K, default
      /var/cache/cinch/compile-cache, and /var/cache/cinch if empty). Stop the agent (delete the
      DaemonSet) first.
`

/** The package this CLI runs from: <pkg>/lib/cinch.cjs, as build/package.mjs lays it out. */
function ownPackageDir(): string {
  return join(dirname(realpathSync(process.argv[1] ?? '.')), '..')
}

export async function install(argv: string[]): Promise<number> {
  const f = parseFlags(argv, { 'cni-bin-dir': { type: 'string' }, prefix: { type: 'string' }, from: { type: 'string' } })
  if (f.help) return (process.stdout.write(INSTALL_USAGE), 0)
  const r = installPackage({ from: f.from ?? ownPackageDir(), cniBinDir: f['cni-bin-dir'], prefix: f.prefix })
  const how = r.reused ? 'already present' : `${r.copied} files copied, ${r.linked} hard-linked from an installed version`
  process.stdout.write(`cinch ${r.id} installed (${how})\n`)
  for (const w of r.wrote) process.stdout.write(`  wrote ${w}\n`)
  for (const v of r.removedVersions) process.stdout.write(`  removed old version ${v}\n`)
  return 0
}

export async function uninstall(argv: string[]): Promise<number> {
  const f = parseFlags(argv, { prefix: { type: 'string' }, all: { type: 'boolean' }, 'cni-conf-dir': { type: 'string' }, 'cache-dir': { type: 'string' } })
  if (f.help) return (process.stdout.write(INSTALL_USAGE), 0)
  if ((f['cni-conf-dir'] || f['cache-dir']) && !f.all) throw new UsageError('--cni-conf-dir and --cache-dir go with --all')
  if (f.all) {
    // The node's network first: the conflist goes before the plugins it names.
    const { removeNodeNetwork } = await import('../policy-agent/overlay/teardown.js')
    const n = await removeNodeNetwork({ cniConfDir: f['cni-conf-dir'] })
    for (const p of n.removed) process.stdout.write(`removed ${p}\n`)
    for (const p of n.kept) process.stdout.write(`kept ${p}\n`)
    // The plugins' compile cache (lib/cni/compile-cache.ts): made at run time, so not in installed.json.
    const { removeCompileCache, COMPILE_CACHE_DIR } = await import('../lib/cni/compile-cache.js')
    try {
      for (const p of removeCompileCache(f['cache-dir'] ?? COMPILE_CACHE_DIR)) process.stdout.write(`removed ${p}\n`)
    } catch (err) {
      process.stdout.write(`kept ${(err as Error).message}\n`) // the rest is still uninstalled
    }
  }
  const r = uninstallPackage({ prefix: f.prefix })
  if (!r.removed.length && !r.kept.length) process.stdout.write(`nothing to remove: no ${f.prefix ?? DEFAULT_PREFIX}/installed.json\n`)
  for (const p of r.removed) process.stdout.write(`removed ${p}\n`)
  for (const p of r.kept) process.stdout.write(`kept ${p}: changed since cinch placed it\n`)
  return 0
}
