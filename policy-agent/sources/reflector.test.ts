import { describe, expect, it } from 'vitest'
import { ApiError, type KubeApi, type ListPage } from './kube-http.js'
import { Reflector } from './reflector.js'
import { ClusterStore } from './store.js'

const ns = (name: string) => ({ metadata: { name, resourceVersion: '1' } })

/** A paged namespace list of `n` items, `size` per page; `gone(k)`: the k-th request answers 410. */
function pagedApi(n: number, size: number, log: string[], gone: (request: number) => boolean = () => false): KubeApi {
  let requests = 0
  return {
    async listPage(_path, query): Promise<ListPage> {
      const k = requests++
      const from = Number(query.continue ?? 0)
      log.push(`request ${from}`)
      await new Promise((r) => setTimeout(r, 1))
      if (gone(k)) throw new ApiError('expired', 410)
      const items = Array.from({ length: Math.min(size, n - from) }, (_, i) => ns(`ns-${from + i}`))
      return { items, resourceVersion: '7', ...(from + size < n ? { continue: String(from + size) } : {}) }
    },
    watch: (_p, _q, _e, { signal }) => new Promise((resolve) => signal.addEventListener('abort', () => resolve())),
  }
}

function run(api: KubeApi, log: string[]) {
  const store = new ClusterStore()
  const replace = store.replace.bind(store)
  store.replace = (kind) => {
    const r = replace(kind)
    return { add: (raw) => (log.push(`add ${(raw as { metadata: { name: string } }).metadata.name}`), r.add(raw)), problem: r.problem, done: r.done }
  }
  return new Promise<{ store: ClusterStore; reflector: Reflector }>((resolve, reject) => {
    const reflector: Reflector = new Reflector({
      api, store, kind: 'Namespace', path: '/api/v1/namespaces', pageSize: 2, minBackoffMs: 1, maxBackoffMs: 1,
      onListed: () => resolve({ store, reflector }), onChange: () => {}, onError: reject, watchTimeoutSeconds: () => 60,
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
