import { describe, expect, it } from 'vitest'
import { validAttachments } from './gc.js'

const conf = (extra: Record<string, unknown>) => ({ cniVersion: '1.1.0', name: 'n', type: 't', ...extra })

describe('validAttachments', () => {
  it('returns the list', () => {
    expect(validAttachments(conf({ 'cni.dev/valid-attachments': [{ containerID: 'c1', ifname: 'eth0' }] }))).toEqual([{ containerID: 'c1', ifname: 'eth0' }])
    expect(validAttachments(conf({ 'cni.dev/valid-attachments': [] }))).toEqual([])
  })
  // Issue 8.8: an absent list is not an empty one; treating it so frees every running pod.
  it.each([
    ['absent', {}, /is required for GC/],
    ['not an array', { 'cni.dev/valid-attachments': {} }, /must be an array/],
    ['an entry without containerID', { 'cni.dev/valid-attachments': [{ ifname: 'eth0' }] }, /\[0\]\.containerID/],
    ['an entry with a path for an ID', { 'cni.dev/valid-attachments': [{ containerID: '../x', ifname: 'eth0' }] }, /\[0\]\.containerID/],
    ['an entry with a bad ifname', { 'cni.dev/valid-attachments': [{ containerID: 'c', ifname: 'a/b' }] }, /\[0\]\.ifname/],
    ['a null entry', { 'cni.dev/valid-attachments': [null] }, /\[0\]\.containerID/],
  ])('refuses a list that is %s with code 7', (_n, extra, details) => {
    expect(() => validAttachments(conf(extra))).toThrowError(expect.objectContaining({ code: 7, details: expect.stringMatching(details) }))
  })
})
