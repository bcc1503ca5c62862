// @kubernetes/client-node 2 depends on undici 8, which declares Node >= 22.19 and, at load time,
// uses APIs Node 20 lacks: zlib.createZstdDecompress (only for `content-encoding: zstd`, which
// the API server never sends unasked) and worker_threads.markAsUncloneable (only guards web Cache
// objects against structuredClone) at load, Promise.withResolvers in fetch. Define stand-ins, before the client loads, so the kube
// source runs on the Node 20 this project targets. TODO(#3): drop once the agent runs on Node 22.
import zlib from 'node:zlib'
import workerThreads from 'node:worker_threads'

const z = zlib as unknown as Record<string, unknown>
if (typeof z.createZstdDecompress !== 'function') {
  z.createZstdDecompress = () => {
    throw new Error('zstd decompression needs Node >= 22.15')
  }
}
const wt = workerThreads as unknown as Record<string, unknown>
if (typeof wt.markAsUncloneable !== 'function') wt.markAsUncloneable = () => {}
// undici's fetch calls Promise.withResolvers (ES2024, Node 22); the standard's own definition.
const P = Promise as unknown as { withResolvers?: () => unknown }
if (typeof P.withResolvers !== 'function') {
  P.withResolvers = function withResolvers<T>() {
    let resolve!: (v: T) => void
    let reject!: (e: unknown) => void
    const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)))
    return { promise, resolve, reject }
  }
}
