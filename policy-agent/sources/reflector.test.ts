import { describe, expect, it } from 'vitest'
import { ApiError, type KubeApi, type ListPage } from './kube-http.js'
import { Reflector } from './reflector.js'
import { ClusterStore } from './store.js'

const ns = (name: string) => ({ metadata: { name, resourceVersion: '1' } })

/** A paged namespace list of `n` items, `size` per page; `gone(k)`: the k-th request answers 410. */
function pagedApi(n: number, size: number, log: string[], gone: (request: number) => boolean = () => false, counted = false): KubeApi {
  let requests = 0
  return {
    async listPage(_path, query): Promise<ListPage> {
      const k = requests++
      const from = Number(query.continue ?? 0)
      log.push(`request ${from}`)
      await new Promise((r) => setTimeout(r, 1))
      if (gone(k)) throw new ApiError('expired', 410)
      const items = Array.from({ length: Math.min(size, n - from) }, (_, i) => ns(`ns-${from + i}`))
      return { items, resourceVersion: '7', ...(from + size < n ? { continue: String(from + size), ...(counted ? { remainingItemCount: n - from - size } : {}) } : {}) }
    },
    watch: (_p, _q, _e, { signal }) => new Promise((resolve) => signal.addEventListener('abort', () => resolve())),
  }
}

function run(api: KubeApi, log: string[], onLastPageNext?: (store: ClusterStore, publish: () => boolean) => void, store = new ClusterStore(), wanted = () => true) {
  const replace = store.replace.bind(store)
  store.replace = (kind) => {
    const r = replace(kind)
    return { add: (raw) => (log.push(`add ${(raw as { metadata: { name: string } }).metadata.name}`), r.add(raw)), problem: r.problem, publish: r.publish, done: r.done }
  }
  return new Promise<{ store: ClusterStore; reflector: Reflector }>((resolve, reject) => {
    const reflector: Reflector = new Reflector({
      api, store, kind: 'Namespace', path: '/api/v1/namespaces', pageSize: 2, minBackoffMs: 1, maxBackoffMs: 1,
      onListed: () => resolve({ store, reflector }), onChange: () => {}, onError: reject, watchTimeoutSeconds: () => 60,
      ...(onLastPageNext ? { beforeLastPage: { wanted, look: (publish: () => boolean) => onLastPageNext(store, publish) } } : {}),
    })
    reflector.start()
  })
}

describe('Reflector list', () => {
  it('requests the next page before converting the one it has', async () => {
    const log: string[] = []
    const { store, reflector } = await run(pagedApi(5, 2, log), log)
    await reflector.stop()
    expect(log.slice(0, 4)).toEqual(['request 0', 'request 2', 'add ns-0', 'add ns-1'])
    expect(log.indexOf('request 4')).toBeLessThan(log.indexOf('add ns-2'))
    expect([...store.state().namespaces.keys()].sort()).toEqual(['ns-0', 'ns-1', 'ns-2', 'ns-3', 'ns-4'])
  })

  it('a prefetched page answering 410 restarts the list once, and nothing of the first try is kept half', async () => {
    const log: string[] = []
    const { store, reflector } = await run(pagedApi(5, 2, log, (k) => k === 2), log)
    await reflector.stop()
    expect(log.filter((l) => l === 'request 0')).toHaveLength(2)
    expect([...store.state().namespaces.keys()].sort()).toEqual(['ns-0', 'ns-1', 'ns-2', 'ns-3', 'ns-4'])
  })
})

describe('Reflector: a look before the last page (the agent compiles ahead of it)', () => {
  const names = (store: ClusterStore) => [...store.state().namespaces.keys()].sort()

  it('is offered once, after every page but the last is in the store and before the last is asked for', async () => {
    const log: string[] = []
    let seen: string[] | undefined
    const { store, reflector } = await run(pagedApi(7, 2, log, () => false, true), log, (store, publish) => {
      log.push('look')
      expect(publish()).toBe(true)
      seen = names(store)
    })
    await reflector.stop()
    expect(log.filter((l) => l === 'look')).toHaveLength(1)
    // Pages 0-1, 2-3, 4-5 and then the last (6): the look comes after ns-5, before the request for 6.
    expect(log.indexOf('look')).toBeGreaterThan(log.indexOf('add ns-5'))
    expect(log.indexOf('look')).toBeLessThan(log.indexOf('request 6'))
    expect(seen).toEqual(['ns-0', 'ns-1', 'ns-2', 'ns-3', 'ns-4', 'ns-5'])
    expect(names(store)).toEqual(['ns-0', 'ns-1', 'ns-2', 'ns-3', 'ns-4', 'ns-5', 'ns-6'])
  })

  it('is not offered when the server does not say how many items are left', async () => {
    const log: string[] = []
    const { reflector } = await run(pagedApi(7, 2, log), log, () => log.push('look'))
    await reflector.stop()
    expect(log).not.toContain('look')
    expect(log.indexOf('request 6')).toBeLessThan(log.indexOf('add ns-4')) // prefetched as ever
  })

  it('is not offered when not wanted (another kind still lists): the last page is prefetched as ever', async () => {
    const log: string[] = []
    const { reflector } = await run(pagedApi(7, 2, log, () => false, true), log, () => log.push('look'), new ClusterStore(), () => false)
    await reflector.stop()
    expect(log).not.toContain('look')
    expect(log.indexOf('request 6')).toBeLessThan(log.indexOf('add ns-4'))
  })

  it('a relist publishes nothing: objects the last list had stay until the new one is complete', async () => {
    const store = new ClusterStore()
    const old = store.replace('Namespace')
    for (const n of ['gone', 'ns-0']) old.add(ns(n))
    old.done()
    const log: string[] = []
    let seen: string[] | undefined
    const { reflector } = await run(pagedApi(7, 2, log, () => false, true), log, (s, publish) => {
      expect(publish()).toBe(false)
      seen = names(s)
    }, store)
    await reflector.stop()
    expect(seen).toEqual(['gone', 'ns-0'])
    expect(names(store)).toEqual(['ns-0', 'ns-1', 'ns-2', 'ns-3', 'ns-4', 'ns-5', 'ns-6'])
  })
})

describe('Reflector and a resourceVersion from the server\'s future (etcd restored from a backup)', () => {
  // kube-apiserver waits up to 3 s for its watch cache to reach such a version, then answers 504
  // "Too large resource version" (apimachinery NewTooLargeResourceVersionError), and again at every
  // retry, until its own history passes the version -- and then the events between are skipped.
  const tooLarge = { kind: 'Status', status: 'Failure', code: 504, reason: 'Timeout', message: 'Timeout: Too large resource version: 900, current: 40', details: { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 } }
  function restoredApi(log: string[]): KubeApi {
    return {
      async listPage() {
        log.push('list')
        return { items: [ns('real')], resourceVersion: '40' }
      },
      watch: (_p, q, onEvent, { signal, onOpen }) => new Promise<void>((resolve, reject) => {
        signal.addEventListener('abort', () => resolve())
        log.push(`watch ${q.resourceVersion}`)
        if (Number(q.resourceVersion) <= 40) return
        // The error comes after the server's wait, later than a resumed watch's maxMs.
        setTimeout(() => {
          onOpen?.()
          try { onEvent({ type: 'ERROR', object: tooLarge }) } catch (err) { reject(err) }
        }, 80)
      }),
    }
  }
  const until = async (what: string, ok: () => boolean) => {
    for (const t0 = Date.now(); !ok(); await new Promise((r) => setTimeout(r, 10))) if (Date.now() - t0 > 3000) throw new Error(`not ${what} after 3 s`)
  }

  it.each([
    ['resumed from a snapshot (caught up by its 2 s bound before the answer)', true],
    ['watching after a list', false],
  ])('%s: lists again instead of retrying the watch from that version', async (_name, resumed) => {
    const log: string[] = []
    const store = new ClusterStore()
    const snap = store.replace('Namespace')
    snap.add(ns('ghost'))
    snap.done()
    const errors: unknown[] = []
    let rv = resumed ? '900' : ''
    const api = restoredApi(log)
    // Watching after a list: the list's version is 900 until the restore, 40 after it.
    const listPage = api.listPage
    api.listPage = async (...a) => ({ ...(await listPage(...a)), ...(rv === '' ? { resourceVersion: '900' } : {}) })
    const r = new Reflector({
      api, store, kind: 'Namespace', path: '/api/v1/namespaces', pageSize: 500, minBackoffMs: 5, maxBackoffMs: 20,
      onListed: () => { rv = 'listed' }, onChange: () => {}, onError: (e) => void errors.push(e), watchTimeoutSeconds: () => 60,
      ...(resumed ? { resume: { resourceVersion: '900', quietMs: 10, maxMs: 30 } } : {}),
    })
    r.start()
    try {
      await until('listed with the restored server\'s objects', () => store.state().namespaces.has('real') && !store.state().namespaces.has('ghost') && log.filter((l) => l === 'list').length === (resumed ? 1 : 2))
      await until('watching from the restored server\'s version', () => log.at(-1) === 'watch 40')
      expect(r.resourceVersion).toBe('40')
    } finally {
      await r.stop()
    }
  })
})
