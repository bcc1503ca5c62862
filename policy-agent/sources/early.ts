// A source started before its reader is ready: the agent starts the lists first thing, so that the
// API server answers the first pages while the rest of the agent is set up (metrics, HTTP, flow
// records), instead of after it. Whoever calls `start(onChange)` later gets the same one start:
// it resolves when the lists do, and sees every later change.
import type { ClusterState } from '../model/cluster.js'
import type { EarlyLook, ProblemReport, Source } from './types.js'

export class EarlySource implements Source {
  readonly #source: Source
  readonly #listed: Promise<void>
  #onChange?: () => void
  /** The reader's look before the last list page, once it has asked for one (missed if it comes later). */
  #early?: EarlyLook
  /** A change arrived before anyone asked for changes (possible only if the lists ended first). */
  #missed = false

  /** Starts `source` now. */
  constructor(source: Source) {
    this.#source = source
    this.#listed = source.start(() => {
      if (this.#onChange) this.#onChange()
      else this.#missed = true
    }, { beforeLastPage: () => this.#early?.beforeLastPage() })
    // Awaited by start(); this only keeps a list that fails before then from going unhandled.
    this.#listed.catch(() => {})
  }

  /** Resolves when the lists started by the constructor have ended; `onChange` from now on. */
  start(onChange: () => void, early?: EarlyLook): Promise<void> {
    if (this.#onChange) throw new Error('source already started')
    this.#onChange = onChange
    this.#early = early
    // Arrival times start at this call for a change that came earlier (the agent attaches within
    // milliseconds of the constructor, long before a cluster's lists end).
    if (this.#missed) queueMicrotask(onChange)
    return this.#listed
  }

  state(): ClusterState {
    return this.#source.state()
  }

  problems(): ProblemReport[] {
    return this.#source.problems()
  }

  stop(): Promise<void> {
    return this.#source.stop()
  }
}
