// Compiler: compile(state, localPods) -> PolicyIR, incrementally. It remembers the objects of the
// last call (sources replace an object on change and never mutate it: model/cluster.ts), finds
// which pods, namespaces and policies changed, and redoes only what depends on them: the members
// of the sets a changed pod enters or leaves, and the share of the IR of each local pod whose
// inputs changed (local-parts.ts); the IR is reassembled from the shares that changed. What did not
// change keeps its IR object, so renderDiff can skip it by identity. The result is always exactly
// what a fresh Compiler would produce (compiler.test.ts and incremental.test.ts hold it to that).
import type { ClusterNetworkPolicyObject, ClusterState, LocalPod, Namespace, NetworkPolicy, Node, Pod, PodPort } from '../model/cluster.js'
import { LENIENT, formatIp, parseIp } from '../../lib/ip/index.js'
import { MAP_NAMES, emptyIR, type IrChain, type MapName, type IrRule, type IrSet, type PolicyIR } from './ir.js'
import { NameBook, commentText } from './names.js'
import { normalizePolicy, type NormPolicy, type PodsPeer } from './normalize.js'
import { memoPolicyRules, type Direction, type RuleMemo } from './rules.js'
import { DEFAULT_MAX_NODE_POLICY_COST, DEFAULT_MAX_POD_POLICY_COST, DEFAULT_MAX_POLICY_COST, cnpCost, costReason, directionCost, nodeClosures, nodeCostReason, podCostReason, policyCost } from './cost.js'
import { SetEntry, addrsOfPods, indexSets, selectedPods, setsOfNamespace, type PodView, type SetDef, type SetIndex } from './sets.js'
import { NamespaceSelections } from './ns-selections.js'
import { convertPolicy } from '../cnp/convert.js'
import { subjectSelects, tierOrder } from '../cnp/order.js'
import type { Policy as CnpPolicy } from '../cnp/types.js'
import { tierChain } from './cnp-rules.js'
import { changesBetween } from './changes.js'
import { derive, keepUnchanged, orderedOf, sameList, sameRuleCounter, sortIR, sorted, type Ordered } from './ir-records.js'
import { NamespacePolicies } from './ns-policies.js'
import { SortedKeys } from './sorted-keys.js'
import { ClaimBook, PartsUnion, ownershipClaims, recordsSeen, sameRecordAt, sameRecords, samePartInputs, type Namer, type PodPart, type Swap } from './local-parts.js'

/** How a ClusterNetworkPolicy is named in the invalid list (NetworkPolicies are `ns/name`). */
export const cnpKey = (name: string) => `ClusterNetworkPolicy/${name}`
const cnpCache = new WeakMap<ClusterNetworkPolicyObject, ReturnType<typeof convertPolicy>>()

export interface InvalidPolicy { policy: string /* ns/name */; reason: string }

export interface CompilerOptions {
  /** A policy estimated to cost more (set elements + rules, cost.ts) is skipped as invalid. */
  maxPolicyCost?: number
  /**
   * What the policies selecting one local pod may add up to in one direction, in the same units;
   * over it the pod's chain of that direction fails closed (IrChain.failedClosed).
   */
  maxPodPolicyCost?: number
  /**
   * What the policies selecting the local pods may add up to over every pod and direction; over
   * it the chains of the namespace that costs the node most fail closed first, until the rest fit
   * (cost.ts nodeClosures).
   */
  maxNodePolicyCost?: number
  /**
   * What other chains of the node already take of maxNodePolicyCost, read at each compile: the
   * audit compiler's share is what the enforced one left (flows/compiler.ts), so a tenant's audit
   * policies cannot add a node's worth again.
   */
  nodeCostTaken?: () => number
  /** The chains are audit chains (flows/compiler.ts): a closed one's reason says it drops nothing. */
  audit?: boolean
}

// Past this many changed namespaces in one call, recomputing the sets that read namespace labels is
// cheaper than namespace-by-namespace updates.
const DELTA_LIMIT = 100
/**
 * Past this many changed pods in one call, recomputing every set is cheaper than pod-by-pod
 * updates. A recompute reads every pod of the cluster and an update one pod's sets, so the break
 * even grows with the cluster: at 30k pods 300 pods took 28 ms by update against 166 by recompute,
 * 3,000 took 152 against 203 (in process; the last pages of a cold start's list, agent.ts compileAhead).
 */
const podDeltaLimit = (pods: number) => Math.max(DELTA_LIMIT, Math.floor(pods / 20))
const NO_POLICIES: NormPolicy[] = []
const NO_PORTS: PodPort[] = []
const DIRECTIONS: Direction[] = ['ingress', 'egress']
const VETH = /^[a-zA-Z0-9_.-]{1,15}$/

interface TierMemo {
  pod: Pod | undefined
  gen: number
  nsLabels: Record<string, string>
  name: string
  next: string | undefined
  chain: IrChain
  counters: Record<string, import('./ir.js').RuleCounter>
  sets: Map<string, () => SetDef>
}

interface ChainMemo {
  pod: Pod | undefined
  nsPolicies: NormPolicy[]
  name: string
  signature: string
  chain: IrChain
  sets: Map<string, () => SetDef>
}

export class Compiler {
  readonly #maxCost: number
  readonly #maxPodCost: number
  readonly #maxNodeCost: number
  /**
   * What the NetworkPolicies selecting each local pod cost per direction (cost.ts directionCost),
   * with the inputs it was summed from: brought up to date for the pods a compile may have changed,
   * so that the node bound is decided over every local pod before any is compiled.
   */
  #podCosts = new Map<string, { pod: Pod | undefined; nsPolicies: NormPolicy[]; ingress: number; egress: number }>()
  /** the local pods' directions the node bound closes (`${dir} ${key}` -> why), as of the last compile */
  #nodeClosed = new Map<string, string>()
  /** what the open directions add up to, and the bound they were held to, as of the last compile */
  #nodeUsed = 0
  #nodeMax = -1
  readonly #nodeCostTaken?: () => number
  readonly #audit: boolean
  #pods = new Map<string, Pod>()
  #podsByNs = new Map<string, Map<string, Pod>>()
  #namespaces = new Map<string, Namespace>()
  #nsLabels = new Map<string, Record<string, string>>()
  #policies = new Map<string, NetworkPolicy>()
  /**
   * Each namespace's policy keys (sorted: a first compile sorted 7,500 small lists afresh), which
   * are still to be checked, and its valid policies in key order: a new array whenever they change
   * (ns-policies.ts). A change checks only the policies it wrote, not the whole namespace.
   */
  #nsPolicies = new Map<string, NamespacePolicies>()
  #invalid = new Map<string, string>()
  /**
   * #invalid's keys in order, kept as policies come and go; #invalidList is made from them only
   * when an entry changed. Sorting every invalid policy on every policy change let one tenant's
   * thousands of invalid policies (over the cost limit: the API server takes them) slow every
   * change of everyone's on the node, and handed the agent a new list to compare each time.
   */
  #invalidKeys = new SortedKeys()
  #invalidList: InvalidPolicy[] = []
  /** #invalidAll's last answer, the same array while neither of its parts changed */
  #invalidAllLast?: { np: InvalidPolicy[]; cnp: InvalidPolicy[]; all: InvalidPolicy[] }
  /**
   * Namespaces without a local pod whose policies a compile with `deferRemote` left unchecked
   * (compile's option): they compile into no chain of this node, and only the invalid list lacks
   * theirs until checkDeferred (or a compile without the option) checks them.
   */
  #deferredNs = new Set<string>()
  #sets = new Map<string, SetEntry>()
  /** #sets by the namespaces whose pods can be in them; undefined whenever a set comes or goes */
  #setIndex?: SetIndex
  #chains = new Map<string, ChainMemo>()
  /** the rules of each policy as the pod chains use them (rules.ts memoPolicyRules); its own per compiler */
  #ruleMemo: RuleMemo = new WeakMap()
  #tierChains = new Map<string, TierMemo>()
  #cnpObjects: Map<string, ClusterNetworkPolicyObject> = new Map()
  #nodes: Map<string, Node> = new Map()
  /** bumped whenever the ClusterNetworkPolicies or the Nodes change: tier chains are rebuilt */
  #cnpGen = 0
  #cnpInvalid: InvalidPolicy[] = []
  #tiers: Record<'Admin' | 'Baseline', CnpPolicy[]> = { Admin: [], Baseline: [] }
  /** whether a valid ClusterNetworkPolicy has a `nodes` peer: only then do Node changes rebuild tier chains */
  #cnpUsesNodes = false
  /** the IR of the last compile: parts equal to it are handed out as the same objects */
  #ir?: PolicyIR
  #ips = new Map<string, { family: 4 | 6; text: string } | null>()
  /** each record's share of #ir, by its key (#localsByKey), and their union; undefined: compile in full */
  #parts?: Map<string, PodPart>
  #union = new PartsUnion()
  /** the snapshot of the last compile: a tracked source tells what changed since (changes.ts) */
  #lastState?: ClusterState
  readonly #view: PodView = {
    podsByNs: this.#podsByNs,
    // The API server labels every namespace kubernetes.io/metadata.name=<name> (immutable, 1.22+);
    // a namespace known only through its pods gets that label too.
    nsLabels: (ns) => {
      let l = this.#nsLabels.get(ns)
      if (!l) this.#nsLabels.set(ns, (l = { ...(this.#namespaces.get(ns)?.labels ?? {}), 'kubernetes.io/metadata.name': ns }))
      return l
    },
    namespacesSelected: (sel) => this.#selections.memo(sel).namespaces.keys(),
    podsOfNamespacesSelected: (sel) => this.#selections.memo(sel).namespaces.values(),
    candidatesSelected: (sel) => this.#selections.candidates(sel),
    podsSelected: (peer) => {
      let l = this.#podsSelected.get(peer)
      if (!l) this.#podsSelected.set(peer, (l = selectedPods(peer, this.#view)))
      return l
    },
    addrsSelected: (peer, f) => {
      let a = this.#addrsSelected.get(peer)
      if (!a) this.#addrsSelected.set(peer, (a = addrsOfPods(this.#view.podsSelected!(peer))))
      return a[f]
    },
  }
  /** namespacesSelected's answers, and candidatesSelected's (ns-selections.ts) */
  readonly #selections = new NamespaceSelections(this.#podsByNs, (ns) => this.#view.nsLabels(ns))
  /** podsSelected's answers within one compile (pods change between compiles), by peer object */
  #podsSelected = new Map<PodsPeer, Pod[]>()
  /** addrsSelected's answers, as #podsSelected's */
  #addrsSelected = new Map<PodsPeer, Record<4 | 6, string[]>>()
  /**
   * #localsByKey's last answer and what it was computed from: `seen` holds, flat, each record and
   * the fields a part reads of it (namespace, name, hostVeth, the addresses' count and addresses),
   * so that a list whose records did not change is known as such without a part's inputs built
   * for each; `at` where each pod's record starts in `seen` (a changed list is compared pod by
   * pod); `byNs` the keys of the local pods of each namespace.
   */
  #locals?: {
    list: LocalPod[]; seen: unknown[]; at: Map<string, number>; byKey: Map<string, LocalPod> | undefined; byNs: Map<string, string[]>
    /** the pods with several records: pod key -> their record keys (empty on most nodes) */
    multi: Map<string, string[]>
  }
  /**
   * What may have changed a local pod's part inputs since the parts were last brought up to date
   * (local-parts.ts PodPart.inputs): the keys of the pods replaced, the namespaces whose policies
   * or labels changed, and whether anything else did (the records, the ClusterNetworkPolicies and
   * Nodes, a compile that threw): then every part is checked. Kept until a compile consumes it.
   */
  #partsDirty = { pods: new Set<string>(), namespaces: new Set<string>(), all: true }
  /** true from a compile's start to its end */
  #compiling = false
  /** #ir's records of chains, sets and policy counters with their keys and values listed in order (ir-records.ts derive) */
  #ordered: { chains?: Ordered<IrChain>; sets?: Ordered<IrSet>; policyCounters?: Ordered<string>; maps: Partial<Record<MapName, Ordered<string>>>; vethAddrs?: Ordered<string[]> } = { maps: {} }

  constructor(opts: CompilerOptions = {}) {
    // Fixed for the compiler's life: a policy's check depends on its object and this bound alone,
    // so a result stays true until its policy changes (ns-policies.ts keeps them on that basis).
    this.#maxCost = opts.maxPolicyCost ?? DEFAULT_MAX_POLICY_COST
    this.#maxPodCost = opts.maxPodPolicyCost ?? DEFAULT_MAX_POD_POLICY_COST
    this.#maxNodeCost = opts.maxNodePolicyCost ?? DEFAULT_MAX_NODE_POLICY_COST
    this.#nodeCostTaken = opts.nodeCostTaken
    this.#audit = opts.audit ?? false
  }

  /** What the local pods' open chains add up to (cost.ts units), as of the last compile: the node bound's share they take. */
  get nodeCost(): number {
    return this.#nodeUsed
  }

  /** How many local pod records the last compile compiled: every one when it was a full compile, else those a change touched. */
  get recordsCompiled(): number {
    return this.#recordsCompiled
  }
  #recordsCompiled = 0

  /** The valid policies of `ns` in key order, as of its last complete check. */
  #policiesOf(ns: string): NormPolicy[] {
    const list = this.#nsPolicies.get(ns)?.list
    return list?.length ? list : NO_POLICIES
  }

  /**
   * The IR of `localPods` under `state`, and the policies found invalid. `deferRemote`: the
   * policies of namespaces without a local pod are not checked now (a restart's first sync: at 30k
   * policies ~0.3 s of normalizing policies that compile into no chain here); the invalid list
   * lacks theirs until checkDeferred has checked them, or a compile without the option does.
   */
  compile(state: ClusterState, localPods: LocalPod[], o: { deferRemote?: boolean } = {}): { ir: PolicyIR; invalid: InvalidPolicy[] } {
    // With the source's change log, visit only the keys written since the last compile; else scan.
    const changes = changesBetween(this.#lastState, state)
    this.#lastState = state
    const dirty = this.#partsDirty
    // Still set: the last compile threw half way; what it synced is in no dirty set.
    if (this.#compiling) dirty.all = true
    this.#compiling = true
    const gen = this.#cnpGen
    const nsChanges = this.#syncNamespaces(state, changes?.namespaces)
    for (const c of nsChanges) dirty.namespaces.add(c.ns)
    /** the names of the sets whose members the changes below may have moved */
    const moved = new Set<string>()
    const manyNs = nsChanges.length > DELTA_LIMIT
    // A namespace's labels move only that namespace's pods, and only in the sets whose namespace
    // selector matched before xor after. Applied while the pod index is still the old one, so the
    // pod changes below start from sets that hold the old pods under the new namespace labels.
    if (!manyNs) {
      for (const c of nsChanges) {
        const pods = this.#podsByNs.get(c.ns)
        if (!pods) continue
        for (const s of this.#sets.values()) if (s.dependsOnNsLabels && s.relabelNamespace({ ns: c.ns, before: c.before, pods: pods.values(), view: this.#view })) moved.add(s.name)
      }
    }
    const podChanges = this.#syncPods(state, changes?.pods)
    const manyPods = podChanges.length > podDeltaLimit(this.#pods.size)
    this.#selections.updateCandidates()
    // A new set's first pass asks which namespaces its selector selects: the remembered answers
    // follow the namespaces that changed or gained their first pod or lost their last.
    this.#selections.refresh(nsChanges)
    this.#podsSelected.clear()
    this.#addrsSelected.clear()
    this.#syncPolicies(state, changes?.policies, o.deferRemote ? new Set(localPods.map((lp) => lp.namespace)) : undefined)
    this.#syncCnps(state)
    if (this.#cnpGen !== gen) dirty.all = true
    if (podChanges.length && !manyNs && !manyPods) {
      // A few pods: each updates only the sets its namespace can be in (sets.ts indexSets).
      const ix = (this.#setIndex ??= indexSets(this.#sets.values()))
      for (const [old, next] of podChanges) {
        const sets = new Set<SetEntry>()
        if (old) setsOfNamespace(ix, old.namespace, this.#view, sets)
        if (next && next.namespace !== old?.namespace) setsOfNamespace(ix, next.namespace, this.#view, sets)
        for (const s of sets) if (s.update(old, next, this.#view)) moved.add(s.name)
      }
    } else if (podChanges.length || manyNs) {
      for (const s of this.#sets.values()) {
        if (manyPods || (manyNs && s.dependsOnNsLabels)) (s.recompute(this.#view), moved.add(s.name))
        else for (const [old, next] of podChanges) if (s.update(old, next, this.#view)) moved.add(s.name)
      }
    }

    // With the parts of the last compile, only the local pods whose inputs changed are recompiled.
    const byKey = this.#localsByKey(localPods, dirty)
    this.#boundNode(localPods, byKey, dirty)
    this.#recordsCompiled = 0
    let ir = byKey && this.#parts ? this.#incremental(byKey, moved, dirty.all ? undefined : this.#dirtyParts()) : undefined
    if (!ir) {
      this.#recordsCompiled = localPods.length
      const full = this.#full(localPods)
      ir = full.ir
      // Parts would name the colliding pods otherwise (and overwrite their chain memos): while
      // names collide, every compile is a full one.
      this.#rebuildParts(full.collided ? undefined : byKey)
    }
    this.#partsDirty = { pods: new Set(), namespaces: new Set(), all: false }
    this.#compiling = false
    this.#ir = ir
    return { ir, invalid: this.#invalidAll() }
  }

  /**
   * The local pods' records by key: a pod's `ns/name`, or `ns/name` + "\n" + its veth for each
   * record of a pod that has several (a pod attached to two cinch networks under Multus; records
   * written without K8S_POD_* all name "/"): each record is a part of its own, and the records of
   * one pod share its chains (PartsUnion). Undefined when two records have one key (one pod, one
   * veth: a full compile decides). The last answer again while the list holds the same records
   * with the same fields (the agent passes the same list until the records change): its keys are
   * strings whose hash is known, so the lookups by key that follow (the pod, its part) do not hash
   * new strings. Otherwise a record came, went or changed: the parts to check are those of the
   * records that are new or differ from the last list's (`dirty.pods`; a part left without a
   * record is found by #incremental), not all ~110 inputs built and compared again on each ADD and
   * DEL (~0.2 ms of its compile, cold). Every part (`dirty.all`) when there is no last answer to
   * compare with.
   */
  #localsByKey(localPods: LocalPod[], dirty: { all: boolean; pods: Set<string> }): Map<string, LocalPod> | undefined {
    const last = this.#locals
    if (last && last.list === localPods && sameRecords(localPods, last.seen)) return last.byKey
    // The pods with several records: their records are keyed apart.
    const podKeys = localPods.map((lp) => `${lp.namespace}/${lp.name}`)
    let shared: Set<string> | undefined
    const seenPods = new Set<string>()
    for (const k of podKeys) {
      if (seenPods.has(k)) (shared ??= new Set()).add(k)
      else seenPods.add(k)
    }
    const m = new Map<string, LocalPod>()
    const byNs = new Map<string, string[]>()
    const at = new Map<string, number>()
    const multi = new Map<string, string[]>()
    let byKey: Map<string, LocalPod> | undefined = m
    for (let i = 0, j = 0; i < localPods.length; j += 5 + localPods[i]!.ips.length, i++) {
      const lp = localPods[i]!, pod = podKeys[i]!
      let k = pod
      if (shared?.has(pod)) {
        k = `${pod}\n${lp.hostVeth}`
        const l = multi.get(pod)
        if (l) l.push(k)
        else multi.set(pod, [k])
      }
      if (m.has(k)) { byKey = undefined; break }
      m.set(k, lp)
      at.set(k, j)
      const l = byNs.get(lp.namespace)
      if (l) l.push(k)
      else byNs.set(lp.namespace, [k])
    }
    if (!byKey || !last?.byKey) dirty.all = true
    else for (const [k, lp] of byKey) { const j = last.at.get(k); if (j === undefined || !sameRecordAt(lp, last.seen, j)) dirty.pods.add(k) }
    this.#locals = { list: localPods, seen: recordsSeen(localPods), at, byKey, byNs, multi }
    return byKey
  }

  /** The pod key of a record key (#localsByKey). */
  #podOf(recordKey: string): string {
    const nl = recordKey.indexOf('\n')
    return nl < 0 ? recordKey : recordKey.slice(0, nl)
  }

  /**
   * The keys of the records whose part inputs may have changed (#partsDirty, when it does not say
   * "all"): those of the pods replaced and the records changed, and those of the namespaces whose
   * policies or labels changed.
   */
  #dirtyParts(): Set<string> {
    const { pods, namespaces } = this.#partsDirty
    const byKey = this.#locals!.byKey!, byNs = this.#locals!.byNs, multi = this.#locals!.multi
    const keys = new Set<string>()
    for (const k of pods) {
      if (byKey.has(k)) keys.add(k)
      const records = multi.size ? multi.get(k) : undefined
      if (records) for (const r of records) keys.add(r)
    }
    for (const ns of namespaces) for (const k of byNs.get(ns) ?? []) keys.add(k)
    return keys
  }

  /**
   * Decides which local pods' directions the node bound closes (#nodeClosed), before any part is
   * compiled: the costs of the pods whose inputs may have changed are summed again, every other
   * one is as it was. A pod whose closure changed is marked dirty, so that one pod's change can
   * close or open another's chain and the parts stay equal to a full compile.
   */
  #boundNode(localPods: LocalPod[], byKey: Map<string, LocalPod> | undefined, dirty: { all: boolean; pods: Set<string> }): void {
    const costs = this.#podCosts
    // Whether a cost came, went or changed: else the last decision stands (every sync comes here).
    let moved = false
    // A pod whose records' veths are never programmed (#compilePod) has no chain to cost the node.
    const refresh = (key: string, ns: string, programmed: boolean) => {
      const pod = this.#pods.get(key), nsPolicies = programmed ? this.#policiesOf(ns) : NO_POLICIES, c = costs.get(key)
      if (c && c.pod === pod && c.nsPolicies === nsPolicies) return
      const labels = pod?.labels ?? {}
      let ingress = 0, egress = 0
      for (const p of nsPolicies) {
        if (!p.podSel.matches(labels)) continue
        if (p.ingress !== null) ingress += directionCost(p, 'ingress')
        if (p.egress !== null) egress += directionCost(p, 'egress')
      }
      if (!c || c.ingress !== ingress || c.egress !== egress) moved = true
      costs.set(key, { pod, nsPolicies, ingress, egress })
    }
    if (dirty.all || !byKey) {
      // By pod: one programmed record of a pod's several programs its chains.
      const live = new Map<string, LocalPod>()
      for (const lp of localPods) {
        const k = `${lp.namespace}/${lp.name}`
        if (!live.has(k) || VETH.test(lp.hostVeth)) live.set(k, lp)
      }
      for (const [k, lp] of live) refresh(k, lp.namespace, VETH.test(lp.hostVeth))
      for (const k of costs.keys()) if (!live.has(k)) (costs.delete(k), moved = true)
    } else {
      const multi = this.#locals!.multi
      const programmed = (pod: string, lp: LocalPod) => multi.get(pod)?.some((r) => VETH.test(byKey.get(r)!.hostVeth)) ?? VETH.test(lp.hostVeth)
      for (const k of this.#dirtyParts()) { const lp = byKey.get(k)!, pod = this.#podOf(k); refresh(pod, lp.namespace, programmed(pod, lp)) }
      let pods = byKey.size
      for (const l of multi.values()) pods -= l.length - 1
      if (costs.size !== pods) {
        for (const k of costs.keys()) if (!byKey.has(k) && !multi.has(k)) (costs.delete(k), moved = true)
        for (const [k, lp] of byKey) { const pod = this.#podOf(k); if (!costs.has(pod)) refresh(pod, lp.namespace, programmed(pod, lp)) }
      }
    }
    const max = Math.max(0, this.#maxNodeCost - (this.#nodeCostTaken?.() ?? 0))
    if (max !== this.#nodeMax) (moved = true, this.#nodeMax = max)
    if (!moved) return
    const closed = new Map<string, string>()
    let used = 0
    if (costs.size > 0) {
      const open: { key: string; dir: Direction; cost: number }[] = []
      for (const [key, c] of costs) for (const dir of DIRECTIONS) if (c[dir] > 0 && c[dir] <= this.#maxPodCost) (open.push({ key, dir, cost: c[dir] }), used += c[dir])
      for (const c of nodeClosures(open, max)) (closed.set(`${c.dir} ${c.key}`, nodeCostReason(c.cost, this.#maxNodeCost, c.dir, this.#audit)), used -= c.cost)
    }
    this.#nodeUsed = used
    const last = this.#nodeClosed
    if (closed.size === 0 && last.size === 0) return
    for (const [k, why] of closed) if (last.get(k) !== why) dirty.pods.add(k.slice(k.indexOf(' ') + 1))
    for (const k of last.keys()) if (!closed.has(k)) dirty.pods.add(k.slice(k.indexOf(' ') + 1))
    this.#nodeClosed = closed
  }

  /** The IR compiled over every local pod, in order (the first compile, and whenever parts cannot be used). */
  #full(localPods: LocalPod[]): { ir: PolicyIR; collided: boolean } {
    const ir = emptyIR()
    const chainNames = new NameBook()
    const counters = new NameBook()
    const used = new Map<string, () => SetDef>()
    const live = new Set<string>()
    const locals = [...localPods].sort((x, y) => `${x.namespace}/${x.name}`.localeCompare(`${y.namespace}/${y.name}`))
    for (const lp of locals) this.#compilePod({ ir, lp, chainNames, counters, used, live })
    for (const k of this.#chains.keys()) if (!live.has(k)) this.#chains.delete(k)
    for (const k of this.#tierChains.keys()) if (!live.has(k)) this.#tierChains.delete(k)
    for (const n of this.#sets.keys()) if (!used.has(n)) { this.#sets.delete(n); this.#setIndex = undefined }
    for (const [n, def] of used) if (!this.#sets.has(n)) { this.#sets.set(n, new SetEntry(n, def(), this.#view)); this.#setIndex = undefined }
    for (const n of [...used.keys()].sort()) ir.sets[n] = this.#sets.get(n)!.ir
    return { ir: keepUnchanged(this.#ir, sortIR(ir)), collided: chainNames.collided || counters.collided }
  }

  /**
   * The IR from the last one, recompiling only the local pods whose inputs changed (their
   * object, their namespace's policies or labels, the ClusterNetworkPolicies and Nodes, the
   * record) and the sets that changed; undefined when parts cannot give the full compile's names.
   * Parts of the IR nothing touched are the last IR's objects.
   */
  #incremental(byKey: Map<string, LocalPod>, moved: ReadonlySet<string>, only: ReadonlySet<string> | undefined): PolicyIR | undefined {
    const parts = this.#parts!, union = this.#union, prev = this.#ir!
    const dirty: [string, PodPart | undefined, PodPart | undefined][] = []
    const check = (key: string, lp: LocalPod) => {
      const old = parts.get(key), inputs = this.#partInputs(key, lp)
      if (!old || !samePartInputs(old.inputs, inputs)) dirty.push([key, old, this.#part(key, lp, inputs)])
    }
    // `only`: the parts whose inputs may have changed (#dirtyParts); every other one's are as
    // they were (~110 inputs built and compared on every sync, cold: ~0.25 ms of each change).
    if (only) for (const key of only) check(key, byKey.get(key)!)
    else for (const [key, lp] of byKey) check(key, lp)
    if (parts.size + dirty.filter(([, old]) => !old).length !== byKey.size) for (const [key, old] of parts) if (!byKey.has(key)) dirty.push([key, old, undefined])
    for (const [, , next] of dirty) if (next) this.#recordsCompiled++
    if (dirty.length === 0 && moved.size === 0) return prev
    // Every part going out is out before any comes in (a name may move from one pod to another);
    // a pod's part replaced by its next one moves only what the two do not share (PartsUnion.swapOut).
    const swaps: Swap[] = []
    for (const [, old, next] of dirty) if (old) { if (next) swaps.push(union.swapOut(old, next)); else union.remove(old) }
    let swapped = 0
    for (const [key, old, next] of dirty) {
      if (!next) { parts.delete(key); continue }
      if (!(old ? union.swapIn(swaps[swapped++]!) : union.add(next))) { this.#parts = undefined; return undefined }
      parts.set(key, next)
    }
    // A chain memo goes with the last part using it: a pod's records share its chains, and a pod
    // whose records came or went has its parts under other keys (#localsByKey).
    const multi = this.#locals!.multi
    const inUse = (pod: string, k: string) => !!parts.get(pod)?.live.has(k) || !!multi.get(pod)?.some((r) => parts.get(r)?.live.has(k))
    for (const [key, old] of dirty) {
      if (!old) continue
      const pod = this.#podOf(key)
      for (const k of old.live) if (!inUse(pod, k)) { this.#chains.delete(k); this.#tierChains.delete(k) }
    }
    const t = union.takeTouched()
    for (const n of t.sets) {
      const u = union.sets.get(n)
      if (!u) { this.#sets.delete(n); this.#setIndex = undefined }
      else if (!this.#sets.has(n)) { this.#sets.set(n, new SetEntry(n, u.v(), this.#view)); this.#setIndex = undefined }
    }
    const own = <T>(r: Record<string, T>, k: string): T | undefined => (Object.hasOwn(r, k) ? r[k] : undefined)
    // The union and the last IR were equal (the IR was built from the union, or the union from a
    // full compile's memos): only what the parts that came and went touched can differ, so the
    // records take every other entry from the last IR without a lookup, and a verdict map is
    // compared at the addresses touched (not its ~110 entries walked, four times per create).
    const ordered = this.#ordered
    const listed = <T>(o: Ordered<T> | undefined, rec: Record<string, T>) => (o && o.rec === rec ? o : orderedOf(rec))
    const chains = (ordered.chains = derive(listed(ordered.chains, prev.chains), t.chains, (n) => union.chains.get(n))).rec
    // A set's IR changes only when its members moved (`moved`, named by the updates that moved
    // them) or it came or went with a part (t.sets): every other one is the last IR's.
    const touched = moved.size === 0 ? t.sets : new Set([...t.sets, ...moved])
    const sets = (ordered.sets = derive(listed(ordered.sets, prev.sets), touched, (n) => (union.sets.has(n) ? this.#sets.get(n)!.ir : undefined))).rec
    // The verdict maps: derived from the last ones' lists at the addresses touched (a new local pod:
    // its own 1-2 addresses), as the records above; sorting ~110 keys of each map it touches, four
    // times per ADD and DEL, was ~0.1 ms of each with cold caches. The delta rides along (derive).
    let maps = prev.maps
    for (const m of MAP_NAMES) {
      const touched = t.maps.get(m)
      if (!touched) continue
      const u = union.maps.get(m)!
      const next = (ordered.maps[m] = derive(listed(ordered.maps[m], prev.maps[m]), touched, (a) => u.get(a))).rec
      if (next === prev.maps[m]) continue
      if (maps === prev.maps) maps = { ...prev.maps }
      maps[m] = next
    }
    const policyCounters = (ordered.policyCounters = derive(listed(ordered.policyCounters, prev.policyCounters), t.policyCounters, (k) => union.policyCounters.get(k)?.v)).rec
    const ruleCounters = [...t.ruleCounters].some((k) => !sameRuleCounter(union.ruleCounters.get(k)?.v, own(prev.ruleCounters, k)))
      ? sorted(union.ruleCounters, (e, k) => (sameRuleCounter(e.v, own(prev.ruleCounters, k)) ? prev.ruleCounters[k]! : e.v)) : prev.ruleCounters
    // The veths' addresses likewise, an unchanged list kept as the last IR's array; the veths are
    // that record's keys, in the same order.
    let veths = prev.veths, vethAddrs = prev.vethAddrs
    if (t.vethAddrs.size) {
      const next = (ordered.vethAddrs = derive(listed(ordered.vethAddrs, prev.vethAddrs), t.vethAddrs, (v) => {
        const a = union.vethAddrs.get(v), b = own(prev.vethAddrs, v)
        return a && b && sameList(a, b) ? b : a
      }))
      vethAddrs = next.rec
      if (!sameList(next.keys as string[], prev.veths)) veths = [...next.keys]
    }
    if (chains === prev.chains && sets === prev.sets && maps === prev.maps && policyCounters === prev.policyCounters &&
      ruleCounters === prev.ruleCounters && veths === prev.veths && vethAddrs === prev.vethAddrs) return prev
    return { chains, sets, maps, policyCounters, ruleCounters, veths, vethAddrs }
  }

  /** Parts of every local pod, after a full compile; none (compile in full again) when names collide. */
  #rebuildParts(byKey: Map<string, LocalPod> | undefined): void {
    this.#parts = undefined
    this.#union = new PartsUnion()
    if (!byKey) return
    const parts = new Map<string, PodPart>()
    for (const [key, lp] of byKey) {
      const p = this.#part(key, lp, this.#partInputs(key, lp))
      if (!this.#union.add(p)) return
      parts.set(key, p)
    }
    this.#union.takeTouched()
    this.#parts = parts
  }

  /** What the part of the record `recordKey` is computed from (#localsByKey). */
  #partInputs(recordKey: string, lp: LocalPod): PodPart['inputs'] {
    const key = this.#podOf(recordKey)
    return {
      namespace: lp.namespace, name: lp.name, hostVeth: lp.hostVeth, ips: lp.ips, pod: this.#pods.get(key),
      nsPolicies: this.#policiesOf(lp.namespace), nsLabels: this.#view.nsLabels(lp.namespace), gen: this.#cnpGen,
      nodeClosed: this.#nodeClosed.size ? `${this.#nodeClosed.get(`ingress ${key}`) ?? ''}\n${this.#nodeClosed.get(`egress ${key}`) ?? ''}` : '',
    }
  }

  /** One record compiled alone, its names claimed (local-parts.ts): its addresses and veth are its own, its chains its pod's. */
  #part(key: string, lp: LocalPod, inputs: PodPart['inputs']): PodPart {
    const ir = emptyIR(), used = new Map<string, () => SetDef>(), live = new Set<string>(), claims: [string, string][] = []
    this.#compilePod({ ir, lp, chainNames: new ClaimBook('c', claims), counters: new ClaimBook('k', claims), used, live })
    claims.push(...ownershipClaims(ir, key))
    return { inputs: { ...inputs, ips: [...inputs.ips] }, ir, used, live, claims }
  }

  /** Compiles one local pod into `ir` (its chains, counters, verdict map entries, veth and addresses). */
  #compilePod(o: { ir: PolicyIR; lp: LocalPod; chainNames: Namer; counters: Namer; used: Map<string, () => SetDef>; live: Set<string> }): void {
    const { ir, lp, chainNames, counters, used, live } = o
    // Quoted into nft text: a name outside this pattern is never rendered; its pod's veth stays
    // unprogrammed (dropped by the guard). Records are checked when read (lib/state), so this
    // only holds the compiler to its own contract.
    if (!VETH.test(lp.hostVeth)) return
    ir.veths.push(lp.hostVeth)
    const own = (ir.vethAddrs[lp.hostVeth] ??= [])
    for (const ip of lp.ips) {
      const a = this.#canonIp(ip)
      if (a && !own.includes(a.text)) own.push(a.text)
    }
    const key = `${lp.namespace}/${lp.name}`
    const pod = this.#pods.get(key)
    const nsPolicies = this.#policiesOf(lp.namespace)
    // A local pod the sources do not know yet has no labels: only policies selecting all pods of
    // its namespace apply to it until it is known.
    const labels = pod?.labels ?? {}
    const selecting = nsPolicies.filter((p) => p.podSel.matches(labels))
    const cnpPod: Pod = pod ?? { namespace: lp.namespace, name: lp.name, labels: {}, ips: lp.ips, ports: [] }
    const nsLabels = this.#view.nsLabels(lp.namespace)
    for (const dir of DIRECTIONS) {
      // NetworkPolicySpec.ingress/egress: traffic is allowed "if there are no NetworkPolicies
      // selecting the pod" for that direction, "OR if the traffic matches at least one rule across
      // all of the NetworkPolicy objects whose podSelector matches the pod" -- so policies add up.
      const pols = selecting.filter((p) => p[dir] !== null)
      // ClusterNetworkPolicy tiers around it: Admin -> NetworkPolicy -> Baseline (cnp/README.md).
      const tierPols = (tier: 'Admin' | 'Baseline') => this.#tiers[tier].filter((p) => p[dir].length > 0 && subjectSelects(p.subject, cnpPod, nsLabels))
      const admin = tierPols('Admin'), baseline = tierPols('Baseline')
      let npName: string | undefined
      if (pols.length > 0) npName = this.#netpolChain({ ir, lp, key, dir, pod, pols, nsPolicies, chainNames, counters, used, live })
      const baselineName = baseline.length ? chainNames.name(`baseline-${dir}`, lp.namespace, lp.name) : undefined
      const adminName = admin.length ? chainNames.name(`admin-${dir}`, lp.namespace, lp.name) : undefined
      const tierArgs = { ir, key, dir, pod, nsLabels, counters, used, live }
      if (baselineName) this.#tierChain({ ...tierArgs, tier: 'Baseline', name: baselineName, policies: baseline, next: undefined })
      if (adminName) this.#tierChain({ ...tierArgs, tier: 'Admin', name: adminName, policies: admin, next: npName ?? baselineName })
      // The verdict map jumps to the pod's first chain; a pod with none is not affected.
      const first = adminName ?? npName ?? baselineName
      if (!first) continue
      for (const ip of lp.ips) {
        const a = this.#canonIp(ip)
        if (a) ir.maps[`${dir}-v${a.family}`][a.text] = first
      }
    }
  }

  /** A local pod's address, parsed once (each compile visits every local pod's addresses). */
  #canonIp(ip: string): { family: 4 | 6; text: string } | null {
    let c = this.#ips.get(ip)
    if (c === undefined) {
      if (this.#ips.size > 10_000) this.#ips.clear()
      const a = parseIp(ip, LENIENT)
      this.#ips.set(ip, (c = a ? { family: a.family, text: formatIp(a) } : null))
    }
    return c
  }

  #invalidAll(): InvalidPolicy[] {
    if (this.#cnpInvalid.length === 0) return this.#invalidList
    const last = this.#invalidAllLast
    if (last?.np === this.#invalidList && last.cnp === this.#cnpInvalid) return last.all
    const all = [...this.#invalidList, ...this.#cnpInvalid]
    this.#invalidAllLast = { np: this.#invalidList, cnp: this.#cnpInvalid, all }
    return all
  }

  /** The NetworkPolicy chain of one local pod and direction (memoised); returns its name. */
  #netpolChain(o: { ir: PolicyIR; lp: LocalPod; key: string; dir: Direction; pod: Pod | undefined; pols: NormPolicy[]; nsPolicies: NormPolicy[]; chainNames: Namer; counters: Namer; used: Map<string, () => SetDef>; live: Set<string> }): string {
    const { ir, lp, key, dir, pod, pols, nsPolicies, chainNames, counters, used, live } = o
    // Names in the same order as ever (chain, policy counters, drop counter): a NameBook gives
    // a colliding name a hash suffix, first come first served.
    const name = chainNames.name(`pod-${dir}`, lp.namespace, lp.name)
    // Each policy is bounded alone (#checker); what those selecting one pod add up to is bounded
    // too: past it the chain fails closed (its drop alone, no policy counter), so that one tenant's
    // thousands of small policies cannot make a chain whose every rewrite, and every other commit's
    // validation of the table, costs the node seconds (cost.ts DEFAULT_MAX_POD_POLICY_COST).
    let cost = 0
    for (const p of pols) cost += directionCost(p, dir)
    const memoKey = `${dir} ${key}`
    // And what the local pods' add up to (#boundNode): then the costliest namespace's close first.
    const closed = cost > this.#maxPodCost ? podCostReason(cost, this.#maxPodCost, dir, this.#audit) : this.#nodeClosed.get(memoKey)
    const policyCounters = closed ? [] : pols.map((p) => (ir.policyCounters[p.key] ??= counters.name('policy', p.namespace, p.name)))
    const drop = counters.name(`drop-${dir}`, lp.namespace, lp.name)
    const signature = closed ? `${drop} closed ${closed}` : `${drop} ${policyCounters.join(' ')}`
    let m = this.#chains.get(memoKey)
    if (!m || m.pod !== pod || m.nsPolicies !== nsPolicies || m.name !== name || m.signature !== signature) {
      m = { pod, nsPolicies, name, signature, ...chainOf({ memo: this.#ruleMemo, key, dir, pod, pols, policyCounters, drop, closed }) }
      this.#chains.set(memoKey, m)
    }
    live.add(memoKey)
    ir.chains[name] = m.chain
    for (const [n, def] of m.sets) if (!used.has(n)) used.set(n, def)
    return name
  }

  /** One ClusterNetworkPolicy tier chain of a local pod and direction (memoised). */
  #tierChain(o: { ir: PolicyIR; key: string; dir: Direction; pod: Pod | undefined; nsLabels: Record<string, string>; counters: Namer; used: Map<string, () => SetDef>; live: Set<string>; tier: 'Admin' | 'Baseline'; name: string; policies: CnpPolicy[]; next: string | undefined }): void {
    const memoKey = `${o.tier} ${o.dir} ${o.key}`
    let m = this.#tierChains.get(memoKey)
    if (!m || m.pod !== o.pod || m.gen !== this.#cnpGen || m.nsLabels !== o.nsLabels || m.name !== o.name || m.next !== o.next) {
      const sets = new Map<string, () => SetDef>()
      const use = (n: string, def: () => SetDef) => (sets.has(n) || sets.set(n, def), n)
      const built = tierChain({
        tier: o.tier, dir: o.dir, key: o.key, pod: o.pod, policies: o.policies, nodes: [...this.#nodes.values()], next: o.next, use,
        counter: (policy, index) => o.counters.name('cnp', policy, `${o.dir}-${index}`),
      })
      m = { pod: o.pod, gen: this.#cnpGen, nsLabels: o.nsLabels, name: o.name, next: o.next, sets, ...built }
      this.#tierChains.set(memoKey, m)
    } else {
      // Counter names come from a NameBook per compile: claim the memo's names again, in order.
      for (const c of Object.values(m.counters)) o.counters.name('cnp', c.policy, `${c.direction}-${c.index}`)
    }
    o.live.add(memoKey)
    o.ir.chains[o.name] = m.chain
    Object.assign(o.ir.ruleCounters, m.counters)
    for (const [n, def] of m.sets) if (!o.used.has(n)) o.used.set(n, def)
  }

  /** Brings the ClusterNetworkPolicies (converted, in tier order) and the Nodes up to date. */
  #syncCnps(state: ClusterState): void {
    const cnps = state.clusterNetworkPolicies ?? new Map<string, ClusterNetworkPolicyObject>()
    if (cnps === this.#cnpObjects && state.nodes === this.#nodes) return
    const same = <V>(a: Map<string, V>, b: Map<string, V>, eq: (x: V, y: V) => boolean) =>
      a.size === b.size && [...b].every(([k, v]) => { const o = a.get(k); return o !== undefined && (o === v || eq(o, v)) })
    const cnpSame = same(this.#cnpObjects, cnps, (x, y) => JSON.stringify(x) === JSON.stringify(y))
    const nodesSame = same(this.#nodes, state.nodes, (x, y) => JSON.stringify(x) === JSON.stringify(y))
    this.#nodes = state.nodes
    // Nodes reach a tier chain only through a `nodes` peer: without one, a Node change (a label,
    // an address) leaves every tier chain as it is: nothing rebuilt, nothing for renderDiff to walk.
    if (cnpSame && (nodesSame || !this.#cnpUsesNodes)) { this.#cnpObjects = cnps; return }
    this.#cnpGen++
    if (cnpSame) { this.#cnpObjects = cnps; return }
    this.#cnpObjects = cnps
    const valid: CnpPolicy[] = []
    const invalid: InvalidPolicy[] = []
    for (const name of [...cnps.keys()].sort()) {
      const raw = cnps.get(name)!
      let r = cnpCache.get(raw)
      if (!r) cnpCache.set(raw, (r = convertPolicy(raw)))
      if ('invalid' in r) { invalid.push({ policy: cnpKey(name), reason: r.invalid.reason }); continue }
      const cost = cnpCost(r.policy)
      if (cost > this.#maxCost) invalid.push({ policy: cnpKey(name), reason: costReason(cost, this.#maxCost) })
      else valid.push(r.policy)
    }
    this.#cnpInvalid = invalid
    this.#tiers = { Admin: tierOrder(valid, 'Admin'), Baseline: tierOrder(valid, 'Baseline') }
    this.#cnpUsesNodes = valid.some((p) => [...p.ingress, ...p.egress].some((r) => r.peers.some((x) => x.kind === 'nodes')))
  }

  /**
   * Brings the pod index up to date; returns the replaced pods (old, new), either may be absent.
   * `keys`: the keys written since the last compile (all of them, when absent).
   */
  #syncPods(state: ClusterState, keys: ReadonlySet<string> | undefined): [Pod | undefined, Pod | undefined][] {
    const changes: [Pod | undefined, Pod | undefined][] = []
    const index = (k: string, old: Pod | undefined, next: Pod | undefined) => {
      changes.push([old, next])
      this.#partsDirty.pods.add(k)
      this.#selections.podChanged(old, next)
      if (old) {
        const list = this.#podsByNs.get(old.namespace)!
        list.delete(k)
        if (list.size === 0) { this.#podsByNs.delete(old.namespace); this.#selections.podNamespaceMoved(old.namespace) }
      }
      if (next) {
        let list = this.#podsByNs.get(next.namespace)
        if (!list) { this.#podsByNs.set(next.namespace, (list = new Map())); this.#selections.podNamespaceMoved(next.namespace) }
        list.set(k, next)
        this.#pods.set(k, next)
      } else this.#pods.delete(k)
    }
    const visit = (k: string, p: Pod | undefined) => {
      const old = this.#pods.get(k)
      if (!p) { if (old) index(k, old, undefined); return }
      // Equal content (a manifest re-read gives new objects): keep the known object and its memos.
      if (old !== p && !(old && samePod(old, p))) index(k, old, p)
    }
    if (keys) {
      for (const k of keys) visit(k, state.pods.get(k))
      return changes
    }
    for (const [k, p] of state.pods) visit(k, p)
    if (this.#pods.size > state.pods.size) for (const [k, old] of this.#pods) if (!state.pods.has(k)) index(k, old, undefined)
    return changes
  }

  /** Brings namespaces up to date; returns those whose labels changed, with their labels before. */
  #syncNamespaces(state: ClusterState, keys: ReadonlySet<string> | undefined): { ns: string; before: Record<string, string> }[] {
    const changed: { ns: string; before: Record<string, string> }[] = []
    const set = (k: string, next: Namespace | undefined) => {
      changed.push({ ns: k, before: this.#view.nsLabels(k) })
      this.#nsLabels.delete(k)
      this.#selections.labelsChanged()
      if (next) this.#namespaces.set(k, next)
      else this.#namespaces.delete(k)
    }
    const visit = (k: string, n: Namespace | undefined) => {
      const old = this.#namespaces.get(k)
      if (!n) { if (old) set(k, undefined); return }
      if (old !== n && !(old && sameLabels(old.labels, n.labels))) set(k, n)
    }
    if (keys) {
      for (const k of keys) visit(k, state.namespaces.get(k))
      return changed
    }
    for (const [k, n] of state.namespaces) visit(k, n)
    if (this.#namespaces.size > state.namespaces.size) for (const k of [...this.#namespaces.keys()]) if (!state.namespaces.has(k)) set(k, undefined)
    return changed
  }

  /**
   * Brings the per-namespace policy lists up to date (new arrays for the namespaces whose valid
   * policies changed), checking only the policies written since the last compile. `localNs`
   * (compile's deferRemote): the namespaces with a local pod; the others' policies are left
   * unchecked (#deferredNs).
   */
  #syncPolicies(state: ClusterState, keys: ReadonlySet<string> | undefined, localNs?: ReadonlySet<string>): void {
    const dirty = new Set<string>()
    const invalid = this.#invalidTracker(), check = this.#checker(invalid.set)
    const nsOf = (p: NetworkPolicy) => p.metadata?.namespace ?? 'default' // as normalizePolicy does
    const set = (k: string, old: NetworkPolicy | undefined, next: NetworkPolicy | undefined) => {
      if (old) {
        invalid.set(k, undefined)
        // Replaced in its namespace: put below marks it to be checked again.
        if (!next || nsOf(next) !== nsOf(old)) (dirty.add(nsOf(old)), this.#nsPolicies.get(nsOf(old))!.remove(k))
      }
      if (next) {
        dirty.add(nsOf(next))
        let np = this.#nsPolicies.get(nsOf(next))
        if (!np) this.#nsPolicies.set(nsOf(next), (np = new NamespacePolicies()))
        np.put(k)
        this.#policies.set(k, next)
      } else this.#policies.delete(k)
    }
    const visit = (k: string, p: NetworkPolicy | undefined) => {
      const old = this.#policies.get(k)
      if (!p) { if (old) set(k, old, undefined); return }
      if (old !== p && !(old && JSON.stringify(old) === JSON.stringify(p))) set(k, old, p)
    }
    if (keys) for (const k of keys) visit(k, state.policies.get(k))
    else for (const [k, p] of state.policies) visit(k, p)
    if (!keys && this.#policies.size > state.policies.size) for (const [k, old] of this.#policies) if (!state.policies.has(k)) set(k, old, undefined)
    // Deferred namespaces are checked now: all of them without the option, those that gained a local pod with it.
    for (const ns of this.#deferredNs) if (!localNs || localNs.has(ns)) dirty.add(ns)
    if (dirty.size === 0) return
    for (const ns of dirty) {
      if (localNs && !localNs.has(ns)) this.#deferredNs.add(ns)
      else this.#checkNamespace(ns, check)
    }
    invalid.commit()
  }

  /**
   * Checks the policies of the namespaces a deferRemote compile left unchecked until `budgetMs` is
   * spent (at least a few policies), stopping inside a namespace if need be: the next call goes on
   * from there, and the namespace stays deferred until all of it is checked. `done`: none is left;
   * `invalidChanged`: what it found changed the invalid list, which the next compile hands out
   * (nothing else can change).
   */
  checkDeferred(budgetMs: number): { done: boolean; invalidChanged: boolean } {
    const t0 = performance.now()
    const invalid = this.#invalidTracker(), check = this.#checker(invalid.set)
    const spent = () => performance.now() - t0 >= budgetMs
    for (const ns of this.#deferredNs) {
      const np = this.#nsPolicies.get(ns)
      if (np && !np.check(check, spent)) break
      this.#finishNamespace(ns, np)
      if (spent()) break
    }
    return { done: this.#deferredNs.size === 0, invalidChanged: invalid.commit() }
  }

  /**
   * Checks what is left unchecked of the policies of `ns` and brings its list up to date,
   * each through `check` (#checker), which reports the invalid ones.
   */
  #checkNamespace(ns: string, check: (k: string) => NormPolicy | undefined): void {
    const np = this.#nsPolicies.get(ns)
    np?.check(check)
    if (this.#finishNamespace(ns, np)) this.#partsDirty.namespaces.add(ns)
  }

  /** Normalizes and costs a policy by key: the policy when valid, else undefined, reported to `invalid`. */
  #checker(invalid: (k: string, reason: string | undefined) => void): (k: string) => NormPolicy | undefined {
    return (k) => {
      const n = normalizePolicy(this.#policies.get(k)!)
      if ('error' in n) return void invalid(k, n.error)
      const cost = policyCost(n)
      if (cost > this.#maxCost) return void invalid(k, costReason(cost, this.#maxCost))
      return n
    }
  }

  /**
   * A namespace whose policies are all checked: its list brought up to date; returns whether the
   * list is a new array. Its local pods' parts are the caller's to mark (checkDeferred's
   * namespaces have none: a pod turning local there is a new record, whose part is compiled after
   * the same compile's #syncPolicies has checked the namespace, as it does for every namespace
   * that gained a local pod).
   */
  #finishNamespace(ns: string, np: NamespacePolicies | undefined): boolean {
    this.#deferredNs.delete(ns)
    if (!np) return false
    const changed = np.publish()
    if (np.size === 0) this.#nsPolicies.delete(ns)
    return changed
  }

  /**
   * Changes of #invalid (`set`: a reason, or undefined for valid), remembering each key's reason
   * before the first; `commit` brings #invalidKeys and #invalidList up to date when one differs
   * (and says whether one did).
   */
  #invalidTracker(): { set: (k: string, reason: string | undefined) => void; commit: () => boolean } {
    const before = new Map<string, string | undefined>()
    return {
      set: (k, reason) => {
        if (!before.has(k)) before.set(k, this.#invalid.get(k))
        if (reason === undefined) this.#invalid.delete(k)
        else this.#invalid.set(k, reason)
      },
      commit: () => {
        let changed = false
        for (const [k, was] of before) {
          const now = this.#invalid.get(k)
          if (now === was) continue
          changed = true
          if (now === undefined) this.#invalidKeys.delete(k)
          else this.#invalidKeys.add(k)
        }
        if (changed) this.#invalidList = this.#invalidKeys.keys.map((policy) => ({ policy, reason: this.#invalid.get(policy)! }))
        return changed
      },
    }
  }
}

/** A pod's NetworkPolicy chain of one direction; `closed`: failed closed (no rules), and why. */
function chainOf(o: { memo: RuleMemo; key: string; dir: Direction; pod: Pod | undefined; pols: NormPolicy[]; policyCounters: string[]; drop: string; closed: string | undefined }): Pick<ChainMemo, 'chain' | 'sets'> {
  const sets = new Map<string, () => SetDef>()
  const use = (name: string, def: () => SetDef) => {
    if (!sets.has(name)) sets.set(name, def)
    return name
  }
  const rules: IrRule[] = []
  if (!o.closed) o.pols.forEach((p, k) => p[o.dir]!.forEach((r, i) => {
    rules.push(...memoPolicyRules(o.memo, use, { dir: o.dir, p, i, r, counter: o.policyCounters[k]!, localPorts: o.pod?.ports ?? NO_PORTS }))
  }))
  const chain: IrChain = {
    pod: o.key, direction: o.dir, rules,
    // The comment names the pod only: it stays the same while policies come and go, so a
    // diff never has to recreate the chain (nft cannot change a chain's comment in place).
    comment: commentText(`${o.dir} of pod ${o.key}`),
    dropCounter: o.drop,
    policies: o.pols.map((p) => p.key),
    ...(o.closed ? { failedClosed: o.closed } : {}),
  }
  return { chain, sets }
}


function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a)
  return ka.length === Object.keys(b).length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && a[k] === b[k])
}

/** Equal in everything the compiler reads of a pod. */
function samePod(a: Pod, b: Pod): boolean {
  return a.namespace === b.namespace && !!a.hostNetwork === !!b.hostNetwork && sameLabels(a.labels, b.labels) &&
    a.ips.length === b.ips.length && a.ips.every((ip, i) => ip === b.ips[i]) && samePorts(a.ports ?? [], b.ports ?? [])
}

function samePorts(a: PodPort[], b: PodPort[]): boolean {
  return a.length === b.length && a.every((p, i) => {
    const q = b[i]!
    return p.name === q.name && p.containerPort === q.containerPort && p.protocol === q.protocol
  })
}
