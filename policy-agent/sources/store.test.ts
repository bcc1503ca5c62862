// The store hands out snapshots that later writes never change, and keeps problems per object.
import { describe, expect, it } from 'vitest'
import { ClusterStore } from './store.js'
import { changesBetween } from '../compile/changes.js'

const ns = (name: string, labels: unknown = {}) => ({ metadata: { name, labels } })

describe('ClusterStore', () => {
  it('a snapshot never changes under later writes; untouched kinds keep their map', () => {
    const s = new ClusterStore()
    s.upsert('Namespace', ns('a'))
    const first = s.state()
    expect(s.state()).toBe(first)
    expect(s.upsert('Namespace', ns('b'))).toBe(true)
    const second = s.state()
    expect([...first.namespaces.keys()]).toEqual(['a'])
    expect([...second.namespaces.keys()].sort()).toEqual(['a', 'b'])
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

  it('a snapshot at 3,000 objects stays as it was through writes to every shard', () => {
    const s = new ClusterStore()
    for (let i = 0; i < 3000; i++) s.upsert('Namespace', ns(`n${i}`, { i: String(i) }))
    const before = s.state()
    const copy = new Map([...before.namespaces].map(([k, v]) => [k, v]))
    for (let i = 0; i < 3000; i += 2) s.remove('Namespace', ns(`n${i}`))
    for (let i = 1; i < 3000; i += 2) s.upsert('Namespace', ns(`n${i}`, { i: 'x' }))
    s.upsert('Namespace', ns('new'))
    expect(before.namespaces.size).toBe(3000)
    expect(new Map(before.namespaces)).toEqual(copy)
    const after = s.state()
    expect(after.namespaces.size).toBe(1501)
    expect(after.namespaces.get('n1')?.labels.i).toBe('x')
    expect(after.namespaces.has('n0')).toBe(false)
    expect([...after.namespaces.values()].length).toBe(1501)
    expect(() => after.namespaces.set('x', {} as never)).toThrow(TypeError)
  })

  it('each snapshot tells the keys written since an earlier one, per kind', () => {
    const s = new ClusterStore()
    s.upsert('Namespace', ns('a'))
    const first = s.state()
    s.upsert('Namespace', ns('b'))
    s.upsert('Namespace', ns('a', { x: '1' }))
    s.upsert('Namespace', ns('a', { x: '1' })) // same content: no change
    const second = s.state()
    s.remove('Namespace', ns('b'))
    s.upsert('Pod', { metadata: { namespace: 'a', name: 'p' }, status: { podIPs: [{ ip: '10.0.0.1' }] } })
    const third = s.state()
    expect([...changesBetween(first, second)!.namespaces].sort()).toEqual(['a', 'b'])
    expect(changesBetween(first, second)!.pods.size).toBe(0)
    const c = changesBetween(first, third)!
    expect([...c.namespaces].sort()).toEqual(['a', 'b'])
    expect([...c.pods]).toEqual(['a/p'])
    expect(changesBetween(third, third)!.namespaces.size).toBe(0)
    expect(changesBetween(third, first)).toBeUndefined() // not forward: scan
    expect(changesBetween(new ClusterStore().state(), third)).toBeUndefined() // another store
  })
})

describe('ClusterStore: a first list published before its end (the agent compiles ahead of the last page)', () => {
  it('a snapshot then holds what the list gave so far, and the changes after it are the rest alone', () => {
    const store = new ClusterStore()
    const r = store.replace('Namespace')
    for (const n of ['a', 'b', 'c']) r.add(ns(n))
    expect(store.state().namespaces.size).toBe(0) // not published: nothing shows
    expect(r.publish()).toBe(true)
    const ahead = store.state()
    expect([...ahead.namespaces.keys()].sort()).toEqual(['a', 'b', 'c'])
    for (const n of ['d', 'e']) r.add(ns(n))
    expect(ahead.namespaces.size).toBe(3) // a snapshot never changes
    expect(r.done()).toBe(true)
    const after = store.state()
    expect([...after.namespaces.keys()].sort()).toEqual(['a', 'b', 'c', 'd', 'e'])
    // The compile after the last page visits its objects, not the ones published before.
    expect([...changesBetween(ahead, after)!.namespaces].sort()).toEqual(['d', 'e'])
    expect(after.namespaces.get('a')).toBe(ahead.namespaces.get('a'))
  })

  it('a relist publishes nothing', () => {
    const store = new ClusterStore()
    const first = store.replace('Namespace')
    first.add(ns('old'))
    first.done()
    const r = store.replace('Namespace')
    r.add(ns('new'))
    expect(r.publish()).toBe(false)
    expect([...store.state().namespaces.keys()]).toEqual(['old'])
    r.done()
    expect([...store.state().namespaces.keys()]).toEqual(['new'])
  })
})
