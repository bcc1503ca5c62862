// nft text of the IR's pieces: sets, pod-chain rules, base chains. render/index.ts assembles them.
import { MAP_NAMES, type IrChain, type IrPort, type IrRule, type IrSet, type MapName, type PolicyIR } from '../compile/ir.js'
import { endPoint, logStatement, rulePoint, type IrFlowLog } from '../flows/nft.js'

export const TABLE = 'inet cinch'
export const BRIDGE_TABLE = 'bridge cinch'
export const UNPROGRAMMED_COUNTER = 'drop-unprogrammed'

const addrType = (f: 4 | 6) => (f === 4 ? 'ipv4_addr' : 'ipv6_addr')

/** The statements of a set's declaration: `type ...`, `flags ...`, `comment "..."`. */
export function setParts(s: IrSet): string[] {
  const type = s.kind === 'tuple' ? `${addrType(s.family)} . inet_proto . inet_service` : s.kind === 'ports' ? 'inet_service' : addrType(s.family)
  return [`type ${type}`, ...(s.kind === 'block' || s.kind === 'ports' ? ['flags interval'] : []), `comment "${s.comment}"`]
}

/**
 * The `size` a set of addresses or tuples is created with: twice its elements, in powers of two,
 * at least MIN_SET_SIZE. With a size the kernel gives the set a hash of fixed buckets, where
 * elements go in without the resizes of the hash it starts otherwise at its minimum (a policy
 * create's two new sets of 300 addresses: ~0.5 ms of its ~2 ms in the kernel, bench:nft-commit);
 * but it also refuses elements past the size (ENFILE), and a set is never resized: the applier
 * then replaces the tables whole, each set at least as large as it was (render/index.ts
 * RenderOptions.setSizes). Intervals (ipBlocks, port ranges)
 * are another kind of set; very large sets keep the resizing hash (a fixed one would allocate
 * its buckets up front).
 */
export function setSize(s: IrSet): number | undefined {
  if (s.kind !== 'addr' && s.kind !== 'tuple') return undefined
  if (s.elements.length > MAX_SIZED_SET) return undefined
  return Math.max(MIN_SET_SIZE, 2 ** Math.ceil(Math.log2(2 * s.elements.length)))
}
const MIN_SET_SIZE = 256
const MAX_SIZED_SET = 1 << 20

/** `type ...; flags ...; comment ...;` of a set (what `add set` takes). */
export const setSpec = (s: IrSet): string => setParts(s).map((p) => `${p};`).join(' ')

/** The address type a dispatch map (and its isolated set) is keyed by. */
export const mapKey = (m: MapName): 'ipv4_addr' | 'ipv6_addr' => (m.endsWith('v4') ? 'ipv4_addr' : 'ipv6_addr')

export function mapSpec(name: MapName): string {
  return `type ${mapKey(name)} : verdict;`
}

export const mapElement = (addr: string, chain: string) => `${addr} : jump ${chain}`

/**
 * The addresses a verdict map sends to a chain, as a plain set: what the midstream chains look up.
 * A lookup in a verdict map makes the kernel validate every chain the map jumps to at each commit
 * that adds a rule, even a lookup that only asks whether the address is there (nft_lookup_validate
 * walks the map whatever the rule does with it): the midstream chains' ten lookups were ~0.1 ms of
 * every policy change's commit at 30k (bench/README phase 14), and walked a tenant's big chain
 * once more on everyone's changes. A plain set's lookup validates nothing.
 */
export const isolatedSetName = (m: MapName) => `isolated-${m}`

/** Rule text of one IR rule in a pod chain of `direction` (an audit chain's: `return`, uncounted). */
export function ruleText(r: IrRule, direction: 'ingress' | 'egress', audit = false): string {
  const parts = matchParts(r, direction)
  if (r.counter) parts.push(`counter name "${r.counter}"`)
  // Ingress is the last check of a packet: accept. Egress returns to the base chain, which then
  // looks up the destination's ingress chain ("both ... need to allow the connection"); so does a
  // ClusterNetworkPolicy egress Accept ("any ingress rules at the destination do apply").
  // A Deny drops; a Pass goes on to the pod's chain of the next tier (goto: its allow returns
  // straight to the base chain). An audit chain only looks: its matches return.
  if (audit) parts.push('return')
  else if (r.action === 'drop') parts.push('drop')
  else if (r.action) parts.push(`goto ${r.action.goto}`)
  else parts.push(direction === 'ingress' ? 'accept' : 'return')
  parts.push(`comment "${r.comment}"`)
  return parts.join(' ')
}

/** What a rule matches (the part before its counter and verdict). */
function matchParts(r: IrRule, direction: 'ingress' | 'egress'): string[] {
  const ip = r.family === 6 ? 'ip6' : 'ip'
  // The peer is the source of what a pod receives and the destination of what it sends.
  const peer = direction === 'ingress' ? 'saddr' : 'daddr'
  const parts: string[] = []
  if (r.family && !r.peerSet && !r.tupleSet) parts.push(`meta nfproto ipv${r.family}`)
  if (r.peerSet) parts.push(`${ip} ${peer} @${r.peerSet}`)
  if (r.tupleSet) parts.push(`${ip} daddr . meta l4proto . th dport @${r.tupleSet}`)
  if (r.ports) parts.push(portsText(r.ports))
  if (r.portSet) parts.push(`meta l4proto ${r.portSet.protocol} th dport @${r.portSet.set}`)
  return parts
}

const full = (p: IrPort) => p.from === 0 && p.to === 65535
const range = (p: IrPort) => (p.from === p.to ? `${p.from}` : `${p.from}-${p.to}`)

function portsText(ports: IrPort[]): string {
  if (ports.length === 1) {
    const p = ports[0]!
    return full(p) ? `meta l4proto ${p.protocol}` : `meta l4proto ${p.protocol} th dport ${range(p)}`
  }
  if (ports.every(full)) return `meta l4proto { ${[...new Set(ports.map((p) => p.protocol))].join(', ')} }`
  return `meta l4proto . th dport { ${ports.map((p) => `${p.protocol} . ${range(p)}`).join(', ')} }`
}

/**
 * The rules of chain `name`, in order, ending with its counted drop. In a chain that logs (`fl`
 * given and c.flowLog), each verdict point is preceded by its log rule: the same match with `L(P)`
 * and no verdict (README "The exact rules"). The match is evaluated twice for the first packet of
 * a logged pod's connection only: the base chains accept established traffic before any pod chain.
 */
export function chainRules(name: string, c: IrChain, fl?: IrFlowLog): string[] {
  const log = c.flowLog && fl ? fl : undefined
  const rules: string[] = []
  for (const r of c.rules) {
    const point = log && !c.audit ? rulePoint({ direction: c.direction, tier: c.tier, policy: r.policy, rule: r.rule, action: r.action }) : undefined
    if (point) rules.push([...matchParts(r, c.direction), logStatement(log!, point)].join(' '))
    rules.push(ruleText(r, c.direction, c.audit))
  }
  // An audit chain: no rule would have allowed it, so enforcing would have dropped it here.
  if (c.audit) return log ? [...rules, logStatement(log, endPoint(c.direction, name, 'would-deny'))] : rules
  // A tier chain: no rule decided, so the next tier does (goto), or nothing more does (allowed:
  // the chain ends and the base chain carries on, as after a NetworkPolicy allow).
  if (c.tier) {
    if (c.next) return [...rules, `goto ${c.next}`]
    return log && c.tier === 'Baseline' ? [...rules, logStatement(log, endPoint(c.direction, name, 'baseline-allow'))] : rules
  }
  return [...rules, ...(log ? [logStatement(log, endPoint(c.direction, name, 'deny'))] : []), `counter name "${c.dropCounter}" drop`]
}

// IPv6 neighbour discovery between pods on the bridge passes br_netfilter's ip6 hooks but is not
// tracked as a connection: without this, an egress-isolated pod could not answer a neighbour
// solicitation and allowed traffic towards it would fail.
const ND = 'icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept'

// A TCP packet that starts a conntrack entry without being a SYN is the middle of a connection
// whose entry is gone -- typically one the agent just removed because the new rules deny it.
// Conntrack picks it up anyway (nf_conntrack_tcp_loose=1, the default) with the packet's own
// direction as "original": when the SERVER speaks next, the reversed flow would be judged (and
// often allowed), and the client's packets would pass as its replies. So a pod under policy never
// accepts one: connections start with a SYN (flags masked: ECN bits may ride along).
const MIDSTREAM = 'ct state new tcp flags & (fin | syn | rst | ack) != syn'
// The test is made once per packet, in the base chain, and only a packet that passes it walks the
// address lookups, in a chain of their own: every packet of a flow without replies (UDP one way,
// vxlan's outer packets on the sender's output hook) is `ct state new`, and used to pay the
// test once per lookup (8 in forward, 2 in output; bench/README.md "phase 7i"). The drops and
// their order are the same; a lookup that misses returns to the base chain, as a rule that
// missed went on to the next.
export const MIDSTREAM_CHAINS = { forward: 'midstream-forward', output: 'midstream-output' } as const
const midstream = (ends: ('saddr' | 'daddr')[], maps: ('ingress' | 'egress')[]) =>
  maps.flatMap((m) => ends.flatMap((e) => [`ip ${e} @${isolatedSetName(`${m}-v4`)} drop`, `ip6 ${e} @${isolatedSetName(`${m}-v6`)} drop`]))

/** The regular chains the base chains jump to for a TCP packet that starts mid-stream (MIDSTREAM). */
export function midstreamChains(): { name: string; comment: string; rules: string[] }[] {
  return [
    { name: MIDSTREAM_CHAINS.forward, comment: 'forward: mid-stream TCP from or to a pod under policy', rules: midstream(['saddr', 'daddr'], ['ingress', 'egress']) },
    { name: MIDSTREAM_CHAINS.output, comment: 'output: mid-stream TCP to an egress-isolated pod', rules: midstream(['daddr'], ['egress']) },
  ]
}

/** Base chains of `inet cinch`: (name, header, rules). */
export function baseChains(): { name: string; hook: string; rules: string[] }[] {
  const egress = ['ip saddr vmap @egress-v4', 'ip6 saddr vmap @egress-v6']
  const ingress = ['ip daddr vmap @ingress-v4', 'ip6 daddr vmap @ingress-v6']
  const head = ['ct state established,related accept', ND]
  return [
    // Routed and (with br_netfilter) bridged pod traffic: the sender's egress, then the receiver's ingress.
    { name: 'forward', hook: 'forward', rules: [...head, `${MIDSTREAM} jump ${MIDSTREAM_CHAINS.forward}`, ...egress, ...ingress] },
    // Pods talking to this node itself: their egress applies too. Traffic the node sends to its
    // pods takes the output hook and is never filtered: the node always reaches its pods.
    { name: 'input', hook: 'input', rules: [...head, ...egress] },
    // ... except the middle of a connection an egress-isolated pod opened to the node and the new
    // rules deny: not a new connection, and it would revive the denied one (see MIDSTREAM).
    { name: 'output', hook: 'output', rules: [`${MIDSTREAM} jump ${MIDSTREAM_CHAINS.output}`] },
  ]
}

/**
 * Whether the audit pass has anything to look at: some local pod's address jumps to an audit
 * chain. Without that its hooks are not installed (a base chain is one more hook every forwarded
 * and input packet walks); the audit maps stay declared, empty, so a diff only adds the hooks.
 */
export function auditActive(ir: Pick<PolicyIR, 'auditMaps'>): boolean {
  const maps = ir.auditMaps
  if (maps) for (const m of MAP_NAMES) for (const _ in maps[m]) return true
  return false
}

/**
 * The audit pass (flows/README.md "Audit mode"): base chains on the same hooks after the enforcing
 * ones (priority filter + 10). An accept there ends only that base chain, so these see exactly
 * what enforcement let through; their audit chains only log and return, never decide. None
 * while no pod is audited (auditActive).
 */
export function auditBaseChains(ir: Pick<PolicyIR, 'auditMaps'>): { name: string; hook: string; rules: string[] }[] {
  if (!auditActive(ir)) return []
  const egress = ['ip saddr vmap @audit-egress-v4', 'ip6 saddr vmap @audit-egress-v6']
  const ingress = ['ip daddr vmap @audit-ingress-v4', 'ip6 daddr vmap @audit-ingress-v6']
  const head = 'ct state established,related accept'
  return [
    { name: 'audit-forward', hook: 'forward', rules: [head, ...egress, ...ingress] },
    { name: 'audit-input', hook: 'input', rules: [head, ...egress] },
  ]
}

export const AUDIT_PRIORITY = 'filter + 10'
export const auditMapName = (m: MapName) => `audit-${m}`

/**
 * Fail-closed guard of `bridge cinch`: a `cinch*` veth outside @veths passes no IP traffic. Fail
 * open has no guard and so no chains: an empty base chain with policy accept decides nothing, yet
 * the kernel would still call it for every frame on its hook (bench/README.md "phase 7i").
 *
 * Nearly every frame here is between programmed veths (or the node), so each chain first accepts
 * those with the lookups alone: a drop needs its port outside @veths, so none of them could match
 * such a frame, and the protocol and name tests are left for the rest.
 */
export function guardChains(failOpen: boolean): { name: string; hook: string; rules: string[] }[] {
  if (failOpen) return []
  const drop = (dir: 'iifname' | 'oifname') =>
    `meta protocol { ip, ip6 } ${dir} "cinch*" ${dir} != @veths counter name "${UNPROGRAMMED_COUNTER}" drop`
  return [
    { name: 'forward', hook: 'forward', rules: ['iifname @veths oifname @veths accept', drop('iifname'), drop('oifname')] },
    { name: 'input', hook: 'input', rules: ['iifname @veths accept', drop('iifname')] },
    { name: 'output', hook: 'output', rules: ['oifname @veths accept', drop('oifname')] },
  ]
}
