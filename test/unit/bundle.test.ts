// What the built bundles carry (build/build.mjs; the README's test command builds them first). Each
// module a bundle holds is loaded and initialised by every start that needs it: the agent's restart
// and every CNI call pay for what is in them. esbuild names each bundled file in a comment.
import { describe, expect, it } from 'vitest'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const dist = join(dirname(fileURLToPath(import.meta.url)), '../../dist')

/** The node_modules files a bundle holds, by esbuild's `// node_modules/...` comments. */
function bundledModules(file: string): string[] {
  if (!existsSync(file)) throw new Error(`${file} is missing: run npm run build`)
  return [...readFileSync(file, 'utf8').matchAll(/^\/\/ (node_modules\/\S+)$/gm)].map((m) => m[1]!)
}

describe('bundles', () => {
  it("the cinch command takes KubeConfig alone of @kubernetes/client-node: none of its generated clients, no undici", () => {
    // ~2.7 MB that no cinch command runs; the agent's restart spent ~0.4 s of module loading on it
    // (bench/README.md phase 16). kubeConfigOnly resolves config.js's imports of them to shims.
    const modules = bundledModules(join(dist, 'bin/cinch'))
    expect(modules).toContain('node_modules/@kubernetes/client-node/dist/config.js')
    expect(modules.filter((m) => m.startsWith('node_modules/undici/'))).toEqual([])
    expect(modules.filter((m) => /^node_modules\/@kubernetes\/client-node\/dist\/gen\/(apis|models)\//.test(m))).toEqual([])
    expect(modules.filter((m) => m.startsWith('node_modules/@kubernetes/client-node/')).length).toBeLessThan(20)
  })

  it('the CNI plugins carry no Kubernetes client at all (an ADD never talks to the API)', () => {
    const plugins = readdirSync(join(dist, 'cni'))
    expect(plugins).toEqual(expect.arrayContaining(['cinch-bridge', 'cinch-ipam']))
    for (const p of plugins) {
      const modules = bundledModules(join(dist, 'cni', p))
      expect(modules.filter((m) => /^node_modules\/(@kubernetes|undici)\//.test(m)), p).toEqual([])
    }
  })
})
