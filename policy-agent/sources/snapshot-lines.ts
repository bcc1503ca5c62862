// Each stored object's line of the restart snapshot (snapshot.ts), kept with the object so a
// graceful stop only joins them. Writing the snapshot meant turning 67,550 objects back into API
// objects and JSON at SIGTERM (toRaw + JSON.stringify): 0.23-0.95 s of the stop at 30k/30k, which
// the restart waits for (bench/README.md phase 11). Now a line is made once per object, as the
// object arrives (store.ts, ~4 us each: ~0.27 s spread over a cold start's lists, a few us a watch
// event), or read as it was from the snapshot a start loaded (it converted to that very object,
// and will again). Made in the background instead, after the first list, it ran a turn of ~0.5 ms
// before most changes of the next seconds (their wait for the sync went from 0.1 to 0.7 ms).
//
// Objects are never mutated (sources replace them, model/cluster.ts), so a line stays true for as
// long as its object is in the store; keyed weakly, it goes with the object.
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
