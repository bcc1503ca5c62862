import { describe, expect, it } from 'vitest'
import type { Pod } from './cluster.js'
import { addressesByFamily, NO_ADDRESSES } from './pod-addresses.js'

const pod = (ips: string[]): Pod => ({ namespace: 'x', name: 'a', labels: {}, ips, ports: [] })

describe('addressesByFamily', () => {
  it('splits by family in the pod\'s order, canonical, repeats kept, what does not parse dropped', () => {
    const r = addressesByFamily(pod(['10.0.0.1', 'FD00:0::1', 'not-an-ip', '10.0.0.1', '2001:db8::1/64']))
    expect(r).toEqual({ v4: ['10.0.0.1', '10.0.0.1'], v6: ['fd00::1', '2001:db8::1'] })
  })
  it('a single-stack pod written canonically: its addresses as listed, the other family the shared empty one', () => {
    const p = pod(['10.0.0.1'])
    const r = addressesByFamily(p)
    expect(r.v4).toEqual(p.ips)
    expect(r.v6).toBe(NO_ADDRESSES)
    const six = pod(['fd00::1', '2001:db8::2'])
    expect(addressesByFamily(six)).toEqual({ v4: NO_ADDRESSES, v6: six.ips })
    expect(addressesByFamily(pod(['10.00.0.1'])).v4).toEqual(['10.0.0.1']) // leading zero: made anew
    expect(addressesByFamily(pod([]))).toEqual({ v4: NO_ADDRESSES, v6: NO_ADDRESSES })
  })
  it('is made once per pod object', () => {
    const p = pod(['10.0.0.1', 'fd00::1'])
    expect(addressesByFamily(p)).toBe(addressesByFamily(p))
  })
  it('a pod listing 120,000 addresses (podIPs has no bound) costs linear time', () => {
    const many = Array.from({ length: 120_000 }, (_, i) => (i % 2 ? `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}` : `fd00::${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}`))
    const t0 = performance.now()
    const r = addressesByFamily(pod(many))
    expect(r.v4.length + r.v6.length).toBe(120_000)
    // Linear: ~20 ms here; copying the list per address (as it once was) took minutes.
    expect(performance.now() - t0).toBeLessThan(3000)
  }, 10_000)
})
