// V8's minor GC (a scavenge) stops the agent for 5-17 ms at 30,000 pods, once the young generation
// is full: about every 25 changes, and it lands on whichever change is in flight, on its way from
// the watch event to the kernel (bench/README.md phases 7b and 7g: the tails of change -> commit).
// The agent runs one itself instead, on the turn after a sync when no change is waiting, once the
// young generation is at least half full: the pause then falls between changes, and a scavenge
// costs what survives it, not the garbage, so collecting a half-full young generation costs about
// what a full one does (phase 7g: 4.3 ms median at 30k, none left on a change's way).
//
// `gc` is V8's extension, which only --expose-gc gives. The agent does not depend on how it was
// launched (the DaemonSet, the demo, the benches): the flag is set for one new context, whose
// `gc` is kept, and unset again, so no other code sees a global gc.
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

type Gc = (options: { type: 'minor' | 'major' }) => void
let collect: Gc | null | undefined

function collector(): Gc | null {
  if (collect !== undefined) return collect
  try {
    setFlagsFromString('--expose-gc')
    let gc: unknown
    try {
      gc = runInNewContext('gc')
    } finally {
      setFlagsFromString('--no-expose-gc') // whatever happened, later contexts get no gc
    }
    collect = typeof gc === 'function' ? (gc as Gc) : null
  } catch {
    collect = null // an embedder that refuses the flag: V8 keeps collecting on its own
  }
  return collect
}

/** How full the young generation is, 0..1. */
export function youngGenerationFill(): number {
  for (const s of getHeapSpaceStatistics()) {
    if (s.space_name !== 'new_space') continue
    const room = s.space_used_size + s.space_available_size
    return room > 0 ? s.space_used_size / room : 0
  }
  return 0
}

/** Runs a minor GC when the young generation is at least `threshold` full; true if it ran. */
export function collectYoungWhenFull(threshold = 0.5): boolean {
  if (youngGenerationFill() < threshold) return false
  const gc = collector()
  if (!gc) return false
  gc({ type: 'minor' })
  return true
}
