import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ensureConflistFile, renderConflist } from './index.js'

describe('renderConflist', () => {
  it('single stack: one range set, the IPv4 default route, no ipMasq (the agent masquerades), portmap when asked', () => {
    const c = JSON.parse(renderConflist({ podCIDRs: ['10.244.1.0/24'], mtu: 1450, portmap: true }))
    expect(c).toEqual({
      cniVersion: '1.1.0',
      name: 'cinch',
      plugins: [
        {
          type: 'cinch-bridge', bridge: 'cinch0', isGateway: true, ipMasq: false, hairpinMode: true, mtu: 1450, policyRequired: true,
          ipam: { type: 'cinch-ipam', ranges: [[{ subnet: '10.244.1.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    })
  })

  it('chains nothing after cinch-bridge when portmap is not installed', () => {
    expect(JSON.parse(renderConflist({ podCIDRs: ['10.244.1.0/24'], mtu: 1450 })).plugins.map((p: any) => p.type)).toEqual(['cinch-bridge'])
  })

  it('dual stack: two range sets (IPv4 first) and both default routes', () => {
    const c = JSON.parse(renderConflist({ podCIDRs: ['fd00:10:244:1::/64', '10.244.1.0/24'], mtu: 1500 }))
    expect(c.plugins[0].ipam.ranges).toEqual([[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:10:244:1::/64' }]])
    expect(c.plugins[0].ipam.routes).toEqual([{ dst: '0.0.0.0/0' }, { dst: '::/0' }])
  })

  it('passes state directory, socket and IPAM data dir through when set', () => {
    const c = JSON.parse(renderConflist({ podCIDRs: ['10.1.0.0/24'], mtu: 1400, stateDir: '/s', agentSocket: '/a.sock', dataDir: '/d', name: 'n' }))
    expect(c.name).toBe('n')
    expect(c.plugins[0]).toMatchObject({ stateDir: '/s', agentSocket: '/a.sock', ipam: { dataDir: '/d' } })
  })

  it('refuses a node without pod CIDR', () => {
    expect(() => renderConflist({ podCIDRs: [], mtu: 1500 })).toThrow(/no pod CIDR/)
  })
})

describe('ensureConflistFile', () => {
  let dir = ''
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('writes by rename, rewrites only on change, leaves no temp file', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cinch-cniconf-'))
    const sub = join(dir, 'net.d')
    expect(ensureConflistFile({ dir: sub, content: 'a\n' })).toBe(true)
    const path = join(sub, '10-cinch.conflist')
    expect(readFileSync(path, 'utf8')).toBe('a\n')
    const ino = statSync(path).ino
    expect(ensureConflistFile({ dir: sub, content: 'a\n' })).toBe(false)
    expect(statSync(path).ino).toBe(ino)
    expect(ensureConflistFile({ dir: sub, content: 'b\n' })).toBe(true)
    expect(readFileSync(path, 'utf8')).toBe('b\n')
    expect(statSync(path).ino).not.toBe(ino) // replaced by rename, never rewritten in place
    expect(readdirSync(sub)).toEqual(['10-cinch.conflist'])
    writeFileSync(join(sub, 'other.conf'), 'x')
    expect(readdirSync(sub).sort()).toEqual(['10-cinch.conflist', 'other.conf'])
  })
})
