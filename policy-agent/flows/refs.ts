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
  readonly collisions: string[] = []

  constructor(src: RefSource) {
    const put = (space: Space, name: string, ref: Ref) => {
      const k = `${space}:${refId(space, name)}`
      const had = this.#byId.get(k)
      // 48-bit ids: about one collision in 10^7 tables of 10,000 policies. When it happens, the
      // id names neither (a record saying "ambiguous" beats one naming the wrong policy).
      if (had !== undefined && !(had !== 'ambiguous' && JSON.stringify(had) === JSON.stringify(ref))) {
        this.#byId.set(k, 'ambiguous')
        this.collisions.push(`${space} ${name}`)
      } else this.#byId.set(k, ref)
    }
    for (const p of src.networkPolicies) put('np', p, { kind: 'policy', policy: p })
    for (const p of src.clusterPolicies ?? []) put('cnp', p, { kind: 'policy', policy: p })
    for (const c of src.chains) put('chain', c.name, { kind: 'chain', chain: c.name, pod: c.pod, direction: c.direction, policies: [...c.policies] })
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
