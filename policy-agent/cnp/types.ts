// The checked internal form of a ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2,
// network-policy-api v0.2.0). convert.ts builds it from the raw object; order.ts and evaluate.ts
// read it. Plain frozen data plus compiled selectors: nothing here is re-validated downstream.
import type { Protocol } from '../model/cluster.js'
import type { Selector } from '../model/selector.js'
import type { Cidr } from '../../lib/ip/index.js'

/** ClusterNetworkPolicySpec.tier: "Admin" (before NetworkPolicy) or "Baseline" (after it). */
export type Tier = 'Admin' | 'Baseline'
export const TIERS: readonly Tier[] = ['Admin', 'Baseline']

/** ClusterNetworkPolicyRuleAction. */
export type Action = 'Accept' | 'Deny' | 'Pass'
export const ACTIONS: readonly Action[] = ['Accept', 'Deny', 'Pass']

export type Direction = 'ingress' | 'egress'

/** ClusterNetworkPolicySubject: exactly one of namespaces / pods. Host-network pods never match. */
export type Subject =
  | { kind: 'namespaces'; nsSel: Selector; words: string }
  | { kind: 'pods'; nsSel: Selector; podSel: Selector; words: string }

/**
 * A peer of a rule. `namespaces` and `pods` select pod-network pods (never host-network ones);
 * `networks` and `nodes` (egress only) select addresses; `domainNames` (egress only) is accepted
 * but not supported by cinch: it matches nothing (see README "Unsupported").
 */
export type Peer =
  | { kind: 'namespaces'; nsSel: Selector; words: string }
  | { kind: 'pods'; nsSel: Selector; podSel: Selector; words: string }
  | { kind: 'networks'; cidrs: Cidr[]; words: string }
  | { kind: 'nodes'; nodeSel: Selector; words: string }
  | { kind: 'domainNames'; names: string[]; words: string }

/**
 * One entry of `protocols`: a protocol with a destination port range (a single `number` is
 * from === to), or a named port resolved on the destination pod, protocol included.
 */
export type ProtocolMatch =
  | { kind: 'port'; protocol: Protocol; from: number; to: number; words: string }
  | { kind: 'named'; name: string; words: string }

export interface Rule {
  direction: Direction
  /** position in spec.ingress / spec.egress: the order within the policy */
  index: number
  /** the rule's `name` ('' when absent), at most 100 characters */
  name: string
  action: Action
  peers: Peer[]
  /** null: no `protocols`, "protocol-specific attributes will not be used to match traffic" */
  protocols: ProtocolMatch[] | null
  /**
   * Set when a peer, protocol or port of this rule has no field cinch knows (an API newer than
   * ours, or a field the API server pruned). The rule then fails CLOSED, as
   * ClusterNetworkPolicyIngressPeer documents: an Accept rule matches no traffic; a Deny or Pass
   * rule becomes "Deny all" (every flow of its subjects in its direction, action Deny).
   */
  failClosed: string | null
}

export interface Policy {
  name: string
  tier: Tier
  /** 0..1000, lower first within its tier */
  priority: number
  subject: Subject
  /** in written order; [] means the policy does not affect that direction */
  ingress: Rule[]
  egress: Rule[]
  /**
   * What cinch accepts but does not honour as written (domainNames, fail-closed rules): reported
   * by `cinch status` beside the invalid policies, while the policy itself still applies.
   */
  warnings: string[]
}

/** A policy the converter rejected WHOLE, with the reason (path and problem) in words. */
export interface InvalidPolicy { policy: string; reason: string }
