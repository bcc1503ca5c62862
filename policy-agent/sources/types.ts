// What the agent asks of a cluster source (the kube API or a manifest directory).
import type { ClusterState } from '../model/cluster.js'

export interface ProblemReport {
  /** The file or resource at fault. */
  where: string
  reason: string
}

/**
 * A source that reads the cluster in pages may let the agent look before the end: `beforeLastPage`
 * is called at most once, while the cluster is still being read, when only one page of it is
 * left and `state()` holds all the rest. The agent compiles then (agent.ts compileAhead), so that
 * the first sync compiles one page, not the cluster. Never acted on: the rules wait for start().
 * It must not throw (a throw fails the list, which starts over).
 */
export interface EarlyLook {
  beforeLastPage(): void
}

export interface Source {
  /**
   * Starts the source and resolves once the whole cluster has been read once (every informer
   * listed, every file parsed): the agent never acts on a half-read cluster.
   * `onChange` is called after every later change (the agent coalesces bursts), as soon as the
   * change is stored, so that `state()` already holds it: the agent takes the time of the call as
   * the change's arrival (cinch_policy_programming_latency_seconds).
   */
  start(onChange: () => void, early?: EarlyLook): Promise<void>
  /**
   * The current cluster: a snapshot that later changes never alter (each change replaces an object
   * or a map, never mutates one), read-only to the caller. Successive calls with no change in
   * between return the same objects, so the compiler can diff snapshots by identity.
   */
  state(): ClusterState
  /** Problems of the objects as they are now (broken files, objects that do not convert), for logs and status. */
  problems(): ProblemReport[]
  stop(): Promise<void>
}
