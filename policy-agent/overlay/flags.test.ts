import { describe, expect, it } from 'vitest'
import { parseOverlayFlags } from './flags.js'

describe('parseOverlayFlags', () => {
  it('defaults: vxlan, VNI 4096, port 4789, /etc/cni/net.d, cluster CIDRs from the Nodes', () => {
    expect(parseOverlayFlags({})).toEqual({
      backend: 'vxlan', clusterCidrs: [], cniConfDir: '/etc/cni/net.d', cniBinDir: '/opt/cni/bin', vni: 4096, port: 4789, underlayMtu: undefined, ipamDataDir: undefined, requireNode: true,
    })
  })
  it('takes every flag, cluster CIDRs comma separated and canonical', () => {
    expect(parseOverlayFlags({
      backend: 'host-gw', 'cluster-cidr': '10.244.0.0/16, fd00:10:244::1/56', 'cni-conf-dir': '/x', 'cni-bin-dir': '/b', vni: '7', 'vxlan-port': '8472', 'underlay-mtu': '9000', 'ipam-data-dir': '/d', manifests: '/m',
    })).toEqual({ backend: 'host-gw', clusterCidrs: ['10.244.0.0/16', 'fd00:10:244::/56'], cniConfDir: '/x', cniBinDir: '/b', vni: 7, port: 8472, underlayMtu: 9000, ipamDataDir: '/d', requireNode: false })
  })
  it('--no-overlay turns the controller off', () => {
    expect(parseOverlayFlags({ 'no-overlay': true, backend: 'bogus' })).toBeUndefined()
  })
  it.each([
    [{ backend: 'gre' }, /--backend: "gre"/],
    [{ 'cluster-cidr': '10.0.0.0/8,nope' }, /--cluster-cidr: nope is not a CIDR/],
    [{ 'cluster-cidr': '10.244.0.0' }, /--cluster-cidr: 10.244.0.0 is not a CIDR/],
    [{ vni: '16777216' }, /--vni: 16777216 is not an integer in 1\.\.16777215/],
    [{ 'vxlan-port': '0' }, /--vxlan-port/],
    [{ 'underlay-mtu': '1300' }, /--underlay-mtu/],
    [{ vni: '1e3' }, /--vni/],
  ])('refuses %o', (flags, msg) => {
    expect(() => parseOverlayFlags(flags)).toThrow(msg)
  })
})
