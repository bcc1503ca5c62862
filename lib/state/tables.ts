// The nftables tables cinch owns, named once. Every table cinch writes is one of these; the plugin
// and the agent import them from here instead of spelling `inet cinch-nat` in each file.
//
//   inet cinch       the agent's NetworkPolicy filter (policy-agent/render)
//   bridge cinch     the agent's fail-closed guard and anti-spoofing on bridge ports
//   inet cinch-nat   masquerade: cinch-bridge's per-pod sets and chain `postrouting` (ipMasq),
//                    the agent's chain `node-masquerade`, and the cluster CIDR sets both read
//
// Type-only imports: a plugin may load this file without lib/nft's code.
import type { NftFamily, SetObject } from '../nft/index.js'

export interface TableId {
  readonly family: NftFamily
  readonly name: string
}

export const POLICY_TABLE: TableId = { family: 'inet', name: 'cinch' }
export const BRIDGE_TABLE: TableId = { family: 'bridge', name: 'cinch' }
export const NAT_TABLE: TableId = { family: 'inet', name: 'cinch-nat' }
/** Every table cinch creates, in the order `cinch uninstall` removes them. */
export const CINCH_TABLES: readonly TableId[] = [POLICY_TABLE, BRIDGE_TABLE, NAT_TABLE]

/**
 * The sets of `inet cinch-nat` that both sides declare: the cluster's pod CIDRs, whose contents
 * the agent owns (policy-agent/overlay/nomasq.ts) and cinch-bridge's chain reads to leave
 * pod-to-pod traffic unmasqueraded. Declared by both with these exact specs, because `add set` of
 * an existing set with a different spec fails the whole transaction.
 */
export const NAT_CLUSTER_SETS: { readonly 4: SetObject; readonly 6: SetObject } = {
  4: { kind: 'set', name: 'cluster-cidrs-v4', type: ['ipv4_addr'], flags: ['interval'] },
  6: { kind: 'set', name: 'cluster-cidrs-v6', type: ['ipv6_addr'], flags: ['interval'] },
}
