// Each stored object's line of the restart snapshot (snapshot.ts), kept with the object so a
// graceful stop only joins them. Writing the snapshot meant turning 67,550 objects back into API
// objects and JSON at SIGTERM (toRaw + JSON.stringify): 0.23-0.95 s of the stop at 30k/30k, which
// the restart waits for (bench/README.md phase 11). Now a line is made once per object, as the
// object arrives (store.ts, ~4 us each: ~0.27 s spread over a cold start's lists, a few us a watch
// event), or read as it was from the snapshot a start loaded (it converted to that very object,
// and will again). Made in the background instead, after the first list, it ran a turn of ~0.5 ms
// before most changes of the next seconds (their wait for the sync went from 0.1 to 0.7 ms).
//
// An object of a spec table's kind (snapshot.ts SPEC_TABLE_KINDS) keeps two texts: its line after
// `{"spec":N` (`,"metadata":...}`), and the spec's. A stop writes each distinct spec once
// (snapshotLines), and each object's line as its index and that text: no string is built.
//
// Objects are never mutated (sources replace them, model/cluster.ts), so a line stays true for as
// long as its object is in the store; keyed weakly, it goes with the object.
import type { Kind } from './convert.js'
import type { Json } from './fields.js'
import { SPEC_PREFIX, SPEC_TABLE_KINDS } from './snapshot.js'
import { toRaw } from './unconvert.js'
import { hashedWhole } from '../model/text-keys.js'

const SPEC_ZERO = `${SPEC_PREFIX}0`
/** An object's line; of a spec table's kind, the text after `{"spec":N` and its spec's text. */
interface Line { text: string; spec: string | undefined }
const lines = new WeakMap<object, Line>()

/**
 * The JSON text of `value` as an API object of `kind`, made once per object; of a spec table's
 * kind, the text after `{"spec":N` (its spec's text kept beside it).
 */
export function snapshotLine(kind: Kind, value: object): string {
  return lineOf(kind, value).text
}

/** `value`'s line, made now if it has none (counted in `made`). */
function lineOf(kind: Kind, value: object, made?: { count: number }): Line {
  let line = lines.get(value)
  const tabled = SPEC_TABLE_KINDS.has(kind)
  if (line === undefined || (tabled && line.spec === undefined)) {
    if (made) made.count++
    const raw = toRaw(kind, value) as Record<string, Json>
    if (tabled) {
      const { spec, ...rest } = raw
      // The text after `{"spec":0` of the whole object with a spec index: a slice of one flat
      // string. `,` + the rest's text made a cons string, which the stop's write flattened, each
      // (30k/30k: the first stop's write 174 ms against 33 ms).
      line = { text: JSON.stringify({ spec: 0, ...rest }).slice(SPEC_ZERO.length), spec: internalized(JSON.stringify(spec ?? {})) }
    } else {
      line = { text: JSON.stringify(raw), spec: undefined }
    }
    lines.set(value, line)
  }
  return line
}

/**
 * `text` as V8's one internalized copy of it: equal specs made apart (30,000 pods of a cold start
 * in ~50 specs, 30,000 policies in ~6,400 at 30k/30k) become one string, as a restart snapshot's
 * already are, so the stop's table of distinct specs (snapshotLines) finds each by identity
 * instead of comparing ~200 bytes of a cold string per object. V8's string table holds its
 * strings weakly: a spec no line uses any more goes with it. A text too long to be hashed whole is
 * left as it is (text-keys.ts: a tenant's many long specs would make each insertion compare).
 */
function internalized(text: string): string {
  // A property key is internalized, and Object.keys hands back that copy (the text of an object,
  // `{...}`, is never an array index).
  return hashedWhole(text) ? Object.keys({ [text]: 0 })[0]! : text
}

/**
 * `line` (and for a spec table's kind, `specLine`) is what `value` was converted from: a
 * snapshot's line read back at a start.
 */
export function rememberLine(value: object, line: string, specLine?: string): void {
  lines.set(value, { text: line, spec: specLine })
}

export const hasLine = (value: object): boolean => lines.has(value)

/**
 * The lines of a kind's objects as a snapshot holds them, with the kind's specs table (snapshot.ts),
 * and how many had to be made now (none is expected: each is made as its object arrives).
 */
export function snapshotLines(kind: Kind, values: Iterable<object>): { lines: string[]; specs?: string[]; specOf?: number[]; made: number } {
  const out: string[] = []
  // One lookup an object: lineOf counts what it makes.
  const made = { count: 0 }
  if (!SPEC_TABLE_KINDS.has(kind)) {
    for (const v of values) out.push(lineOf(kind, v, made).text)
    return { lines: out, made: made.count }
  }
  // Equal texts share one entry. Read back from a snapshot they are one string, whose hash V8
  // keeps: the lookups of a restart's stop hash each distinct spec once.
  const table: string[] = []
  const specOf: number[] = []
  const index = new Map<string, number>()
  for (const v of values) {
    const { text, spec } = lineOf(kind, v, made)
    out.push(text)
    // A spec too long to be hashed whole is an entry of its own (text-keys.ts).
    const whole = hashedWhole(spec!)
    let n = whole ? index.get(spec!) : undefined
    if (n === undefined) {
      n = table.push(spec!) - 1
      if (whole) index.set(spec!, n)
    }
    specOf.push(n)
  }
  return { lines: out, specs: table, specOf, made: made.count }
}
