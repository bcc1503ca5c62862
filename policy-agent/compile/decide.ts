// decide(state, flow): the NetworkPolicy verdict of one flow, in words, straight from the API
// semantics (not from the IR, so tests can hold the IR against it). Used by `cinch explain` and by
// the agent to find conntrack entries that new rules no longer allow.
import type { ClusterState, Pod, Protocol } from '../model/cluster.js'
import { LENIENT, cidrContains, formatIp, parseIp, sameIp, type Ip } from '../../lib/ip/index.js'
import { indexCluster, policiesSelecting, type ClusterIndex } from './cluster-index.js'
import type { Peer, Port, Rule } from './normalize.js'
import { irProtocol, portWords, resolvePort } from './ports.js'

export type Endpoint = { namespace: string; name: string } | { ip: string }
export interface Flow { from: Endpoint; to: Endpoint; port: number; protocol: Protocol }
export type Verdict = {
  allowed: boolean
  reasons: string[] /* in words: which policies and rules decide */
  /**
   * A NetworkPolicy of this direction selects the pod (it is isolated): the verdict is final.
   * Otherwise it is the default allow, and ClusterNetworkPolicy's Baseline tier may still decide
   * ("v1.NetworkPolicy always makes a final decision for selected pods").
   */
  selected: boolean
}

interface Side { pod?: Pod; addr?: Ip; label: string }
type Dir = 'ingress' | 'egress'

export type Decision = { egress: Verdict; ingress: Verdict; allowed: boolean }

export function decide(state: ClusterState, flow: Flow): Decision {
  return decider(state)(flow)
}

/** decide() for many flows against one state: the cluster is indexed once, not per flow. */
export function decider(state: ClusterState): (flow: Flow) => Decision {
  const ix = indexCluster(state)
  return (flow) => decideIndexed(ix, flow)
}

function decideIndexed(ix: ClusterIndex, flow: Flow): Decision {
  const [src, dst] = resolveSides(ix, flow)
  const egress = verdictFor(ix, 'egress', src, dst, flow)
  const ingress = verdictFor(ix, 'ingress', dst, src, flow)
  // NetworkPolicy docs: "For a connection from a source pod to a destination pod to be allowed,
  // both the egress policy on the source pod and the ingress policy on the destination pod need to
  // allow the connection."
  return { egress, ingress, allowed: egress.allowed && ingress.allowed }
}

function resolveSides(ix: ClusterIndex, flow: Flow): [Side, Side] {
  const one = (ep: Endpoint): { pod?: Pod; addrs: Ip[]; label: string } => {
    if ('ip' in ep) {
      const a = parseIp(ep.ip, LENIENT)
      if (!a) throw new Error(`${ep.ip} is not an IP address`)
      const pod = ix.podByAddr(formatIp(a))
      return { pod, addrs: [a], label: pod ? `${pod.namespace}/${pod.name} (${formatIp(a)})` : formatIp(a) }
    }
    const pod = ix.state.pods.get(`${ep.namespace}/${ep.name}`)
    if (!pod) throw new Error(`unknown pod ${ep.namespace}/${ep.name}`)
    const addrs = pod.ips.map((ip) => parseIp(ip, LENIENT)).filter((a): a is Ip => a !== null)
    return { pod, addrs, label: `${pod.namespace}/${pod.name}` }
  }
  const s = one(flow.from), d = one(flow.to)
  // A flow has one address family: the first one both ends have (IPv4 first).
  const family = ([4, 6] as const).find((f) => s.addrs.some((a) => a.family === f) && d.addrs.some((a) => a.family === f))
  const pick = (addrs: Ip[]) => addrs.find((a) => a.family === family) ?? addrs[0]
  return [{ pod: s.pod, addr: pick(s.addrs), label: s.label }, { pod: d.pod, addr: pick(d.addrs), label: d.label }]
}

function verdictFor(ix: ClusterIndex, dir: Dir, self: Side, other: Side, flow: Flow): Verdict {
  const what = `${flow.protocol}/${flow.port} ${dir === 'egress' ? 'to' : 'from'} ${other.label}`
  if (!self.pod || self.pod.hostNetwork) {
    return { allowed: true, selected: false, reasons: [`${self.label} is not a pod network pod: no ${dir} policy applies`] }
  }
  if (dir === 'ingress' && other.addr && fromOwnNode(ix, self.pod, other.addr)) {
    // NetworkPolicySpec.ingress: traffic is allowed "if the traffic source is the pod's local node".
    const selected = policiesSelecting(ix, self.pod.namespace, self.pod.labels).some((p) => p[dir] !== null)
    return { allowed: true, selected, reasons: [`${formatIp(other.addr)} is the node of ${self.label}: the node always reaches its pods`] }
  }
  const pols = policiesSelecting(ix, self.pod.namespace, self.pod.labels).filter((p) => p[dir] !== null)
  if (pols.length === 0) {
    return { allowed: true, selected: false, reasons: [`${self.label} is not isolated for ${dir}: no policy of type ${dir === 'egress' ? 'Egress' : 'Ingress'} selects it`] }
  }
  // The destination's container ports resolve named ports: for ingress the selected pod itself,
  // for egress the peer (when it is a pod of the pod network).
  const dstPod = dir === 'ingress' ? self.pod : other.pod?.hostNetwork ? undefined : other.pod
  const reasons: string[] = []
  for (const p of pols) {
    p[dir]!.forEach((r, i) => {
      const why = ruleAllows(ix, r, other, flow, dstPod)
      if (why !== null) reasons.push(`allowed by ${p.key} ${dir}[${i}]: ${why}`)
    })
  }
  if (reasons.length > 0) return { allowed: true, selected: true, reasons }
  const empty = pols.filter((p) => p[dir]!.length === 0).map((p) => p.key)
  return {
    allowed: false,
    selected: true,
    reasons: [
      `${self.label} is isolated for ${dir} by ${pols.map((p) => p.key).join(', ')}` +
        (empty.length ? ` (${empty.join(', ')} ${empty.length > 1 ? 'have' : 'has'} no ${dir} rules: deny all)` : ''),
      `no ${dir} rule of them allows ${what}`,
    ],
  }
}

function fromOwnNode(ix: ClusterIndex, pod: Pod, addr: Ip): boolean {
  const node = pod.nodeName ? ix.state.nodes.get(pod.nodeName) : undefined
  return !!node?.internalIPs.some((ip) => { const a = parseIp(ip, LENIENT); return !!a && sameIp(a, addr) })
}

/** Why the rule allows the flow, in words, or null when it does not. */
function ruleAllows(ix: ClusterIndex, r: Rule, other: Side, flow: Flow, dstPod: Pod | undefined): string | null {
  let peerWhy = 'any peer (no from/to)'
  if (r.peers) {
    const hit = r.peers.find((peer) => peerMatches(ix, peer, other))
    if (!hit) return null
    peerWhy = `${other.label} is in ${hit.words}`
  }
  let portWhy = 'any port (no ports)'
  if (r.ports) {
    const hit = r.ports.find((x) => portMatches(x, flow, dstPod))
    if (!hit) return null
    portWhy = portWords(hit)
  }
  return `${peerWhy}, ${portWhy}`
}

function peerMatches(ix: ClusterIndex, peer: Peer, other: Side): boolean {
  if (peer.kind === 'block') {
    // IPBlock: "a particular CIDR ... that is allowed", minus "except" ranges.
    const a = other.addr
    return !!a && cidrContains(peer.cidr, a) && !peer.except.some((e) => cidrContains(e, a))
  }
  const pod = other.pod
  if (!pod || pod.hostNetwork) return false
  // NetworkPolicyPeer: with both selectors, "selects particular Pods within particular Namespaces";
  // with podSelector alone, pods "in the same namespace as the NetworkPolicy".
  const nsOk = peer.nsSel ? peer.nsSel.matches(ix.nsLabels(pod.namespace)) : pod.namespace === peer.namespace
  return nsOk && (!peer.podSel || peer.podSel.matches(pod.labels))
}

function portMatches(x: Port, flow: Flow, dstPod: Pod | undefined): boolean {
  const proto = irProtocol(flow.protocol)
  return resolvePort(x, dstPod?.ports ?? []).some((r) => r.protocol === proto && flow.port >= r.from && flow.port <= r.to)
}
