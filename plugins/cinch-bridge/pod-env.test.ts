import { describe, expect, it } from 'vitest'
import { CniError } from '../../lib/cni/index.js'
import { checkRecordName, podIdentity, requestedMac } from './pod-env.js'
import { parseConfig } from './config.js'

const env = { command: 'ADD' as const, containerId: 'c1', netns: '/x', ifName: 'eth0', args: {}, path: [] }
const base = parseConfig({ cniVersion: '1.1.0', name: 'net', type: 'cinch-bridge' })

function codeOf(f: () => unknown): number {
  try {
    f()
  } catch (e) {
    if (e instanceof CniError) return e.code
    throw e
  }
  return 0
}

describe('podIdentity', () => {
  it('passes Kubernetes names and their absence', () => {
    expect(podIdentity({ K8S_POD_NAMESPACE: 'kube-system', K8S_POD_NAME: 'coredns-5d78c9869d-x7k2p.a' })).toEqual({ podNamespace: 'kube-system', podName: 'coredns-5d78c9869d-x7k2p.a' })
    expect(podIdentity({})).toEqual({ podNamespace: '', podName: '' })
  })
  const bad: [string, Record<string, string>][] = [
    ['nft text in the pod name', { K8S_POD_NAME: 'evil { }' }],
    ['a path in the namespace', { K8S_POD_NAMESPACE: '../etc' }],
    ['upper case', { K8S_POD_NAME: 'Web' }],
    ['a namespace longer than a label', { K8S_POD_NAMESPACE: 'a'.repeat(64) }],
    ['a pod name longer than a subdomain', { K8S_POD_NAME: 'a'.repeat(254) }],
    ['a dot in the namespace', { K8S_POD_NAMESPACE: 'a.b' }],
    ['a newline', { K8S_POD_NAME: 'web\nx' }],
  ]
  for (const [name, args] of bad) it(`refuses ${name} with code 4`, () => expect(codeOf(() => podIdentity(args))).toBe(4))
})

describe('requestedMac', () => {
  it('prefers runtimeConfig.mac over CNI_ARGS', () => {
    const c = parseConfig({ ...base, runtimeConfig: { mac: '0a:58:00:00:00:01' } })
    expect(requestedMac(c, { ...env, args: { MAC: '0a:58:00:00:00:02' } })).toBe('0a:58:00:00:00:01')
    expect(requestedMac(base, { ...env, args: { MAC: '0a:58:00:00:00:02' } })).toBe('0a:58:00:00:00:02')
    expect(requestedMac(base, env)).toBeUndefined()
  })
  it('refuses a CNI_ARGS MAC that is no MAC with code 4', () => {
    expect(codeOf(() => requestedMac(base, { ...env, args: { MAC: 'zz:zz' } }))).toBe(4)
  })
  it('refuses a multicast MAC (the kernel would, after IPAM ran): 4 from CNI_ARGS, 7 from runtimeConfig', () => {
    expect(codeOf(() => requestedMac(base, { ...env, args: { MAC: '01:00:5e:00:00:01' } }))).toBe(4)
    expect(codeOf(() => requestedMac(parseConfig({ ...base, runtimeConfig: { mac: '03:00:00:00:00:01' } }), env))).toBe(7)
  })
})

describe('checkRecordName', () => {
  it('refuses a container ID the record file name cannot hold, with code 4', () => {
    expect(codeOf(() => checkRecordName('/var/lib/cinch', { ...env, containerId: 'a'.repeat(64) }))).toBe(0)
    expect(codeOf(() => checkRecordName('/var/lib/cinch', { ...env, containerId: 'a'.repeat(300) }))).toBe(4)
  })
})
