// Builds option (a) of daemonset/README.md for measurement only: ONE Node single executable
// application (nodejs.org/api/single-executable-applications.html) holding all three bundles as
// assets, multi-call by the name it is invoked under. The native addons are embedded as assets and
// written once to a cache directory named by their digest, then process.dlopen()ed.
// Usage: node daemonset/measure/sea.mjs OUT_DIR   (needs postject: POSTJECT=/path/to/postject)
import { build } from 'esbuild'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '../..')
const out = process.argv[2] ?? '/tmp/cinch-sea'
const postject = process.env.POSTJECT ?? 'postject'
mkdirSync(out, { recursive: true })

const natives = {
  netlink: join(root, `node_modules/netlink/prebuilds/linux-${process.arch}/node.napi.node`),
  koffi: join(root, `node_modules/@koromix/koffi-linux-${process.arch}/linux_${process.arch}/koffi.node`),
}
const assetName = Object.fromEntries(Object.entries(natives).map(([n, p]) => [n, `${n}-${createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 12)}.node`]))

// Re-bundle the dist bundles with the addons' JS inside and their .node loads redirected.
const redirect = {
  name: 'native-assets',
  setup(b) {
    b.onLoad({ filter: /netlink[\\/]dist[\\/]raw\.js$/ }, (a) => ({
      contents: readFileSync(a.path, 'utf8').replace("require('node-gyp-build')(__dirname + '/..')", "require('cinch-native:netlink')"),
      loader: 'js',
    }))
    // koffi's JS only probes for its addon: the main's require hands out the addon itself.
    b.onResolve({ filter: /^(cinch-native:|koffi$)/ }, (a) => ({ path: a.path, external: true }))
  },
}
const commands = { 'cinch-bridge': 'dist/cni/cinch-bridge', 'cinch-ipam': 'dist/cni/cinch-ipam', cinch: 'dist/bin/cinch' }
const assets = {}
for (const [name, rel] of Object.entries(commands)) {
  const src = join(out, `${name}.in.cjs`)
  // createRequire(import.meta.url) would resolve on disk; the SEA's require knows the assets.
  writeFileSync(src, readFileSync(join(root, rel), 'utf8').replace(/^#!.*\n/, '').replaceAll('(0, import_node_module.createRequire)(__importMetaUrl)', 'require'))
  const file = join(out, `${name}.cjs`)
  await build({ entryPoints: [src], outfile: file, bundle: true, platform: 'node', target: 'node20', format: 'cjs', plugins: [redirect], nodePaths: [join(root, 'node_modules')], logLevel: 'error' })
  assets[`${name}.cjs`] = file
}
for (const [n, p] of Object.entries(natives)) assets[assetName[n]] = p

// The SEA's main: pick the bundle by the invoked name, compile it as a CommonJS module.
writeFileSync(join(out, 'main.cjs'), `
const path = require('node:path'), vm = require('node:vm'), Module = require('node:module')
const name = path.basename(process.argv0)
const sea = require('node:sea'), fs = require('node:fs')
const keys = ${JSON.stringify(assetName)}
// Embedded addons: written once per digest to a cache directory, then dlopen()ed from there.
function native(name) {
  const dir = process.env.CINCH_NATIVE_CACHE || '/var/lib/cinch/native'
  const file = path.join(dir, keys[name])
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dir, { recursive: true })
    const tmp = file + '.tmp-' + process.pid
    fs.writeFileSync(tmp, Buffer.from(sea.getAsset(keys[name])), { mode: 0o755 })
    fs.renameSync(tmp, file)
  }
  const m = { exports: {} }
  process.dlopen(m, file)
  return m.exports
}
const req = (id) => id === 'koffi' || id.endsWith('koffi.node') ? native('koffi') : id === 'cinch-native:netlink' ? native('netlink') : require(id)
let code
try { code = sea.getAsset(name + '.cjs', 'utf8') } catch { process.stderr.write('cinch: unknown command name ' + name + '\\n'); process.exit(2) }
const filename = path.join(path.dirname(process.execPath), name + '.cjs')
const fn = vm.runInThisContext(Module.wrap(code), { filename })
const mod = { exports: {}, filename, id: filename }
fn.call(mod.exports, mod.exports, req, mod, filename, path.dirname(filename))
`)
writeFileSync(join(out, 'sea-config.json'), JSON.stringify({ main: join(out, 'main.cjs'), output: join(out, 'sea-prep.blob'), disableExperimentalSEAWarning: true, assets }))
execFileSync(process.execPath, ['--experimental-sea-config', join(out, 'sea-config.json')], { stdio: 'inherit' })
const bin = join(out, 'cinch')
copyFileSync(process.execPath, bin)
execFileSync('strip', ['--strip-all', bin])
execFileSync(postject, [bin, 'NODE_SEA_BLOB', join(out, 'sea-prep.blob'), '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'], { stdio: 'inherit' })
chmodSync(bin, 0o755)
for (const n of ['cinch-bridge', 'cinch-ipam']) execFileSync('ln', ['-f', bin, join(out, n)])
console.log(`SEA: ${bin} (+ hard links cinch-bridge, cinch-ipam)`)
