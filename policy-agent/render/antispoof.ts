// Anti-spoofing in `bridge cinch`: a packet entering the bridge from a programmed pod veth must
// carry a source address that pod was given, or it is dropped before anything else sees it. The
// policy in `inet cinch` picks a pod's egress chain by source address (`ip saddr vmap @egress-v4`)
// and other pods' ingress rules trust the source too; without this, a pod with CAP_NET_RAW (a
// default container capability) or a second address (NET_ADMIN) escapes its egress policy and can
// pose as an allowed peer. Only the bridge family sees the veth as `iifname`: under br_netfilter
// the inet hooks see the bridge device. See ../README.md "Anti-spoofing" for what is let through.
import { LENIENT, parseIp } from '../../lib/ip/index.js'
import type { PolicyIR } from '../compile/ir.js'
import type { KeyPart } from '../../lib/nft/elements.js'

export const SPOOF_COUNTER = 'drop-spoofed'
/** `ifname . ipv4_addr` / `ifname . ipv6_addr`: each programmed veth with each of its pod's addresses. */
export const POD_V4 = 'pod-v4'
export const POD_V6 = 'pod-v6'
/** The same IPv6 pairs with the address as the raw 128 bits of an ICMPv6 target field (`@th,64,128`). */
export const POD_ND = 'pod-nd-v6'

// nft 1.0.6 has no `icmpv6 taddr`: the neighbour advertisement's target is read as raw transport
// header bits (type, code, checksum, flags: 8 bytes, then the 16-byte target), and a set of that
// type is declared by `typeof`.
const TARGET = '@th,64,128'

/** The three sets: their declaration, and their key as element commands encode it (lib/nft/elements.ts). */
export const setDecls: { name: string; spec: string; key: KeyPart[] }[] = [
  { name: POD_V4, spec: 'type ifname . ipv4_addr', key: ['ifname', 'ipv4_addr'] },
  { name: POD_V6, spec: 'type ifname . ipv6_addr', key: ['ifname', 'ipv6_addr'] },
  { name: POD_ND, spec: `typeof iifname . ${TARGET}`, key: ['ifname', 'raw128'] },
]

/** The elements of the three sets, as nft text, from the IR's veth -> addresses (of `veths` only, if given). */
export function antispoofElements(ir: PolicyIR, veths: Iterable<string> = Object.keys(ir.vethAddrs)): Record<string, string[]> {
  const out: Record<string, string[]> = { [POD_V4]: [], [POD_V6]: [], [POD_ND]: [] }
  for (const veth of veths) {
    if (!Object.hasOwn(ir.vethAddrs, veth)) continue
    for (const addr of ir.vethAddrs[veth]!) {
      const a = parseIp(addr, LENIENT)
      if (!a) continue // compiled from parsed addresses: cannot happen
      if (a.family === 4) out[POD_V4]!.push(`"${veth}" . ${addr}`)
      else {
        out[POD_V6]!.push(`"${veth}" . ${addr}`)
        out[POD_ND]!.push(`"${veth}" . 0x${a.value.toString(16).padStart(32, '0')}`)
      }
    }
  }
  return out
}

/**
 * Rules of the `prerouting` base chain. Order matters: the neighbour advertisement check comes
 * before the IPv6 source accept, since a pod's own address may advertise another's target.
 *
 * Every frame from a pod walks this chain, so the common case decides first (bench/README.md
 * "phase 7i"): a pod's own IPv4 is accepted by one lookup. Moving that accept ahead of the other
 * two is exact: two accepts in a row decide the same in either order, and the neighbour
 * advertisement drop never matches a `meta protocol ip` frame (it reads Ethernet type 0x86dd at
 * the frame's offset 12, where such a frame has 0x0800, or a VLAN tag's type when the tag rides
 * beside the frame: nft rebuilds the tag into link-header reads).
 */
export function antispoofRules(): string[] {
  const drop = `counter name "${SPOOF_COUNTER}" drop`
  return [
    `meta protocol ip iifname . ip saddr @${POD_V4} accept`,
    // Not a programmed pod port (uplinks, vxlan, unprogrammed veths): not ours to judge here.
    'iifname != @veths accept',
    // Neighbour advertisements bind an address to the sender's MAC in the receivers' caches: the
    // target must be the pod's own address (or a link-local one, which cinch does not record).
    `icmpv6 type nd-neighbor-advert @th,64,16 & 0xffc0 != 0xfe80 iifname . ${TARGET} != @${POD_ND} ${drop}`,
    `meta protocol ip6 iifname . ip6 saddr @${POD_V6} accept`,
    // ARP for Ethernet/IPv4 only, with the pod's own address as sender (no cache poisoning).
    `meta protocol arp arp htype 1 arp ptype ip arp hlen 6 arp plen 4 iifname . arp saddr ip @${POD_V4} accept`,
    // The link-local address is the kernel's choice inside the pod and not recorded: it may speak
    // neighbour discovery, router solicitation and MLD only, nothing a policy or a peer trusts.
    'ip6 saddr fe80::/10 icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-report, mld2-listener-report } accept',
    // Duplicate address detection (RFC 4862 5.4.2) and its MLD report come from the unspecified address.
    'ip6 saddr :: icmpv6 type { nd-neighbor-solicit, mld2-listener-report } accept',
    // Anything else from a pod port: another source, another ethertype (VLAN-tagged frames would
    // skip br_netfilter and so the policy), ARP for other protocols.
    drop,
  ]
}
