import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { OverlayController } from './controller.js'
import { readiness } from '../server/http.js'

describe('OverlayController without a Node object for this node', () => {
  let dir = ''
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it.each([
    ['no Nodes at all (manifest mode, single node)', []],
    ['only other nodes', [{ name: 'other', podCIDRs: ['10.244.2.0/24'], internalIPs: ['192.168.1.2'] }]],
  ])('%s: programs nothing and writes no conflist', async (_name, nodes) => {
    dir = mkdtempSync(join(tmpdir(), 'cinch-ctl-'))
    const c = new OverlayController({ nodeName: 'me', backend: 'vxlan', log: pino({ level: 'silent' }), cniConfDir: dir })
    await expect(c.sync(nodes)).resolves.toBeUndefined()
    expect(existsSync(join(dir, '10-cinch.conflist'))).toBe(false)
    // From manifests the conflist is the user's: nothing for the overlay to wait for.
    expect(c.readiness()).toEqual({ ready: true })
    // Against a cluster, kubelet registers the Node first: without it this node cannot start pods.
    const cluster = new OverlayController({ nodeName: 'me', backend: 'vxlan', log: pino({ level: 'silent' }), cniConfDir: dir, requireNode: true })
    await cluster.sync(nodes)
    expect(cluster.readiness()).toEqual({ ready: false, reason: 'no Node object named me (is --node right?)' })
  })

  it('a Node without podCIDR: not ready, and the reason says how the cluster must allocate them', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cinch-ctl-'))
    const c = new OverlayController({ nodeName: 'me', backend: 'vxlan', log: pino({ level: 'silent' }), cniConfDir: dir })
    await expect(c.sync([{ name: 'me', podCIDRs: [], internalIPs: ['192.168.1.1'] }])).resolves.toBeUndefined()
    expect(existsSync(join(dir, '10-cinch.conflist'))).toBe(false)
    const r = readiness(true, c.readiness())
    expect(r.ready).toBe(false)
    expect(r.notReady).toMatch(/^node me has no podCIDR: .*--allocate-node-cidrs.*kubeadm init --pod-network-cidr/)
  })
})

describe('readiness', () => {
  it('needs the first sync and, with the overlay on, the node network', () => {
    expect(readiness(false, { ready: true })).toEqual({ ready: false, notReady: 'first policy sync not in the kernel yet' })
    expect(readiness(true, { ready: false, reason: 'r' })).toEqual({ ready: false, notReady: 'r' })
    expect(readiness(true, { ready: true })).toEqual({ ready: true })
    expect(readiness(true, undefined)).toEqual({ ready: true }) // --no-overlay: no conflist is ours to write
  })
})
