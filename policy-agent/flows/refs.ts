// RefTable: prefix id -> what it names, rebuilt from each IR the agent applies. Policy ids name a
// policy (NetworkPolicy `ns/name`, ClusterNetworkPolicy `name`); chain ids name a pod chain and,
// through it, the policies that isolate the pod in that direction (IrChain.policies): what a drop
// at the end of the chain is due to.
import type { PolicyIR } from '../compile/ir.js'
import { refId, type Direction, type Hit, type Tier } from './prefix.js'

export type Ref =
  | { kind: 'policy'; policy: string }
  | { kind: 'chain'; chain: string; pod: string; direction: Direction; policies: string[]; failedClosed?: true }

export interface RefSource {
  /** NetworkPolicy keys `ns/name` whose rules may log */
  networkPolicies: string[]
  /** ClusterNetworkPolicy names (those with a rule counter: a rule in a local pod's tier chain) */
  clusterPolicies?: string[]
  /** pod chains (NetworkPolicy, CNP tier and audit chains) whose end may log */
  chains: { name: string; pod: string; direction: Direction; policies: string[]; failedClosed?: string }[]
}

type Space = 'np' | 'cnp' | 'chain'

/** Which id space a log point's id lives in: the policy kind for rule hits, chains for ends. */
export function spaceOf(tier: Tier, hit: Hit): Space {
  if (hit === 'end') return 'chain'
  return tier === 'networkpolicy' ? 'np' : 'cnp'
}

export class RefTable {
  readonly #byId = new Map<string, Ref | 'ambiguous'>()
  /** the names this table's own IR gave each id (more than one: a collision) */
  readonly #names = new Map<string, string[]>()
  /** each colliding pair once, `space a ~ b` (names sorted) */
  readonly collisions: string[] = []
  /** `space name` -> its id: a name's sha256 is taken once, not at every sync (issue 14) */
  readonly #ids = new Map<string, string>()
  /**
   * Whether an id is ambiguous here only because the previous table named it otherwise. A table
   * that does not is what a new table of the same source, built on it, would be: kept as it is.
   */
  readonly carriesPrevious: boolean = false

  /**
   * `previous`: the table of the sync before. A packet is read after the rules that logged it
   * may have been replaced (the socket queues it, the table follows the kernel only once the
   * sync is applied), so an id that named something else one sync ago is ambiguous too: else a
   * policy deleted in the sync that creates its colliding twin would have its last packets
   * named after the twin, silently.
   */
  constructor(src: RefSource, previous?: RefTable) {
    const pair = (space: Space, a: string, b: string) => {
      const c = `${space} ${[a, b].sort().join(' ~ ')}`
      if (!this.collisions.includes(c)) this.collisions.push(c)
    }
    const put = (space: Space, name: string, ref: Ref) => {
      const n = `${space} ${name}`
      const id = (previous && previous.#ids.get(n)) ?? this.#ids.get(n) ?? refId(space, name)
      this.#ids.set(n, id)
      const k = `${space}:${id}`
      const had = this.#byId.get(k)
      const names = this.#names.get(k) ?? []
      const others = names.filter((n) => n !== name)
      if (names.length === 0) this.#names.set(k, names)
      if (others.length === names.length) names.push(name)
      // 48-bit ids: about one collision in 10^7 tables of 10,000 policies by chance, but a tenant
      // can search for a name colliding with another's offline. When it happens, the id names
      // neither (a record saying "ambiguous" beats one naming the wrong policy).
      if (had !== undefined && !(had !== 'ambiguous' && JSON.stringify(had) === JSON.stringify(ref))) {
        this.#byId.set(k, 'ambiguous')
        // The same name with another ref (never from one IR): a pair of one.
        for (const other of others.length ? others : [name]) pair(space, other, name)
      } else this.#byId.set(k, ref)
    }
    for (const p of src.networkPolicies) put('np', p, { kind: 'policy', policy: p })
    for (const p of src.clusterPolicies ?? []) put('cnp', p, { kind: 'policy', policy: p })
    for (const c of src.chains) put('chain', c.name, chainRef(c.name, c))
    if (!previous) return
    for (const [k, names] of this.#names) {
      const before = previous.#names.get(k)?.filter((n) => !names.includes(n))
      if (!before?.length) continue
      this.carriesPrevious = true
      this.#byId.set(k, 'ambiguous')
      const space = k.slice(0, k.indexOf(':')) as Space
      for (const a of before) for (const b of names) pair(space, a, b)
    }
  }

  /**
   * Brings this table, made of `prev`, to `ir` in place, at the cost of what changed between
   * them (the compiler keeps an unchanged chain's or record's object: compile/ir-records.ts), and
   * returns true; rebuilding it from the whole IR at every sync made a third of what the agent
   * allocated per change (issue 14). It changes nothing and returns false (build a new table on
   * this one) when the outcome could differ from that build's: a table holding an ambiguous id, a
   * name coming to an id another name holds or held, a ClusterNetworkPolicy rule counter changed.
   */
  follow(prev: PolicyIR, ir: PolicyIR): boolean {
    if (this.collisions.length || this.carriesPrevious) return false
    if (prev.ruleCounters !== ir.ruleCounters) return false
    const gone: string[] = []
    const came: { n: string; k: string; ref: Ref }[] = []
    const add = (space: Space, name: string, ref: Ref): boolean => {
      const n = `${space} ${name}`
      const k = `${space}:${this.#ids.get(n) ?? refId(space, name)}`
      const names = this.#names.get(k)
      if (names && !(names.length === 1 && names[0] === name)) return false // another name's id
      if (!names && came.some((c) => c.k === k)) return false // two new names, one id
      came.push({ n, k, ref })
      return true
    }
    if (prev.policyCounters !== ir.policyCounters) {
      for (const p in prev.policyCounters) if (!Object.hasOwn(ir.policyCounters, p)) gone.push(`np ${p}`)
      for (const p in ir.policyCounters) if (!Object.hasOwn(prev.policyCounters, p) && !add('np', p, { kind: 'policy', policy: p })) return false
    }
    if (prev.chains !== ir.chains) {
      for (const c in prev.chains) if (!Object.hasOwn(ir.chains, c)) gone.push(`chain ${c}`)
      for (const c in ir.chains) {
        const now = ir.chains[c]!
        const was = Object.hasOwn(prev.chains, c) ? prev.chains[c] : undefined
        if (was === now || (was && was.pod === now.pod && was.direction === now.direction && !was.failedClosed === !now.failedClosed && sameList(was.policies, now.policies))) continue
        if (!add('chain', c, chainRef(c, now))) return false
      }
    }
    for (const n of gone) {
      const k = `${n.slice(0, n.indexOf(' '))}:${this.#ids.get(n)}`
      this.#byId.delete(k)
      this.#names.delete(k)
      this.#ids.delete(n)
    }
    for (const { n, k, ref } of came) {
      this.#ids.set(n, k.slice(k.indexOf(':') + 1))
      this.#names.set(k, [n.slice(n.indexOf(' ') + 1)])
      this.#byId.set(k, ref)
    }
    return true
  }

  /** The ref of an id in a space; 'ambiguous' on a hash collision; undefined when unknown. */
  resolve(space: Space, id: string): Ref | 'ambiguous' | undefined {
    return this.#byId.get(`${space}:${id}`)
  }
}

/** The refs an applied IR can log: its NetworkPolicies (those with a counter: they select a local pod) and chains. */
export function refSourceFromIR(ir: PolicyIR): RefSource {
  return {
    networkPolicies: Object.keys(ir.policyCounters),
    clusterPolicies: [...new Set(Object.values(ir.ruleCounters ?? {}).map((r) => r.policy))],
    chains: Object.entries(ir.chains).map(([name, c]) => ({ name, pod: c.pod, direction: c.direction, policies: c.policies, ...(c.failedClosed ? { failedClosed: c.failedClosed } : {}) })),
  }
}

/** A chain's ref: a drop at its end is due to its policies, or (failedClosed) to what they add up to. */
function chainRef(name: string, c: { pod: string; direction: Direction; policies: string[]; failedClosed?: string }): Ref {
  return { kind: 'chain', chain: name, pod: c.pod, direction: c.direction, policies: [...c.policies], ...(c.failedClosed ? { failedClosed: true as const } : {}) }
}

const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i])
