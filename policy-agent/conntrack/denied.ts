// Which conntrack entries a policy change must end. nftables only judges the first packet of a
// connection (`ct state established,related accept` lets the rest through), so an entry the new
// rules would not have let in outlives its policy unless deleted. Pure: the entries come from
// lib/net/conntrack.ts, the verdict from every tier: ClusterNetworkPolicy Admin, NetworkPolicy
// (compile/decide.ts), Baseline (cnp/tiered.ts), so a ClusterNetworkPolicy Deny cuts flows too.
import type { ClusterState, Protocol } from '../model/cluster.js'
import { enforcedState, tieredDecider, type FailedClosedSides } from '../cnp/tiered.js'
import { IPPROTO, IPS, SCTP_CONNTRACK, TCP_CONNTRACK, type CtEntry } from '../../lib/net/conntrack.js'

const PROTOCOLS = new Map<number, Protocol>([[IPPROTO.TCP, 'TCP'], [IPPROTO.UDP, 'UDP'], [IPPROTO.SCTP, 'SCTP']])

/**
 * Whether deleting the entry can still matter. A TCP entry in TIME_WAIT or CLOSE carries no more
 * data (the connection is over; it only absorbs late segments), nor does a closed SCTP
 * association or an entry the kernel is already destroying. Every UDP entry is live: even one
 * never answered lets the peer's first reply in as `established`.
 */
export function isLive(e: CtEntry): boolean {
  if (e.status & IPS.DYING) return false
  if (e.orig.proto === IPPROTO.TCP) return e.state !== TCP_CONNTRACK.TIME_WAIT && e.state !== TCP_CONNTRACK.CLOSE
  if (e.orig.proto === IPPROTO.SCTP) return e.state !== SCTP_CONNTRACK.CLOSED
  return true
}

/** How one flow is judged: the policy saw the original source and, after DNAT, the reply's source. */
export function flowOf(e: CtEntry): { src: string; dst: string; dport: number; protocol: Protocol } | undefined {
  const protocol = PROTOCOLS.get(e.orig.proto)
  if (!protocol) return undefined
  // A Service connection's original destination is the ClusterIP; the forward hook (and so the
  // policy) saw the pod it was translated to, which is where the reply comes from.
  return { src: e.orig.src, dst: e.reply.src, dport: e.reply.sport, protocol }
}

const MEMO_MAX = 65_536

/**
 * A predicate over entries: live, touching a local pod (canonical addresses in `localIps`), not
 * opened by the node itself, and denied by `state`. A flow the node opened (source in `nodeIps`)
 * is never denied: what the node sends to its pods takes the output hook, which no cinch rule
 * filters ("the node always reaches its pods", kubelet probes from the bridge gateway address);
 * decide() cannot know that address -- it is no Node InternalIP. `nodeIps` may be a function,
 * called at the first entry that touches a local pod (reading the interfaces allocates). Verdicts
 * are memoized per (protocol, source, destination, port): 20k flows of one pod to one service
 * cost one decision.
 */
export function deniedEntries(state: ClusterState, localIps: Set<string>, nodeIps: Set<string> | (() => Set<string>) = new Set(), skipped: readonly string[] = [], closed?: FailedClosedSides): (e: CtEntry) => boolean {
  // Indexed on the first entry that involves a local pod: building the decider reads the whole
  // cluster (every policy normalised), which at 30k policies cost the agent's event loop about a
  // second per change while most passes have no such entry (issue 14).
  let decide: ReturnType<typeof tieredDecider> | undefined
  let node = typeof nodeIps === 'function' ? undefined : nodeIps
  const memo = new Map<string, boolean>()
  return (e) => {
    // Most of a node's table touches no local pod (flowOf's src and dst): those are rejected
    // before anything is allocated for them, a pass costs the agent in proportion to its pods' flows.
    if (!localIps.has(e.orig.src) && !localIps.has(e.reply.src)) return false
    const f = isLive(e) ? flowOf(e) : undefined
    if (!f) return false
    node ??= (nodeIps as () => Set<string>)()
    if (node.has(f.src)) return false
    const key = `${f.protocol} ${f.src} ${f.dst} ${f.dport}`
    let denied = memo.get(key)
    if (denied === undefined) {
      decide ??= tieredDecider(enforcedState(state, skipped), closed)
      denied = !decide({ from: { ip: f.src }, to: { ip: f.dst }, port: f.dport, protocol: f.protocol }).allowed
      if (memo.size >= MEMO_MAX) memo.clear()
      memo.set(key, denied)
    }
    return denied
  }
}
