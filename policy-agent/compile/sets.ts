// The named sets of the IR and their members. A set is defined by its peer (and, for tuple sets,
// the named ports), never by the pods it holds, so its members can be kept up to date pod by pod:
// a label change adds or removes that pod's elements from the sets whose peer it enters or leaves,
// instead of recomputing every set from the whole cluster. Elements are reference-counted, since
// two pods may contribute the same element (the IR holds their union).
import type { Pod } from '../model/cluster.js'
import { LENIENT, cidrContains, parseIp, type Family } from '../../lib/ip/index.js'
import { recordSetDelta, type IrSet } from './ir.js'
import { addressesByFamily, type AddressesByFamily } from '../model/pod-addresses.js'
import { commentText } from './names.js'
import type { BlockPeer, Peer, PodsPeer, Port } from './normalize.js'
import type { Selector } from '../model/selector.js'
import { resolvePort } from './ports.js'
import { lowerBound } from './sorted-keys.js'
import { hashedWhole } from '../model/text-keys.js'

export type SetDef =
  | { kind: 'block'; family: Family; comment: string; elements: string[] }
  | { kind: 'ports'; family: Family; comment: string; elements: string[] }
  | { kind: 'addr'; family: Family; comment: string; peer: PodsPeer }
  | { kind: 'tuple'; family: Family; comment: string; peer: Peer | null; named: Port[] }

/** What the members of a set are computed from: the pods of each namespace and namespace labels. */
export interface PodView {
  podsByNs: Map<string, Map<string, Pod>>
  nsLabels(ns: string): Record<string, string>
  /**
   * The namespaces (with pods) a namespace selector selects, when the view can answer once for
   * every set with that selector (many sets share one: "any namespace", a team label).
   */
  namespacesSelected?(sel: Selector): Iterable<string>
  /** The pods of each namespace namespacesSelected gives (its podsByNs entry). */
  podsOfNamespacesSelected?(sel: Selector): Iterable<Map<string, Pod>>
  /** The pods of the namespaces namespacesSelected gives, all in one list, with their labels (candidatesOf). */
  candidatesSelected?(sel: Selector): Candidates
  /**
   * The pods a pod peer selects, when the view can answer once for every set with that peer (a
   * rule's IPv4 and IPv6 sets, its tuple sets): the same pods `candidates` + `peerSelects` give.
   */
  podsSelected?(peer: PodsPeer): readonly Pod[]
  /**
   * The addresses of family `f` of the pods `podsSelected` gives, in that order, repeats kept:
   * found once for a peer's IPv4 and IPv6 sets (one cache lookup per pod, not one per set).
   */
  addrsSelected?(peer: PodsPeer, f: Family): readonly string[]
}

/** The canonical addresses of a pod by family (model/pod-addresses.ts: made once per pod object). */
export function addrsOf(pod: Pod, f: Family): readonly string[] {
  const r = addressesByFamily(pod)
  return f === 4 ? r.v4 : r.v6
}

/** addrsSelected's answer: the addresses of `pods` by family, in order. */
export function addrsOfPods(pods: readonly Pod[]): Record<Family, string[]> {
  const v4: string[] = [], v6: string[] = []
  // Indexed loops: a first compile runs this code cold (~55k pods), where each for-of over an
  // address list allocated an iterator and its results (~20 MB in all). In passes (the cached
  // lists, then their lists by family, then the addresses), as podsMatching does: in an idle
  // agent each is a cache miss, and loads that do not wait on one another overlap.
  const n = pods.length
  const rs: AddressesByFamily[] = new Array(n)
  for (let i = 0; i < n; i++) rs[i] = addressesByFamily(pods[i]!)
  const fours: (readonly string[])[] = new Array(n), sixes: (readonly string[])[] = new Array(n)
  for (let i = 0; i < n; i++) { const r = rs[i]!; fours[i] = r.v4; sixes[i] = r.v6 }
  for (let i = 0; i < n; i++) { const a = fours[i]!; for (let j = 0; j < a.length; j++) v4.push(a[j]!) }
  for (let i = 0; i < n; i++) { const a = sixes[i]!; for (let j = 0; j < a.length; j++) v6.push(a[j]!) }
  return { 4: v4, 6: v6 }
}

/** NetworkPolicyPeer with pod/namespace selectors: does it select this pod? */
export function peerSelects(peer: PodsPeer, pod: Pod, view: PodView, nsMatched = false): boolean {
  // Pods with hostNetwork carry their node's addresses: a podSelector cannot mean them
  // (NetworkPolicy docs: hostNetwork pods are out of scope / behaviour undefined).
  if (pod.hostNetwork) return false
  // With both selectors: "selects particular Pods within particular Namespaces"; with podSelector
  // alone: pods "in the same namespace as the NetworkPolicy".
  const nsOk = nsMatched || (peer.nsSel ? peer.nsSel.matches(view.nsLabels(pod.namespace)) : pod.namespace === peer.namespace)
  return nsOk && (!peer.podSel || peer.podSel.matches(pod.labels))
}

function inBlock(peer: BlockPeer, addr: string): boolean {
  const a = parseIp(addr, LENIENT)!
  return cidrContains(peer.cidr, a) && !peer.except.some((e) => cidrContains(e, a))
}

/**
 * The elements one pod puts into a set. `nsMatched`: the caller already knows the pod's namespace
 * is one the peer selects (a candidate of the set), so only the pod itself is checked.
 */
export function contributions(def: SetDef, pod: Pod, view: PodView, nsMatched = false): readonly string[] {
  if (def.kind === 'block' || def.kind === 'ports' || pod.hostNetwork) return []
  const peer = def.peer
  if (def.kind === 'addr') return peerSelects(def.peer, pod, view, nsMatched) ? addrsOf(pod, def.family) : []
  if (peer?.kind === 'pods' && !peerSelects(peer, pod, view, nsMatched)) return []
  return tupleElements(def, pod)
}

/** The elements of a tuple set one pod its peer selects puts in. */
function tupleElements(def: Extract<SetDef, { kind: 'tuple' }>, pod: Pod): string[] {
  const peer = def.peer
  // Egress to a named port: the name resolves on each destination pod, into exact tuples.
  const ports = def.named.flatMap((n) => resolvePort(n, pod.ports))
  if (ports.length === 0) return []
  const out: string[] = []
  for (const a of addrsOf(pod, def.family)) {
    if (peer?.kind === 'block' && !inBlock(peer, a)) continue
    for (const p of ports) out.push(`${a} . ${p.protocol} . ${p.from}`)
  }
  return out
}

/**
 * Pods a selector may pick, and the labels of each in the same order; null for a pod with
 * hostNetwork, which a pod peer never selects (peerSelects). Read only.
 */
export interface Candidates { pods: readonly Pod[]; labels: readonly (Record<string, string> | null)[] }

/** `pods` as Candidates. */
export function candidatesOf(pods: readonly Pod[]): Candidates {
  const labels: (Record<string, string> | null)[] = new Array(pods.length)
  // A pass of its own: the pods' loads overlap (podsMatching).
  for (let i = 0; i < pods.length; i++) { const p = pods[i]!; labels[i] = p.hostNetwork ? null : p.labels }
  return { pods, labels }
}

/** The pods a pod peer selects, from the view's pods (hostNetwork pods never: peerSelects). */
export function selectedPods(peer: PodsPeer, view: PodView): Pod[] {
  if (peer.nsSel && view.candidatesSelected) return podsMatching(view.candidatesSelected(peer.nsSel), peer.podSel)
  const candidates: Pod[] = []
  // Plain loops, not `candidates`: a generator's yield per pod costs more than the match itself.
  // forEach, not for-of: no iterator results to allocate while the code is still cold (a first
  // compile visits ~300k pods so).
  const add = (pod: Pod) => { candidates.push(pod) }
  const take = (pods: Map<string, Pod> | undefined) => { if (pods) pods.forEach(add) }
  if (!peer.nsSel) take(view.podsByNs.get(peer.namespace))
  else if (view.podsOfNamespacesSelected) for (const pods of view.podsOfNamespacesSelected(peer.nsSel)) take(pods)
  else if (view.namespacesSelected) for (const ns of view.namespacesSelected(peer.nsSel)) take(view.podsByNs.get(ns))
  else for (const [ns, pods] of view.podsByNs) if (peer.nsSel.matches(view.nsLabels(ns))) take(pods)
  return podsMatching(candidatesOf(candidates), peer.podSel)
}

/**
 * The candidates without hostNetwork whose labels `sel` matches (all, when null), in order. In
 * passes, each a tight loop over all candidates: the pods (candidatesOf), then their labels
 * objects, then (for a `key=value` selector) the values. A new peer's ~1,200 candidates are cold
 * in an idle agent, each pod, labels object and value a cache miss that the next one waited on
 * when a pod was matched whole before the next; loads that do not depend on each other overlap.
 */
function podsMatching({ pods: candidates, labels }: Candidates, sel: Selector | null): Pod[] {
  const n = candidates.length
  const out: Pod[] = []
  if (!sel) {
    for (let i = 0; i < n; i++) if (labels[i]) out.push(candidates[i]!)
    return out
  }
  const eq = sel.eq
  if (!eq) {
    for (let i = 0; i < n; i++) { const l = labels[i]; if (l && sel.matches(l)) out.push(candidates[i]!) }
    return out
  }
  // sel.matches for one `key=value` (model/selector.ts): the value, and the key the pod's own.
  const { key, value } = eq
  const values: unknown[] = new Array(n)
  for (let i = 0; i < n; i++) { const l = labels[i]; values[i] = l ? l[key] : undefined }
  for (let i = 0; i < n; i++) if (values[i] === value && Object.hasOwn(labels[i]!, key)) out.push(candidates[i]!)
  return out
}

/** The pods that can contribute to a set: its namespaces only (every namespace the peer selects). */
function* candidates(def: SetDef, view: PodView): Generator<Pod> {
  if (def.kind === 'block' || def.kind === 'ports') return
  const peer = def.peer
  if (peer?.kind === 'pods' && !peer.nsSel) {
    yield* view.podsByNs.get(peer.namespace)?.values() ?? []
    return
  }
  if (peer?.kind === 'pods' && view.namespacesSelected) {
    for (const ns of view.namespacesSelected(peer.nsSel!)) yield* view.podsByNs.get(ns)?.values() ?? []
    return
  }
  for (const [ns, pods] of view.podsByNs) {
    if (peer?.kind === 'pods' && !peer.nsSel!.matches(view.nsLabels(ns))) continue
    yield* pods.values()
  }
}

/**
 * One set of the IR with reference-counted members; `ir` is rebuilt only after a change. Almost
 * every member is put in by one pod: members are the last IR's sorted elements with what came and
 * went since, and only members put in more than once (two pods with one address, two named ports
 * of a pod resolving alike) are counted. A first compile no longer fills a map entry for each of
 * its ~110k members at 30k pods (a cache miss each, and the maps' memory), nor does a set's first
 * change count its members.
 */
export class SetEntry {
  /** the members, sorted, each once: the last IR's elements (the first pass's before the first IR) */
  #base: readonly string[] = []
  /** the first pass's elements, repeats kept, sorted only when first needed */
  #pending?: string[]
  /** members that came and went since #base */
  #added = new Set<string>()
  #removed = new Set<string>()
  /** the members put in more than once, and how many times; every other member once */
  #multi = new Map<string, number>()
  #ir: IrSet | null = null
  /** the last IR handed out */
  #last: IrSet | null = null

  /** `name`: the set's name in the IR */
  constructor(readonly name: string, readonly def: SetDef, view: PodView) {
    this.recompute(view)
  }

  /** How many times `e` was put in (0: not a member). */
  count(e: string): number {
    this.#settle()
    return this.#multi.get(e) ?? (this.#has(e) ? 1 : 0)
  }

  /** True when the set's members depend on namespace labels. */
  get dependsOnNsLabels(): boolean {
    return (this.def.kind === 'addr' || this.def.kind === 'tuple') && this.def.peer?.kind === 'pods' && this.def.peer.nsSel !== null
  }

  recompute(view: PodView): void {
    const def = this.def
    let list: string[]
    // Fixed elements, whatever the pods: ipBlocks, port lists.
    if (def.kind === 'block' || def.kind === 'ports') list = [...def.elements]
    else if (def.kind === 'addr' && def.peer.kind === 'pods' && view.addrsSelected) list = [...view.addrsSelected(def.peer, def.family)]
    else if (def.kind === 'tuple' && def.peer?.kind === 'pods' && view.podsSelected) {
      // The pods the peer selects, found once for all the sets of that peer.
      list = []
      for (const pod of view.podsSelected(def.peer)) for (const e of tupleElements(def, pod)) list.push(e)
    } else {
      list = []
      // Each candidate's namespace was matched once for all its pods (7,500 namespaces, 30k pods).
      for (const pod of candidates(def, view)) for (const e of contributions(def, pod, view, true)) list.push(e)
    }
    this.#ir = null
    this.#added.clear()
    this.#removed.clear()
    if (!this.#last) {
      this.#pending = list
      this.#multi.clear()
      return
    }
    // As changes against the last IR, so that the next IR is still derived from it.
    this.#pending = undefined
    const { members, multi } = sortedMembers(list)
    this.#multi = multi
    const base = (this.#base = this.#last.elements)
    let i = 0, j = 0
    while (i < members.length || j < base.length) {
      if (j >= base.length || (i < members.length && members[i]! < base[j]!)) this.#added.add(members[i++]!)
      else if (i >= members.length || base[j]! < members[i]!) this.#removed.add(base[j++]!)
      else { i++; j++ }
    }
  }

  /**
   * Applies a change of one namespace's labels (`before` -> the view's) to the pods of that
   * namespace: only a set whose namespace selector matched before xor after has anything to do.
   */
  relabelNamespace(o: { ns: string; before: Record<string, string>; pods: Iterable<Pod>; view: PodView }): boolean {
    const nsSel = (this.def.kind === 'addr' || this.def.kind === 'tuple') && this.def.peer?.kind === 'pods' ? this.def.peer.nsSel : null
    if (!nsSel || nsSel.matches(o.before) === nsSel.matches(o.view.nsLabels(o.ns))) return false
    const old: PodView = { podsByNs: o.view.podsByNs, nsLabels: (n) => (n === o.ns ? o.before : o.view.nsLabels(n)) }
    let moved = false
    for (const pod of o.pods) moved = this.#replace(contributions(this.def, pod, old), contributions(this.def, pod, o.view)) || moved
    return moved
  }

  /** Applies one pod's replacement (either side may be absent); true when the elements may have changed. */
  update(old: Pod | undefined, next: Pod | undefined, view: PodView): boolean {
    return this.#replace(old ? contributions(this.def, old, view) : [], next ? contributions(this.def, next, view) : [])
  }

  #replace(before: readonly string[], after: readonly string[]): boolean {
    if (before.length === 0 && after.length === 0) return false
    if (before.length === after.length && before.every((e, i) => e === after[i])) return false
    this.#settle()
    // Added first: an element on both sides stays a member throughout.
    for (const e of after) this.#put(e)
    for (const e of before) this.#take(e)
    this.#ir = null
    return true
  }

  /** The first pass sorted, once an update or the IR needs it. */
  #settle(): void {
    const p = this.#pending
    if (!p) return
    this.#pending = undefined
    const { members, multi } = sortedMembers(p)
    this.#base = members
    this.#multi = multi
  }

  #has(e: string): boolean {
    return this.#added.has(e) || (!this.#removed.has(e) && this.#base[lowerBound(this.#base, e, 0)] === e)
  }

  #put(e: string): void {
    const n = this.#multi.get(e)
    if (n !== undefined) this.#multi.set(e, n + 1)
    else if (this.#has(e)) this.#multi.set(e, 2)
    else if (!this.#removed.delete(e)) this.#added.add(e)
  }

  #take(e: string): void {
    const n = this.#multi.get(e)
    if (n !== undefined) {
      if (n > 2) this.#multi.set(e, n - 1)
      else this.#multi.delete(e)
    } else if (this.#has(e) && !this.#added.delete(e)) this.#removed.add(e)
  }

  /**
   * The IR object: the same object as long as the members did not change (renderDiff skips it).
   * After a change, the last IR's sorted elements are merged with what came and went (no sort
   * of the whole set: a set may hold every pod of the cluster), and the delta is recorded for
   * renderDiff (ir.ts).
   */
  get ir(): IrSet {
    if (this.#ir) return this.#ir
    this.#settle()
    const last = this.#last
    const added = [...this.#added].sort(), removed = [...this.#removed].sort()
    const elements = last || added.length || removed.length ? spliceSorted(this.#base, removed, added) : this.#base as string[]
    this.#added.clear()
    this.#removed.clear()
    const ir: IrSet = { family: this.def.family, kind: this.def.kind, comment: commentText(this.def.comment), elements }
    if (last) recordSetDelta(ir, { base: last, added, removed })
    this.#last = this.#ir = ir
    this.#base = elements
    return ir
  }
}

/** sortedMembers' read of every element, kept where the compiler cannot drop it */
let readLength = 0

/**
 * `list` sorted (in place), each element once (`list` itself when it holds no repeats), and the
 * elements it holds more than once with how many times (as counting each into a map would give them).
 */
function sortedMembers(list: string[]): { members: string[]; multi: Map<string, number> } {
  // Each element read once in a tight loop first: a new peer's addresses are cold in an idle
  // agent, and the sort's comparisons would wait on each string's first read one at a time.
  let length = 0
  for (let i = 0; i < list.length; i++) length += list[i]!.length
  readLength = length
  list.sort()
  const multi = new Map<string, number>()
  // Repeats are rare (addresses are unique but for stale pods): then the sorted list is the members.
  let repeats = false
  for (let i = 1; i < list.length && !repeats; i++) repeats = list[i] === list[i - 1]
  if (!repeats) return { members: list, multi }
  const members: string[] = []
  for (let i = 0; i < list.length;) {
    const e = list[i]!
    let j = i + 1
    while (j < list.length && list[j] === e) j++
    members.push(e)
    if (j - i > 1) multi.set(e, j - i)
    i = j
  }
  return { members, multi }
}

/**
 * The sorted list `base` without `removed` and with `added` (both sorted; every removed element in
 * `base`, no added one), found by binary search and copied in runs: a change moves one or two
 * elements of a set that may hold every pod of the cluster, so the work per element is a copy, not
 * a hash lookup (`filter` over a Set) or a string comparison (a merge): at 30k/30k in process, a
 * pod delete's compile went from ~0.37 to ~0.14 ms, a namespace label change's ~0.55 to ~0.36 ms.
 */
export function spliceSorted(base: readonly string[], removed: readonly string[], added: readonly string[]): string[] {
  const out: string[] = new Array(base.length - removed.length + added.length)
  let from = 0, k = 0, i = 0, j = 0
  const copyTo = (end: number) => { while (from < end) out[k++] = base[from++]! }
  while (i < removed.length || j < added.length) {
    if (j >= added.length || (i < removed.length && removed[i]! < added[j]!)) {
      const at = lowerBound(base, removed[i]!, from)
      // Not there (or, below, an added one already there): the caller's bookkeeping is broken;
      // the slow way still gives the list the counts say.
      if (base[at] !== removed[i]) return slowSplice(base, removed, added)
      copyTo(at)
      from = at + 1
      i++
    } else {
      const at = lowerBound(base, added[j]!, from)
      if (base[at] === added[j]) return slowSplice(base, removed, added)
      copyTo(at)
      out[k++] = added[j++]!
    }
  }
  copyTo(base.length)
  return out
}

function slowSplice(base: readonly string[], removed: readonly string[], added: readonly string[]): string[] {
  const gone = new Set(removed)
  return [...base.filter((e) => !gone.has(e)), ...added.filter((e) => !base.includes(e))].sort()
}

/**
 * The sets by what a pod must have to put elements in them: a pod peer without a namespace
 * selector, its namespace; with one, a namespace it selects (one test per selector, not per set);
 * tuple sets of any pod or of an ipBlock, every pod. ipBlock and port sets, none. A pod change
 * updates only the sets of its namespace's entries (contributions() is empty for the others).
 */
export interface SetIndex {
  byNs: Map<string, SetEntry[]>
  /** by the selector's key, or the selector itself when its key is too long to hash (text-keys.ts) */
  bySel: Map<string | Selector, { sel: Selector; sets: SetEntry[] }>
  always: SetEntry[]
}

export function indexSets(entries: Iterable<SetEntry>): SetIndex {
  const ix: SetIndex = { byNs: new Map(), bySel: new Map(), always: [] }
  for (const e of entries) {
    const d = e.def
    if (d.kind === 'block' || d.kind === 'ports') continue
    const peer = d.peer
    if (peer?.kind !== 'pods') ix.always.push(e)
    else if (!peer.nsSel) {
      let l = ix.byNs.get(peer.namespace)
      if (!l) ix.byNs.set(peer.namespace, (l = []))
      l.push(e)
    } else {
      const k = hashedWhole(peer.nsSel.key) ? peer.nsSel.key : peer.nsSel
      let g = ix.bySel.get(k)
      if (!g) ix.bySel.set(k, (g = { sel: peer.nsSel, sets: [] }))
      g.sets.push(e)
    }
  }
  return ix
}

/** The sets a pod of namespace `ns` can put elements in, added to `into`. */
export function setsOfNamespace(ix: SetIndex, ns: string, view: PodView, into: Set<SetEntry>): void {
  for (const e of ix.byNs.get(ns) ?? []) into.add(e)
  const labels = view.nsLabels(ns)
  for (const g of ix.bySel.values()) if (g.sel.matches(labels)) for (const e of g.sets) into.add(e)
  for (const e of ix.always) into.add(e)
}
