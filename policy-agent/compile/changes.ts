// What changed between two snapshots of a ClusterState, when the source can tell: the keys written
// per kind. A source that tracks its writes (sources/store.ts) puts a `CHANGES` function on each
// snapshot; the Compiler asks it for the keys written since the snapshot it compiled last, and
// visits only those instead of scanning 30,000 pods to find one. Without it (the manifest
// directory, tests, a snapshot the source no longer has the log for), the Compiler scans.
import type { ClusterState } from '../model/cluster.js'

export const CHANGES = Symbol('cinch.cluster-changes')

/** Keys (as in the ClusterState maps) that may differ, per kind. A key may be listed and unchanged. */
export interface Changes {
  pods: ReadonlySet<string>
  namespaces: ReadonlySet<string>
  policies: ReadonlySet<string>
  nodes: ReadonlySet<string>
  clusterNetworkPolicies: ReadonlySet<string>
}

export interface TrackedState extends ClusterState {
  /** The keys written between `since` and this snapshot; undefined when unknown (then: scan). */
  readonly [CHANGES]?: (since: ClusterState) => Changes | undefined
}

/** The changes from `prev` to `next`, if `next`'s source kept them. */
export function changesBetween(prev: ClusterState | undefined, next: ClusterState): Changes | undefined {
  if (!prev) return undefined
  return (next as TrackedState)[CHANGES]?.(prev)
}
