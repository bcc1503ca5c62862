// RefTable: prefix id -> what it names, rebuilt from each IR the agent applies. Policy ids name a
// policy (NetworkPolicy `ns/name`, ClusterNetworkPolicy `name`); chain ids name a pod chain and,
// through it, the policies that isolate the pod in that direction (IrChain.policies): what a drop
// at the end of the chain is due to.
import type { PolicyIR } from '../compile/ir.js'
import { refId, type Direction, type Hit, type Tier } from './prefix.js'

export type Ref =
  | { kind: 'policy'; policy: string }
  | { kind: 'chain'; chain: string; pod: string; direction: Direction; policies: string[] }

export interface RefSource {
  /** NetworkPolicy keys `ns/name` whose rules may log */
  networkPolicies: string[]
  /** ClusterNetworkPolicy names (those with a rule counter: a rule in a local pod's tier chain) */
  clusterPolicies?: string[]
  /** pod chains (NetworkPolicy, CNP tier and audit chains) whose end may log */
  chains: { name: string; pod: string; direction: Direction; policies: string[] }[]
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
      const k = `${space}:${refId(space, name)}`
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
    for (const c of src.chains) put('chain', c.name, { kind: 'chain', chain: c.name, pod: c.pod, direction: c.direction, policies: [...c.policies] })
    if (!previous) return
    for (const [k, names] of this.#names) {
      const before = previous.#names.get(k)?.filter((n) => !names.includes(n))
      if (!before?.length) continue
      this.#byId.set(k, 'ambiguous')
      const space = k.slice(0, k.indexOf(':')) as Space
      for (const a of before) for (const b of names) pair(space, a, b)
    }
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
    chains: Object.entries(ir.chains).map(([name, c]) => ({ name, pod: c.pod, direction: c.direction, policies: c.policies })),
  }
}
