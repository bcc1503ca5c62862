import { describe, expect, it } from 'vitest'
import { CanonicalAddresses, NodeAddresses } from './addresses.js'

describe('CanonicalAddresses', () => {
  it('the same list again: the same Set, nothing parsed', () => {
    const c = new CanonicalAddresses()
    const a = c.of(['10.0.0.2', 'fd00:0::2'])
    expect([...a]).toEqual(['10.0.0.2', 'fd00::2'])
    expect(c.of(['10.0.0.2', 'fd00:0::2'])).toBe(a)
    expect(c.of(new Set(['10.0.0.2', 'fd00:0::2']))).toBe(a) // any iterable, compared element by element
  })

  it('a changed list: a new Set with the new addresses canonical and the gone ones out; the old Set untouched', () => {
    const c = new CanonicalAddresses()
    const a = c.of(['10.0.0.2', 'fd00:0::2'])
    const b = c.of(['fd00:0::2', 'FD00::3'])
    expect(b).not.toBe(a)
    expect([...b]).toEqual(['fd00::2', 'fd00::3'])
    expect([...a]).toEqual(['10.0.0.2', 'fd00::2'])
    // Shorter, longer, reordered, empty: each a list of its own.
    expect([...c.of(['fd00:0::2'])]).toEqual(['fd00::2'])
    expect([...c.of(['fd00:0::2', '10.0.0.9'])]).toEqual(['fd00::2', '10.0.0.9'])
    expect([...c.of(['10.0.0.9', 'fd00:0::2'])]).toEqual(['10.0.0.9', 'fd00::2'])
    expect(c.of([]).size).toBe(0)
    expect([...c.of(['not an address'])]).toEqual(['not an address']) // matches no entry (theirs are canonical)
  })
})

describe('NodeAddresses', () => {
  it('reads the interfaces at every call: an address added or removed shows at the next', () => {
    let addrs = ['10.0.0.1', 'fe80:0::1']
    const n = new NodeAddresses(() => addrs)
    const a = n.get()
    expect([...a]).toEqual(['10.0.0.1', 'fe80::1'])
    expect(n.get()).toBe(a)
    addrs = ['10.0.0.1', '192.0.2.7']
    expect([...n.get()]).toEqual(['10.0.0.1', '192.0.2.7'])
  })

  it('by default, this namespace\'s interfaces (loopback at least)', () => {
    expect(new NodeAddresses().get().has('127.0.0.1')).toBe(true)
  })
})
