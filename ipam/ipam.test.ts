import { describe, expect, it } from 'vitest'
import { CniError, type NetConf } from '../lib/cni/index.js'
import { parseIpamConfig } from './config.js'
import { allocate, collectGarbage, releaseOwner, verifyOwner } from './ipam.js'
import type { Allocation } from './store.js'
import { MemoryStore } from './store-fake.js'

const cfgOf = (ipam: object, extra: object = {}, args: Record<string, string> = {}) =>
  parseIpamConfig({ cniVersion: '1.1.0', name: 'n', type: 't', ipam: { type: 'cinch-ipam', ...ipam }, ...extra } as NetConf, args)
const dual = cfgOf({ ranges: [[{ subnet: '10.1.0.0/29' }], [{ subnet: 'fd00::/125' }]] })
const A = { containerId: 'ctr-a', ifName: 'eth0' }
const B = { containerId: 'ctr-b', ifName: 'eth0' }

function thrown(fn: () => unknown): CniError {
  try {
    fn()
  } catch (err) {
    if (err instanceof CniError) return err
    throw err
  }
  throw new Error('did not throw')
}

describe('allocate (ADD)', () => {
  it('gives one address per range set with its gateway, and records the owner', () => {
    const store = new MemoryStore()
    expect(allocate(store, dual, A)).toEqual([
      { address: '10.1.0.2/29', gateway: '10.1.0.1' },
      { address: 'fd00::2/125', gateway: 'fd00::1' },
    ])
    expect(store.allocations.get('10.1.0.2')).toEqual({ ip: '10.1.0.2', ...A })
    expect(store.locked).toBe(false)
  })

  it('returns the same addresses for a repeated ADD of the same container and ifname', () => {
    const store = new MemoryStore()
    const first = allocate(store, dual, A)
    allocate(store, dual, B)
    expect(allocate(store, dual, A)).toEqual(first)
    expect(store.allocations.size).toBe(4)
  })

  it('gives another interface of the same container its own address', () => {
    const store = new MemoryStore()
    const a = allocate(store, dual, A)
    const a2 = allocate(store, dual, { ...A, ifName: 'net1' })
    expect(a2[0].address).not.toBe(a[0].address)
  })

  it('continues round robin after the last reserved address, not the lowest free one', () => {
    const store = new MemoryStore()
    allocate(store, dual, A) // .2
    allocate(store, dual, B) // .3
    releaseOwner(store, A)
    expect(allocate(store, dual, { containerId: 'c', ifName: 'eth0' })[0].address).toBe('10.1.0.4/29')
  })

  it('hands out a requested address (runtimeConfig.ips)', () => {
    const cfg = cfgOf({ ranges: [[{ subnet: '10.1.0.0/24' }]] }, { runtimeConfig: { ips: ['10.1.0.77/24'] } })
    expect(allocate(new MemoryStore(), cfg, A)).toEqual([{ address: '10.1.0.77/24', gateway: '10.1.0.1' }])
  })

  it('hands out the address asked for by CNI_ARGS IP=', () => {
    const cfg = cfgOf({ ranges: [[{ subnet: '10.1.0.0/24' }]] }, {}, { IP: '10.1.0.9' })
    expect(allocate(new MemoryStore(), cfg, A)[0].address).toBe('10.1.0.9/24')
  })

  it.each([
    ['outside rangeStart..rangeEnd', { ranges: [[{ subnet: '10.1.0.0/24', rangeStart: '10.1.0.100' }]] }, '10.1.0.5', 7, 'outside the range'],
    ['the gateway', { ranges: [[{ subnet: '10.1.0.0/24' }]] }, '10.1.0.1', 7, 'is reserved'],
    ['in no range set', { ranges: [[{ subnet: '10.1.0.0/24' }]] }, '10.7.0.5', 7, 'failed to allocate all requested IPs'],
  ])('refuses a requested address %s', (_n, ipam, ip, code, msg) => {
    const store = new MemoryStore()
    const e = thrown(() => allocate(store, cfgOf(ipam, { runtimeConfig: { ips: [ip] } }), A))
    expect([e.code, e.msg.includes(msg)]).toEqual([code, true])
    expect(store.allocations.size).toBe(0)
  })

  it('refuses a requested address that another container holds, naming it', () => {
    const store = new MemoryStore([{ ip: '10.1.0.9', ...B }])
    const e = thrown(() => allocate(store, cfgOf({ subnet: '10.1.0.0/24' }, { runtimeConfig: { ips: ['10.1.0.9'] } }), A))
    expect(e.code).toBe(999)
    expect(e.details).toContain('ctr-b')
    expect(store.allocations.get('10.1.0.9')).toEqual({ ip: '10.1.0.9', ...B })
  })

  it('fails with code 999 naming the range when it is exhausted (as host-local)', () => {
    const store = new MemoryStore()
    const cfg = cfgOf({ ranges: [[{ subnet: '10.1.0.0/29' }]] })
    for (let i = 0; i < 5; i++) allocate(store, cfg, { containerId: `c${i}`, ifName: 'eth0' }) // .2 .. .6
    const e = thrown(() => allocate(store, cfg, A))
    expect(e.code).toBe(999)
    expect(e.msg).toBe('no IP addresses available in range set 0 (10.1.0.0/29 10.1.0.1-10.1.0.6)')
  })

  it('rolls back the first family when the second is exhausted', () => {
    const store = new MemoryStore()
    const cfg = cfgOf({ ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: 'fd00::/126', rangeEnd: 'fd00::2' }]] }) // v6: only ::2
    allocate(store, cfg, B)
    expect(() => allocate(store, cfg, A)).toThrow(/range set 1/)
    expect([...store.allocations.values()].filter((a) => a.containerId === A.containerId)).toEqual([])
  })

  it('releases the lock and what it reserved when the store fails mid-ADD', () => {
    class FailingStore extends MemoryStore {
      n = 0
      override reserve(a: Allocation, rangeId: string): boolean {
        if (++this.n === 2) throw new Error('disk full')
        return super.reserve(a, rangeId)
      }
    }
    const store = new FailingStore()
    expect(() => allocate(store, dual, A)).toThrow('disk full')
    expect(store.allocations.size).toBe(0)
    expect(store.locked).toBe(false)
  })

  it('skips an address taken behind its back (reserve returns false)', () => {
    class RacyStore extends MemoryStore {
      override reserve(a: Allocation, rangeId: string): boolean {
        if (a.ip === '10.1.0.2') return false
        return super.reserve(a, rangeId)
      }
    }
    expect(allocate(new RacyStore(), dual, A)[0].address).toBe('10.1.0.3/29')
  })
})

describe('releaseOwner (DEL)', () => {
  it('releases both families and is idempotent', () => {
    const store = new MemoryStore()
    allocate(store, dual, A)
    allocate(store, dual, B)
    expect(releaseOwner(store, A).sort()).toEqual(['10.1.0.2', 'fd00::2'])
    expect(releaseOwner(store, A)).toEqual([])
    expect([...store.allocations.keys()].sort()).toEqual(['10.1.0.3', 'fd00::3'])
  })
  it('releases files written by old host-local with the container ID alone', () => {
    const store = new MemoryStore([{ ip: '10.1.0.4', containerId: 'ctr-a', ifName: '' }])
    expect(releaseOwner(store, A)).toEqual(['10.1.0.4'])
  })
})

describe('verifyOwner (CHECK)', () => {
  it('passes for an allocated container, fails for an unknown one', () => {
    const store = new MemoryStore()
    allocate(store, dual, A)
    expect(() => verifyOwner(store, dual, A)).not.toThrow()
    expect(() => verifyOwner(store, dual, B)).toThrow('no address allocated to container ctr-b eth0')
  })
  it('fails when prevResult names an address the container does not hold', () => {
    const store = new MemoryStore()
    allocate(store, dual, A)
    allocate(store, dual, B)
    const prev = { cniVersion: '1.1.0', ips: [{ address: '10.1.0.3/29' }] }
    expect(() => verifyOwner(store, dual, A, prev)).toThrow('prevResult address 10.1.0.3/29 is not allocated to container ctr-a')
  })
})

describe('collectGarbage (GC)', () => {
  it('releases every allocation not in valid-attachments, keeps the valid ones', () => {
    const store = new MemoryStore()
    allocate(store, dual, A)
    allocate(store, dual, B)
    allocate(store, dual, { containerId: 'ctr-a', ifName: 'net1' })
    const released = collectGarbage(store, [{ containerID: 'ctr-a', ifname: 'eth0' }])
    expect(released).toHaveLength(4)
    expect([...store.allocations.values()].every((a) => a.containerId === 'ctr-a' && a.ifName === 'eth0')).toBe(true)
    expect(store.allocations.size).toBe(2)
  })
  it('keeps allocations younger than the minimum age: an ADD may be in flight', () => {
    const store = new MemoryStore([{ ip: '10.1.0.2', ...A }, { ip: '10.1.0.3', ...B }])
    store.reservedAt.set('10.1.0.2', 100_000)
    store.reservedAt.set('10.1.0.3', 10_000)
    expect(collectGarbage(store, [], { nowMs: 120_000, minAgeMs: 60_000 })).toEqual(['10.1.0.3'])
    expect([...store.allocations.keys()]).toEqual(['10.1.0.2'])
  })
  it('an empty list releases everything, including unreadable (ownerless) files', () => {
    const store = new MemoryStore([{ ip: '10.1.0.2', containerId: '', ifName: '' }, { ip: '10.1.0.3', ...A }])
    expect(collectGarbage(store, []).sort()).toEqual(['10.1.0.2', '10.1.0.3'])
  })
})
