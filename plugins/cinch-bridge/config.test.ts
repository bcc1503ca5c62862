import { describe, expect, it } from 'vitest'
import { CniError } from '../../lib/cni/index.js'
import { hostVethName, parseConfig } from './config.js'

const base = { cniVersion: '1.1.0', name: 'net', type: 'cinch-bridge' }

function codeOf(f: () => unknown): { code: number; details?: string } {
  try {
    f()
  } catch (e) {
    if (e instanceof CniError) return { code: e.code, details: e.details }
    throw e
  }
  throw new Error('did not throw')
}

describe('parseConfig', () => {
  it('fills in the reference defaults', () => {
    const c = parseConfig({ ...base })
    expect(c).toMatchObject({ bridge: 'cni0', isGateway: false, ipMasq: false, hairpinMode: false, stateDir: '/var/lib/cinch', agentSocket: '/run/cinch/agent.sock', policyTimeoutMs: 10000 })
  })
  it('does not modify its input', () => {
    const conf = { ...base }
    parseConfig(conf)
    expect(conf).not.toHaveProperty('bridge')
  })
  it('isDefaultGateway implies isGateway', () => {
    expect(parseConfig({ ...base, isDefaultGateway: true }).isGateway).toBe(true)
  })
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['wrong type', { isGateway: 'yes' }, /isGateway: must be boolean/],
    ['bridge name too long', { bridge: 'a-very-long-bridge-name' }, /bridge: must NOT have more than 15 characters/],
    ['bridge name of 8 two-byte characters (16 bytes)', { bridge: 'éééééééé' }, /bridge: must match pattern/],
    ['bridge name ..', { bridge: '..' }, /bridge: ".." is \. or \.\./],
    ['bridge name with a quote', { bridge: 'br"0' }, /bridge: must match pattern/],
    ['mtu too small', { mtu: 10 }, /mtu: must be >= 68/],
    ['hairpin with promisc', { hairpinMode: true, promiscMode: true }, /promiscMode: cannot be set together with hairpinMode/],
    ['bad mac capability', { runtimeConfig: { mac: 'zz' } }, /runtimeConfig.mac: must match pattern/],
    // SPEC "Network configuration": the name's pattern; it ends up in nft comments and file names.
    ['a network name with a quote', { name: 'net" } drop' }, /name: must match pattern/],
    ['a network name with a slash', { name: '../x' }, /name: must match pattern/],
  ]
  for (const [name, extra, msg] of bad) {
    it(`rejects ${name} with code 7 naming the key`, () => {
      const e = codeOf(() => parseConfig({ ...base, ...extra }))
      expect(e.code).toBe(7)
      expect(e.details).toMatch(msg)
    })
  }
  it('accepts unknown keys', () => expect(parseConfig({ ...base, vlan: 5, whatever: {} }).bridge).toBe('cni0'))
})

describe('hostVethName', () => {
  it('is cinch + 10 hex, fits IFNAMSIZ, differs per ifname', () => {
    const a = hostVethName('abc', 'eth0')
    expect(a).toMatch(/^cinch[0-9a-f]{10}$/)
    expect(a).toBe(hostVethName('abc', 'eth0'))
    expect(a).not.toBe(hostVethName('abc', 'eth1'))
  })
})
