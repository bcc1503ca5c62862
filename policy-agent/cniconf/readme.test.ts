// The README's sample conflist ("The plugins") is exactly what the agent writes for a dual-stack
// node with portmap installed: rendered here by the agent's own function and compared.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { renderNodeConflist } from '../overlay/node-setup.js'

describe('README sample conflist', () => {
  it('equals the conflist the agent writes', () => {
    const readme = readFileSync(join(__dirname, '../../README.md'), 'utf8')
    const at = readme.indexOf('A conflist for one node, as the agent writes it')
    expect(at).toBeGreaterThan(0)
    const block = /```json\n([^]*?)\n```/.exec(readme.slice(at))
    expect(block).toBeTruthy()
    const written = renderNodeConflist({ podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'], mtu: 1450, portmap: true })
    expect(JSON.parse(block![1]!)).toEqual(JSON.parse(written))
  })
})
