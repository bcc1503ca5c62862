// Address -> pod, for naming the two ends of a flow record, kept up to date from the pods that
// changed (the source's change log, compile/changes.ts) instead of rebuilt from every pod after
// each change: at 30,000 pods a rebuild is ~60,000 canonicalisations (~10+ ms on the agent's event
// loop, issue 14), one changed pod is a handful.
//
// The rule (which pod holds an address) is model/pod-addresses.ts's, shared with `cinch explain`.
import type { ClusterState, Pod } from '../model/cluster.js'
import { changesBetween } from '../compile/changes.js'
import { NO_ADDRESSES as NONE, podAddresses } from '../model/pod-addresses.js'

/** The elements of `xs` not in `ys`, in linear time. */
function without(xs: readonly string[], ys: readonly string[]): readonly string[] {
  if (!xs.length || !ys.length) return xs
  const drop = new Set(ys)
  return xs.filter((x) => !drop.has(x))
}

export class PodAddressIndex {
  /** address -> the key of the pod holding it */
  readonly #holder = new Map<string, string>()
  /** address -> every claimant's key, only for addresses two or more pods claim (rare) */
  readonly #claims = new Map<string, Set<string>>()
  /** pod key -> the addresses it claims now */
  readonly #addrs = new Map<string, readonly string[]>()
  #state?: ClusterState

  /** The snapshot the index describes. */
  get state(): ClusterState | undefined {
    return this.#state
  }

  /**
   * Brings the index to `state`: the pods written since the snapshot it describes, when the
   * source logged them; otherwise every pod. Returns how: 'same', 'changes' or 'rebuilt'.
   */
  sync(state: ClusterState): 'same' | 'changes' | 'rebuilt' {
    if (state === this.#state) return 'same'
    if (this.follow(state)) return 'changes'
    this.#holder.clear()
    this.#claims.clear()
    this.#addrs.clear()
    this.#state = state
    for (const [key, p] of state.pods) this.#setPod(key, podAddresses(p))
    return 'rebuilt'
  }

  /** Brings the index to `state` by the source's change log only; false (index untouched) without one. */
  follow(state: ClusterState): boolean {
    if (state === this.#state) return true
    const changes = changesBetween(this.#state, state)
    if (!changes) return false
    this.#state = state
    for (const key of changes.pods) this.#setPod(key, podAddresses(state.pods.get(key)))
    return true
  }

  /** The pod holding a canonical address in the snapshot the index describes. */
  podOf(addr: string): Pod | undefined {
    const key = this.#holder.get(addr)
    return key === undefined ? undefined : this.#state?.pods.get(key)
  }

  #setPod(key: string, next: readonly string[]): void {
    const prev = this.#addrs.get(key) ?? NONE
    if (prev === next || (prev.length === next.length && prev.every((a, i) => a === next[i]))) return
    for (const a of without(prev, next)) this.#release(a, key)
    for (const a of without(next, prev)) this.#claim(a, key)
    if (next.length) this.#addrs.set(key, next)
    else this.#addrs.delete(key)
  }

  #claim(addr: string, key: string): void {
    const held = this.#holder.get(addr)
    if (held === undefined) return void this.#holder.set(addr, key)
    let claims = this.#claims.get(addr)
    if (!claims) this.#claims.set(addr, (claims = new Set([held])))
    claims.add(key)
    if (key > held) this.#holder.set(addr, key)
  }

  #release(addr: string, key: string): void {
    const claims = this.#claims.get(addr)
    // Uncontested: its one claimant, `key`, holds it.
    if (!claims) return void this.#holder.delete(addr)
    claims.delete(key)
    let top: string | undefined
    for (const k of claims) if (top === undefined || k > top) top = k
    this.#holder.set(addr, top!)
    if (claims.size === 1) this.#claims.delete(addr)
  }
}
