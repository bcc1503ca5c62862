// The store hands out snapshots that later writes never change, and keeps problems per object.
import { describe, expect, it } from 'vitest'
import { ClusterStore } from './store.js'

const ns = (name: string, labels: unknown = {}) => ({ metadata: { name, labels } })

describe('ClusterStore', () => {
  it('copies a map on the first write after a snapshot, and only that map', () => {
    const s = new ClusterStore()
    s.upsert('Namespace', ns('a'))
    const first = s.state()
    expect(s.state()).toBe(first)
    expect(s.upsert('Namespace', ns('b'))).toBe(true)
    const second = s.state()
    expect([...first.namespaces.keys()]).toEqual(['a'])
    expect([...second.namespaces.keys()]).toEqual(['a', 'b'])
    expect(second.namespaces.get('a')).toBe(first.namespaces.get('a'))
    expect(second.pods).toBe(first.pods)
    expect(() => second.namespaces.delete('a')).toThrow(TypeError)
  })

  it('an update with the same content is no change and keeps the object', () => {
    const s = new ClusterStore()
    s.upsert('Namespace', ns('a', { x: '1' }))
    const snap = s.state()
    expect(s.upsert('Namespace', { ...ns('a', { x: '1' }), metadata: { name: 'a', labels: { x: '1' }, resourceVersion: '9' } })).toBe(false)
    expect(s.state()).toBe(snap)
  })

  it('a relist replaces the kind whole, drops problems of objects gone or fixed, reports new ones', () => {
    const s = new ClusterStore()
    s.upsert('Namespace', ns('bad', 'x'))
    s.upsert('Namespace', ns('gone'))
    expect(s.problems()).toEqual([{ where: 'Namespace bad', reason: 'metadata.labels: expected an object, got string "x"' }])
    const r = s.replace('Namespace')
    r.add(ns('bad'))
    r.add(ns('worse', 5))
    expect(s.state().namespaces.has('gone')).toBe(true) // not before done()
    expect(r.done()).toBe(true)
    expect([...s.state().namespaces.keys()].sort()).toEqual(['bad'])
    expect(s.problems()).toEqual([{ where: 'Namespace worse', reason: 'metadata.labels: expected an object, got number 5' }])
  })
})
