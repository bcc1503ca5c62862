// The Compiler's answers to "which namespaces does this namespace selector select, and which pods
// are in them", kept between compiles (sets.ts PodView namespacesSelected, podsOfNamespacesSelected,
// candidatesSelected): a new peer's first pass asks them for ~300 namespaces among 7,500. The
// Compiler tells it what changed: a pod of a namespace, a namespace gaining its first pod or losing
// its last, a namespace's labels; each answer is brought up to date namespace by namespace, or
// forgotten and found again when asked.
import type { Pod } from '../model/cluster.js'
import type { Selector } from '../model/selector.js'
import { candidatesOf, type Candidates } from './sets.js'

// The pods all memos' candidates lists hold together (~16 bytes each; the bench's 32 selectors: ~90k).
const CANDIDATES_MAX = 200_000
// A list longer than this is dropped when one of its pods changes, not patched (a pod found by a
// scan of the list: a few microseconds for a team's ~1,200, too many for "every namespace").
const CANDIDATES_PATCH_MAX = 4096
// More pod changes at once than this (a relist): every list is dropped.
const CANDIDATES_CHANGES_MAX = 64
// The memos' bounds: distinct namespace selectors in use (the bench's 30k policies have 32),
// the namespaces their answers hold together (~40 bytes each), a selector's key length.
const NS_SELECTED_MAX = 1024
const NS_SELECTED_MAX_ENTRIES = 1_000_000
const NS_SELECTED_MAX_KEY = 4096

interface NsWithPods { ns: string; pods: Map<string, Pod>; labels: Record<string, string> }

/**
 * A namespace selector's answer: the namespaces with pods it selects (their podsByNs entries)
 * and, once a new peer asked, all their pods in one list (`candidates`: a new peer's first pass
 * walked ~300 namespaces' maps of pods, ~0.25 ms with cold caches, to gather the same ~1,200),
 * patched as pods and namespaces change (updateCandidates, refresh), in no particular order.
 */
export interface NsSelectedMemo { sel: Selector; namespaces: Map<string, Map<string, Pod>>; candidates?: { pods: Pod[]; labels: (Record<string, string> | null)[] } }

export class NamespaceSelections {
  /**
   * The answers by selector key: the namespaces with pods whose labels the selector matches.
   * Brought up to date namespace by namespace when one's labels change or it gains its first pod
   * or loses its last (once a compile's pods are synced, `refresh`).
   */
  #memos = new Map<string, NsSelectedMemo>()
  /** the namespaces the memos hold, all together */
  #entries = 0
  /** the pods the memos' `candidates` hold, all together */
  #candidateCount = 0
  /** the pods replaced (old, new; either may be absent) since the memos' candidates were last brought up to date */
  #podChanges: [Pod | undefined, Pod | undefined][] = []
  /** namespaces that gained their first pod or lost their last since the last `refresh` */
  #podNamespacesMoved = new Set<string>()
  /**
   * The namespaces with pods (podsByNs order) and their labels, for a new selector's first pass:
   * 32 selectors x 7,500 namespaces were as many label lookups in the first compile; and by the
   * values of each label key a `key=value` selector asked for (25 team selectors were a test of
   * each namespace each). Dropped whenever a namespace's labels change or it gains its first pod
   * or loses its last.
   */
  #nsWithPods?: { list: NsWithPods[]; byLabel: Map<string, Map<string, NsWithPods[]>> }

  /** `podsByNs`: the Compiler's pods by namespace (read, never written); `nsLabels` its view's */
  constructor(private readonly podsByNs: Map<string, Map<string, Pod>>, private readonly nsLabels: (ns: string) => Record<string, string>) {}

  /**
   * The memo of `sel`, made on first use. It holds each namespace's pods (the podsByNs entry,
   * kept while the namespace has pods: `refresh` follows it), so a new peer's first pass does not
   * look ~300 namespaces up again among 7,500.
   */
  memo(sel: Selector): NsSelectedMemo {
    let m = this.#memos.get(sel.key)
    if (!m) {
      m = { sel, namespaces: new Map() }
      const labelled = (this.#nsWithPods ??= { list: [...this.podsByNs].map(([ns, pods]) => ({ ns, pods, labels: this.nsLabels(ns) })), byLabel: new Map() })
      if (sel.eq) for (const { ns, pods } of nsWithLabel(labelled, sel.eq.key).get(sel.eq.value) ?? []) m.namespaces.set(ns, pods)
      else for (const { ns, pods, labels } of labelled.list) if (sel.matches(labels)) m.namespaces.set(ns, pods)
      // Keyed by tenant text and never pruned as selectors go (only a namespace change visits
      // it): bounded by count, by what the answers hold, and a long selector is not kept (one
      // policy rewritten with new 1 MB selectors kept each: ~3 MB per rewrite).
      if (sel.key.length > NS_SELECTED_MAX_KEY) return m
      if (this.#memos.size >= NS_SELECTED_MAX || this.#entries + m.namespaces.size > NS_SELECTED_MAX_ENTRIES) this.#forget()
      this.#memos.set(sel.key, m)
      this.#entries += m.namespaces.size
    }
    return m
  }

  /** The pods of the namespaces `sel` selects, in one list (kept with the memo while bounded). */
  candidates(sel: Selector): Candidates {
    const m = this.memo(sel)
    if (m.candidates) return m.candidates
    const pods: Pod[] = []
    const add = (p: Pod) => { pods.push(p) }
    for (const ps of m.namespaces.values()) ps.forEach(add)
    const c = candidatesOf(pods)
    if (this.#memos.get(sel.key) === m && this.#candidateCount + pods.length <= CANDIDATES_MAX) {
      m.candidates = { pods, labels: c.labels as (Record<string, string> | null)[] }
      this.#candidateCount += pods.length
    }
    return c
  }

  /** A pod came (`old` absent), went (`next` absent) or was replaced. */
  podChanged(old: Pod | undefined, next: Pod | undefined): void {
    this.#podChanges.push([old, next])
  }

  /** Namespace `ns` gained its first pod or lost its last (its podsByNs entry came or went). */
  podNamespaceMoved(ns: string): void {
    this.#podNamespacesMoved.add(ns)
    this.#nsWithPods = undefined
  }

  /** A namespace's labels changed (`refresh` is then told which). */
  labelsChanged(): void {
    this.#nsWithPods = undefined
  }

  /**
   * The memos' candidates hold the pods of their namespaces as they were: each pod that changed in
   * a namespace a memo holds is replaced, removed or added in its list (order is free: a set's
   * elements are sorted), or a long list is dropped (made again when a new peer asks). Many changes
   * at once (a relist): every list is dropped. Called once the pods are synced, before any answer;
   * a namespace that enters or leaves a memo is `refresh`'s.
   */
  updateCandidates(): void {
    const changes = this.#podChanges
    if (changes.length === 0) return
    this.#podChanges = []
    if (this.#candidateCount === 0) return
    for (const m of this.#memos.values()) {
      const c = m.candidates
      if (!c) continue
      if (changes.length > CANDIDATES_CHANGES_MAX) { this.#dropCandidates(m); continue }
      for (const [old, next] of changes) {
        const out = old !== undefined && m.namespaces.has(old.namespace)
        const into = next !== undefined && m.namespaces.has(next.namespace)
        if (!out && !into) continue
        if (c.pods.length > CANDIDATES_PATCH_MAX) { this.#dropCandidates(m); break }
        const at = out ? c.pods.indexOf(old) : -1
        if (out && at < 0) { this.#dropCandidates(m); break } // not there: the list is not what it should be
        if (into && at >= 0) { c.pods[at] = next; c.labels[at] = next.hostNetwork ? null : next.labels } else if (into) {
          c.pods.push(next)
          c.labels.push(next.hostNetwork ? null : next.labels)
          this.#candidateCount++
        } else {
          // Removed: the last one takes its place.
          c.pods[at] = c.pods[c.pods.length - 1]!
          c.labels[at] = c.labels[c.labels.length - 1]!
          c.pods.pop()
          c.labels.pop()
          this.#candidateCount--
        }
      }
    }
  }

  /**
   * Brings the memos up to date after the namespaces' labels and pods are synced: each namespace
   * that changed is tested against each remembered selector (a new selector's first pass after a
   * namespace change was a test of all 7,500 namespaces; after a namespace label change a policy
   * create's compile went from ~2.8 to ~5.5 ms in process). Many changes at once, or too many
   * selectors (they come and go with policies): forgotten, and found again when asked.
   */
  refresh(nsChanges: { ns: string }[]): void {
    const moved = this.#podNamespacesMoved
    const count = nsChanges.length + moved.size
    if (count === 0) return
    this.#podNamespacesMoved = new Set()
    if (count * this.#memos.size > 100_000) { this.#forget(); return }
    const refresh = (ns: string) => {
      const pods = this.podsByNs.get(ns)
      const labels = pods ? this.nsLabels(ns) : undefined
      for (const m of this.#memos.values()) {
        // The lists follow: updateCandidates brought them up to date by namespace name, before.
        if (pods && labels && m.sel.matches(labels)) {
          const had = m.namespaces.get(ns)
          if (had === pods) continue
          m.namespaces.set(ns, pods)
          if (!had) { this.#entries++; this.#addCandidates(m, pods) }
        } else if (m.namespaces.delete(ns)) { this.#entries--; if (pods) this.#removeCandidates(m, pods) }
      }
    }
    for (const c of nsChanges) refresh(c.ns)
    for (const ns of moved) refresh(ns)
  }

  #forget(): void {
    this.#memos.clear()
    this.#entries = 0
    this.#candidateCount = 0
  }

  /** A namespace's pods join the memo's list (a namespace entered it). */
  #addCandidates(m: NsSelectedMemo, pods: Map<string, Pod>): void {
    const c = m.candidates
    if (!c) return
    if (c.pods.length + pods.size > CANDIDATES_PATCH_MAX || this.#candidateCount + pods.size > CANDIDATES_MAX) { this.#dropCandidates(m); return }
    pods.forEach((p) => { c.pods.push(p); c.labels.push(p.hostNetwork ? null : p.labels) })
    this.#candidateCount += pods.size
  }

  /** A namespace's pods leave the memo's list (the namespace left it), each found by a scan. */
  #removeCandidates(m: NsSelectedMemo, pods: Map<string, Pod>): void {
    const c = m.candidates
    if (!c) return
    if (c.pods.length > CANDIDATES_PATCH_MAX) { this.#dropCandidates(m); return }
    for (const p of pods.values()) {
      const at = c.pods.indexOf(p)
      if (at < 0) { this.#dropCandidates(m); return } // not there: the list is not what it should be
      c.pods[at] = c.pods[c.pods.length - 1]!
      c.labels[at] = c.labels[c.labels.length - 1]!
      c.pods.pop()
      c.labels.pop()
      this.#candidateCount--
    }
  }

  #dropCandidates(m: NsSelectedMemo): void {
    if (!m.candidates) return
    this.#candidateCount -= m.candidates.pods.length
    m.candidates = undefined
  }
}

/** The namespaces by their value of label `key` (those without it left out), in list order; made once per key. */
function nsWithLabel(n: { list: NsWithPods[]; byLabel: Map<string, Map<string, NsWithPods[]>> }, key: string): Map<string, NsWithPods[]> {
  let byValue = n.byLabel.get(key)
  if (!byValue) {
    n.byLabel.set(key, (byValue = new Map()))
    for (const e of n.list) {
      if (!Object.hasOwn(e.labels, key)) continue
      const v = e.labels[key]!
      const l = byValue.get(v)
      if (l) l.push(e)
      else byValue.set(v, [e])
    }
  }
  return byValue
}
