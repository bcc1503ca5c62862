// Each stored object's line of the restart snapshot (snapshot.ts), kept with the object so a
// graceful stop only joins them. Writing the snapshot meant turning 67,550 objects back into API
// objects and JSON at SIGTERM (toRaw + JSON.stringify): 0.23-0.95 s of the stop at 30k/30k, which
// the restart waits for (bench/README.md phase 11). Now a line is made once per object: read as it
// was from the snapshot a start loaded (it converted to that very object, and will again), or made
// in the background after the first full list, a few hundred objects per turn of the event loop,
// or at the stop for the few objects that changed since.
//
// Objects are never mutated (sources replace them, model/cluster.ts), so a line stays true for as
// long as its object is in the store; keyed weakly, it goes with the object.
import type { ClusterState } from '../model/cluster.js'
import type { Kind } from './convert.js'
import { toRaw } from './unconvert.js'

const lines = new WeakMap<object, string>()

/** The JSON text of `value` as an API object of `kind` (a snapshot line), made once per object. */
export function snapshotLine(kind: Kind, value: object): string {
  let line = lines.get(value)
  if (line === undefined) lines.set(value, (line = JSON.stringify(toRaw(kind, value))))
  return line
}

/** `line` is what `value` was converted from (a snapshot's line, read back at a start). */
export function rememberLine(value: object, line: string): void {
  lines.set(value, line)
}

export const hasLine = (value: object): boolean => lines.has(value)

const FIELDS: [Kind, keyof ClusterState][] = [['Namespace', 'namespaces'], ['Pod', 'pods'], ['NetworkPolicy', 'policies'], ['Node', 'nodes'], ['ClusterNetworkPolicy', 'clusterNetworkPolicies']]
/** Objects a turn: ~0.3-0.5 ms at 30k, what a change arriving meanwhile may wait at most. */
const PER_TURN = 128

/**
 * Makes the lines of every object of `state` (an immutable snapshot of the store) that has none,
 * PER_TURN objects per turn of the event loop (setImmediate: the I/O of a turn, a watch event, goes
 * first). Returns a function that stops it.
 */
export function fillLinesInBackground(state: ClusterState, onDone?: (made: number) => void): () => void {
  let stopped = false
  let made = 0
  const todo = FIELDS.map(([kind, field]) => [kind, state[field].values()] as const)
  let k = 0
  const turn = () => {
    if (stopped) return
    let n = 0
    while (k < todo.length && n < PER_TURN) {
      const [kind, it] = todo[k]!
      const next = it.next()
      if (next.done) { k++; continue }
      n++
      const v = next.value as object
      if (!lines.has(v)) { snapshotLine(kind, v); made++ }
    }
    if (k < todo.length) setImmediate(turn).unref()
    else onDone?.(made)
  }
  setImmediate(turn).unref()
  return () => void (stopped = true)
}
