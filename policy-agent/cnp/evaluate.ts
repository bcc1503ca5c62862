// evaluate(flow): the verdict of one flow through the three tiers, per direction, in words, straight
// from the API semantics (not from any IR, so the compiler of phase 2 can be held against it).
//
//   egress of the source pod:      Admin -> NetworkPolicy -> Baseline -> allow
//   ingress of the destination pod: Admin -> NetworkPolicy -> Baseline -> allow
//   allowed = egress allowed AND ingress allowed
//
// ClusterNetworkPolicySpec.tier: "If Admin tier has made a final decision (Accept or Deny) on a
// connection, then no further evaluation is done." "v1.NetworkPolicy always makes a final decision
// for selected pods. Further evaluation only happens for Pods not selected by a v1.NetworkPolicy."
// "If a given connection wasn't allowed or denied by any of the tiers, ... all pods can
// communicate with each other." The NetworkPolicy tier is a parameter (netpol.ts adapts
// compile/decide.ts), so this module composes with it without changing it.
import type { ClusterState, Pod, Protocol } from '../model/cluster.js'
import type { Endpoint } from '../compile/decide.js'
import { LENIENT, cidrContains, formatIp, parseIp, sameIp, type Ip } from '../../lib/ip/index.js'
import { podKeysByAddress } from '../model/pod-addresses.js'
import { namespaceLabels, subjectSelects, tierOrder } from './order.js'
import type { Action, Direction, Peer, Policy, ProtocolMatch, Rule, Tier } from './types.js'

/** What cinch needs to know of a Node beyond model/cluster.ts: its labels and all its addresses. */
export interface CnpNode {
  name: string
  labels: Record<string, string>
  /** every IP in node.status.addresses (InternalIP, ExternalIP); host names are not addresses */
  addresses: string[]
}

export interface CnpCluster { state: ClusterState; nodes: readonly CnpNode[] }

export interface Flow { from: Endpoint; to: Endpoint; protocol: Protocol; port: number }

/** The NetworkPolicy tier's answer for one direction of a flow. */
export interface NetworkPolicyVerdict {
  /** a NetworkPolicy of this direction selects the pod: its answer is final */
  selected: boolean
  allowed: boolean
  reasons: string[]
}
export type NetworkPolicyTier = (direction: Direction, flow: Flow) => NetworkPolicyVerdict

export interface RuleRef { tier: Tier; policy: string; priority: number; direction: Direction; index: number; name: string; action: Action }

export interface DirectionVerdict {
  allowed: boolean
  /** the tier that decided; 'default' when none did ("all pods can communicate") */
  decidedBy: Tier | 'NetworkPolicy' | 'default'
  /** the ClusterNetworkPolicy rule that decided (Accept/Deny), if one did */
  rule?: RuleRef
  reasons: string[]
}

export interface CnpDecision { egress: DirectionVerdict; ingress: DirectionVerdict; allowed: boolean }

interface Side { pod?: Pod; addr?: Ip; label: string }

/** One flow's decision; see evaluator() for many flows against one state. */
export function evaluate(cluster: CnpCluster, policies: readonly Policy[], networkPolicy: NetworkPolicyTier, flow: Flow): CnpDecision {
  return evaluator(cluster, policies, networkPolicy)(flow)
}

export function evaluator(cluster: CnpCluster, policies: readonly Policy[], networkPolicy: NetworkPolicyTier): (flow: Flow) => CnpDecision {
  const admin = tierOrder(policies, 'Admin')
  const baseline = tierOrder(policies, 'Baseline')
  const nodes = cluster.nodes.map((n) => ({ node: n, addrs: n.addresses.map((a) => parseIp(a, LENIENT)).filter((a): a is Ip => a !== null) }))
  // Which pod holds an address: model/pod-addresses.ts's rule (two pods on one address: the
  // greatest key), as flow records and `cinch explain`'s NetworkPolicy half name it.
  const podByAddr = new Map<string, Pod>()
  for (const [addr, key] of podKeysByAddress(cluster.state)) podByAddr.set(addr, cluster.state.pods.get(key)!)
  const ctx: Ctx = { state: cluster.state, nodes, podByAddr }
  return (flow) => {
    const [src, dst] = sides(ctx, flow)
    // api-overview "hairpin": "A Pod connecting to its own Pod IP is not subject to CNP." The
    // packets never leave the pod's network namespace (they go through its loopback).
    const hairpin = !!src.pod && !src.pod.hostNetwork && !!dst.addr && src.pod.ips.some((ip) => { const a = parseIp(ip, LENIENT); return !!a && sameIp(a, dst.addr!) })
    const one = (dir: Direction, self: Side, other: Side): DirectionVerdict => {
      const reasons: string[] = []
      if (hairpin) reasons.push(`${src.label} reaches its own pod IP: hairpin traffic is not subject to ClusterNetworkPolicy`)
      else if (!self.pod || self.pod.hostNetwork) reasons.push(`${self.label} is not a pod-network pod: no ClusterNetworkPolicy ${dir} applies`)
      else {
        const a = walkTier(ctx, admin, 'Admin', dir, self.pod, other, flow)
        reasons.push(...a.reasons)
        if (a.final) return { allowed: a.final.action === 'Accept', decidedBy: 'Admin', rule: a.final, reasons }
      }
      const np = networkPolicy(dir, flow)
      if (np.selected) return { allowed: np.allowed, decidedBy: 'NetworkPolicy', reasons: [...reasons, ...np.reasons.map((r) => `NetworkPolicy: ${r}`)] }
      reasons.push(`NetworkPolicy: no NetworkPolicy selects ${self.label} for ${dir}`)
      if (!hairpin && self.pod && !self.pod.hostNetwork) {
        const b = walkTier(ctx, baseline, 'Baseline', dir, self.pod, other, flow)
        reasons.push(...b.reasons)
        if (b.final) return { allowed: b.final.action === 'Accept', decidedBy: 'Baseline', rule: b.final, reasons }
      }
      reasons.push('no tier decided: allowed (the Kubernetes default)')
      return { allowed: true, decidedBy: 'default', reasons }
    }
    const egress = one('egress', src, dst)
    // ClusterNetworkPolicyEgressRule Accept: "No further egress ClusterNetworkPolicy or
    // NetworkPolicy rules will be processed but any ingress rules at the destination do apply."
    const ingress = one('ingress', dst, src)
    return { egress, ingress, allowed: egress.allowed && ingress.allowed }
  }
}

interface Ctx {
  state: ClusterState
  nodes: { node: CnpNode; addrs: Ip[] }[]
  /** canonical address -> pod-network pod */
  podByAddr: Map<string, Pod>
}

function sides(ctx: Ctx, flow: Flow): [Side, Side] {
  const one = (ep: Endpoint): { pod?: Pod; addrs: Ip[]; label: string } => {
    if ('ip' in ep) {
      const a = parseIp(ep.ip, LENIENT)
      if (!a) throw new Error(`${ep.ip} is not an IP address`)
      const pod = ctx.podByAddr.get(formatIp(a))
      return { pod, addrs: [a], label: pod ? `${pod.namespace}/${pod.name} (${formatIp(a)})` : formatIp(a) }
    }
    const pod = ctx.state.pods.get(`${ep.namespace}/${ep.name}`)
    if (!pod) throw new Error(`unknown pod ${ep.namespace}/${ep.name}`)
    return { pod, addrs: pod.ips.map((ip) => parseIp(ip, LENIENT)).filter((a): a is Ip => a !== null), label: `${pod.namespace}/${pod.name}` }
  }
  const s = one(flow.from), d = one(flow.to)
  // A flow has one address family: the first one both ends have (IPv4 first), as decide() picks.
  const family = ([4, 6] as const).find((f) => s.addrs.some((a) => a.family === f) && d.addrs.some((a) => a.family === f))
  const pick = (addrs: Ip[]) => addrs.find((a) => a.family === family) ?? addrs[0]
  return [{ pod: s.pod, addr: pick(s.addrs), label: s.label }, { pod: d.pod, addr: pick(d.addrs), label: d.label }]
}

/**
 * The policies of one tier in order, their rules of one direction in order: the first rule that
 * matches decides. Accept/Deny end the evaluation of this direction (final); Pass ends this tier.
 */
function walkTier(ctx: Ctx, ordered: Policy[], tier: Tier, dir: Direction, self: Pod, other: Side, flow: Flow): { final?: RuleRef; reasons: string[] } {
  const nsLabels = namespaceLabels(ctx.state, self.namespace)
  const label = `${self.namespace}/${self.name}`
  let subjectOf = 0
  for (const p of ordered) {
    if (p[dir].length === 0 || !subjectSelects(p.subject, self, nsLabels)) continue
    subjectOf++
    for (const r of p[dir]) {
      const m = ruleMatches(ctx, r, dir, self, other, flow)
      if (m === null) continue
      const action: Action = r.failClosed ? 'Deny' : r.action
      const ref: RuleRef = { tier, policy: p.name, priority: p.priority, direction: dir, index: r.index, name: r.name, action }
      const where = `${tier}: ${p.name} (priority ${p.priority}) ${dir}[${r.index}]${r.name ? ` ${r.name}` : ''}`
      if (action === 'Pass') return { reasons: [`${where} passes ${flow.protocol}/${flow.port} ${dir === 'egress' ? 'to' : 'from'} ${other.label} to the next tier: ${m}`] }
      return { final: ref, reasons: [`${where} ${action === 'Accept' ? 'accepts' : 'denies'} it: ${m}`] }
    }
  }
  return { reasons: [subjectOf === 0 ? `${tier}: no ${tier} policy with ${dir} rules selects ${label}` : `${tier}: no ${dir} rule of the ${subjectOf} ${tier} policies selecting ${label} matches`] }
}

/** Why the rule matches the flow, in words, or null when it does not. */
function ruleMatches(ctx: Ctx, r: Rule, dir: Direction, self: Pod, other: Side, flow: Flow): string | null {
  if (r.failClosed) {
    // ClusterNetworkPolicyIngressPeer: "For "Accept" rules, "fail closed" means: "treat the rule as
    // matching no traffic". For "Deny" and "Pass" rules, "fail closed" means: "treat the rule as a
    // 'Deny all' rule"."
    return r.action === 'Accept' ? null : `the rule fails closed and denies all (${r.failClosed})`
  }
  const peer = r.peers.find((p) => peerMatches(ctx, p, other))
  if (!peer) return null
  let portWhy = 'any protocol and port (no protocols)'
  if (r.protocols) {
    // The destination's container ports resolve a named port: for ingress the subject pod, for
    // egress the peer (a pod; CEL forbids named ports with networks/nodes peers).
    const dstPod = dir === 'ingress' ? self : other.pod
    const hit = r.protocols.find((x) => protocolMatches(x, flow, dstPod))
    if (!hit) return null
    portWhy = hit.words
  }
  return `${other.label} is in ${peer.words}, ${portWhy}`
}

function peerMatches(ctx: Ctx, peer: Peer, other: Side): boolean {
  switch (peer.kind) {
    case 'namespaces': case 'pods': {
      // "Note that host-networked pods are not included in this type of peer."
      const pod = other.pod
      if (!pod || pod.hostNetwork) return false
      if (!peer.nsSel.matches(namespaceLabels(ctx.state, pod.namespace))) return false
      return peer.kind === 'namespaces' || peer.podSel.matches(pod.labels)
    }
    case 'networks': {
      // Networks: "cluster-internal traffic will be checked against the rule as well. So if you
      // Accept or Deny traffic to "0.0.0.0/0", that will allow or deny all IPv4 pod-to-pod traffic".
      const a = other.addr
      return !!a && peer.cidrs.some((c) => cidrContains(c, a))
    }
    case 'nodes': {
      // Nodes: "It selects the nodeIPs as the peer type by matching on the IPs present in the
      // node.Status.Addresses field of the node." Host-network pods carry those addresses.
      const a = other.addr
      return !!a && ctx.nodes.some((n) => peer.nodeSel.matches(n.node.labels) && n.addrs.some((x) => sameIp(x, a)))
    }
    case 'domainNames':
      // Unsupported (README): cinch resolves no names; an Accept rule on names matches nothing.
      return false
  }
}

function protocolMatches(x: ProtocolMatch, flow: Flow, dstPod: Pod | undefined): boolean {
  if (x.kind === 'port') return x.protocol === flow.protocol && flow.port >= x.from && flow.port <= x.to
  // DestinationNamedPort: "selects a destination port on a pod based on the ContainerPort name";
  // the container port carries the protocol.
  return !!dstPod?.ports.some((c) => c.name === x.name && c.protocol === flow.protocol && c.containerPort === flow.port)
}

/** The text form of an endpoint, for messages. */
export function endpointWords(ep: Endpoint): string {
  return 'ip' in ep ? ep.ip : `${ep.namespace}/${ep.name}`
}
