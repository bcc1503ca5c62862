// A walk of the PolicyIR as the kernel walks `inet cinch` for a new connection (forward hook): the
// sender's egress chain through @egress-v4/v6, then the receiver's ingress chain. Tests hold the
// IR against decide() and the netpol matrices with it. Not used by the agent.
import { LENIENT, cidrContains, formatIp, parseCidr, parseIp } from '../../lib/ip/index.js'
import type { IrChain, IrRule, IrSet, PolicyIR } from '../../policy-agent/compile/ir.js'
import { decider } from '../../policy-agent/compile/decide.js'
import type { ClusterState, Protocol } from '../../policy-agent/model/cluster.js'

export interface Packet { saddr: string; daddr: string; protocol: 'tcp' | 'udp' | 'sctp'; dport: number }

export function evalForward(ir: PolicyIR, pkt: Packet): { allowed: boolean; by: string[] } {
  const s = parseIp(pkt.saddr, LENIENT)!, d = parseIp(pkt.daddr, LENIENT)!
  const p = { ...pkt, saddr: formatIp(s), daddr: formatIp(d) }
  const by: string[] = []
  for (const dir of ['egress', 'ingress'] as const) {
    const key = dir === 'egress' ? p.saddr : p.daddr
    const chain = ir.maps[`${dir}-v${s.family}`][key]
    if (!chain) continue
    const v = walk(ir, chain, p)
    by.push(...v.by)
    if (!v.allowed) return { allowed: false, by }
  }
  return { allowed: true, by }
}

/**
 * The packets on which the IR (as the kernel walks it) and decide() (the API's semantics, on the
 * same addresses) disagree, one line each; empty when they agree on every one.
 */
export function disagreements(state: ClusterState, ir: PolicyIR, packets: Packet[]): string[] {
  const decide = decider(state)
  const out: string[] = []
  for (const p of packets) {
    const want = decide({ from: { ip: p.saddr }, to: { ip: p.daddr }, port: p.dport, protocol: p.protocol.toUpperCase() as Protocol }).allowed
    const got = evalForward(ir, p).allowed
    if (got !== want) out.push(`${p.saddr} -> ${p.daddr} ${p.protocol}/${p.dport}: the IR ${got ? 'allows' : 'denies'}, decide() ${want ? 'allows' : 'denies'}`)
  }
  return out
}

/** Every packet of the address pairs x protocols x ports. */
export function packets(pairs: [string, string][], protocols: Packet['protocol'][], ports: number[]): Packet[] {
  return pairs.flatMap(([saddr, daddr]) => protocols.flatMap((protocol) => ports.map((dport) => ({ saddr, daddr, protocol, dport }))))
}

/**
 * One chain as nft runs it: the first matching rule's verdict (allow, drop, or goto a chain);
 * at the end a NetworkPolicy chain drops, a tier chain goes to its next chain or allows.
 */
function walk(ir: PolicyIR, name: string, p: Packet): { allowed: boolean; by: string[] } {
  const c: IrChain = ir.chains[name]!
  const hit = c.rules.find((r) => matches(ir, r, c.direction, p))
  if (hit) {
    if (hit.action === 'drop') return { allowed: false, by: [`${name}: ${hit.comment}: drop`] }
    if (hit.action) {
      const v = walk(ir, hit.action.goto, p)
      return { allowed: v.allowed, by: [`${name}: ${hit.comment}: goto`, ...v.by] }
    }
    return { allowed: true, by: [`${name}: ${hit.comment}`] }
  }
  if (!c.tier) return { allowed: false, by: [`${name}: drop`] }
  if (c.next) return walk(ir, c.next, p)
  return { allowed: true, by: [`${name}: end`] }
}

function matches(ir: PolicyIR, r: IrRule, dir: 'ingress' | 'egress', p: Packet): boolean {
  const fam = parseIp(p.saddr, LENIENT)!.family
  if (r.family && r.family !== fam) return false
  const peer = dir === 'ingress' ? p.saddr : p.daddr
  if (r.peerSet && !setHas(ir.sets[r.peerSet]!, peer)) return false
  if (r.tupleSet && !ir.sets[r.tupleSet]!.elements.includes(`${p.daddr} . ${p.protocol} . ${p.dport}`)) return false
  if (r.ports && !r.ports.some((x) => x.protocol === p.protocol && p.dport >= x.from && p.dport <= x.to)) return false
  if (r.portSet && (r.portSet.protocol !== p.protocol || !ir.sets[r.portSet.set]!.elements.some((e) => {
    const [from, to = from] = e.split('-').map(Number) as [number, number?]
    return p.dport >= from && p.dport <= to!
  }))) return false
  return true
}

function setHas(s: IrSet, addr: string): boolean {
  if (s.kind === 'addr') return s.elements.includes(addr)
  const a = parseIp(addr, LENIENT)!
  return s.elements.some((e) => {
    const dash = e.indexOf('-')
    if (dash === -1) return cidrContains(parseCidr(e, LENIENT)!.cidr, a)
    const lo = parseIp(e.slice(0, dash), LENIENT)!, hi = parseIp(e.slice(dash + 1), LENIENT)!
    return a.family === lo.family && a.value >= lo.value && a.value <= hi.value
  })
}
