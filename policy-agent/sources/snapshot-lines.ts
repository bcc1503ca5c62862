// Each stored object's line of the restart snapshot (snapshot.ts), kept with the object so a
// graceful stop only joins them. Writing the snapshot meant turning 67,550 objects back into API
// objects and JSON at SIGTERM (toRaw + JSON.stringify): 0.23-0.95 s of the stop at 30k/30k, which
// the restart waits for (bench/README.md phase 11). Now a line is made once per object: read as it
// was from the snapshot a start loaded (it converted to that very object, and will again), or made
// in the background after the first full list and again every minute for the objects that changed
// since (128 per turn of the event loop), or at the stop for those that changed since the last pass.
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
/** Lines made a turn: ~0.3-0.5 ms at 30k, what a change arriving meanwhile may wait at most. */
const MADE_PER_TURN = 128
/** Objects looked at a turn (most have their line, after the first pass): ~0.1 ms. */
const SEEN_PER_TURN = 2048

/**
 * Makes the line of every object of the store that has none, and again every `everyMs` (objects
 * that changed since have none): MADE_PER_TURN lines per turn of the event loop (setImmediate:
 * the I/O of a turn, a watch event, goes first). A pass walks one snapshot of the store (`state()`:
 * it never changes under its reader). Returns a function that stops it.
 */
export function fillLinesInBackground(state: () => ClusterState, o: { everyMs: number; onPass?: (made: number) => void }): () => void {
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  const pass = () => {
    const s = state()
    const todo = FIELDS.map(([kind, field]) => [kind, s[field].values()] as const)
    let k = 0, made = 0
    const turn = () => {
      if (stopped) return
      let n = 0, seen = 0
      while (k < todo.length && n < MADE_PER_TURN && seen < SEEN_PER_TURN) {
        const [kind, it] = todo[k]!
        const next = it.next()
        if (next.done) { k++; continue }
        seen++
        const v = next.value as object
        if (!lines.has(v)) { snapshotLine(kind, v); made++; n++ }
      }
      if (k < todo.length) return void setImmediate(turn).unref()
      o.onPass?.(made)
      timer = setTimeout(pass, o.everyMs).unref()
    }
    setImmediate(turn).unref()
  }
  pass()
  return () => { stopped = true; clearTimeout(timer) }
}
