// Ends connections that a policy change no longer allows. nftables only judges the first packet of
// a connection (`ct state established,related accept` lets the rest through), so without this an
// established flow would outlive the policy that denied it. We list the conntrack table, keep the
// flows touching a local pod, re-decide each one against the new cluster state, and delete the
// denied ones by their exact tuple (conntrack(8) -D with -s/-d/-p/--sport/--dport).
import { execFile } from 'node:child_process'
import { networkInterfaces } from 'node:os'
import { promisify } from 'node:util'
import type { ClusterState } from '../model/cluster.js'
import { decider } from '../compile/index.js'
import { LENIENT, canonicalIp } from '../../lib/ip/index.js'

const run = promisify(execFile)

export interface ConntrackFlow {
  family: 'ipv4' | 'ipv6'
  protocol: 'TCP' | 'UDP' | 'SCTP'
  src: string
  dst: string
  sport: number
  dport: number
}

const PROTOCOLS: Record<string, ConntrackFlow['protocol']> = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' }

/** Parses `conntrack -L -o extended` lines; the first src/dst/sport/dport are the original direction. */
export function parseConntrack(text: string): ConntrackFlow[] {
  const flows: ConntrackFlow[] = []
  for (const line of text.split('\n')) {
    const m = /^(ipv4|ipv6)\s+\d+\s+(\w+)\s+\d+\s/.exec(line)
    if (!m || !PROTOCOLS[m[2]]) continue
    const field = (k: string) => new RegExp(`\\b${k}=(\\S+)`).exec(line)?.[1]
    const src = field('src')
    const dst = field('dst')
    const sport = Number(field('sport'))
    const dport = Number(field('dport'))
    if (!src || !dst || !sport || !dport) continue
    flows.push({ family: m[1] as ConntrackFlow['family'], protocol: PROTOCOLS[m[2]], src, dst, sport, dport })
  }
  return flows
}

/**
 * The flows touching `localIps` (canonical addresses) that the state no longer allows. A flow the
 * node itself opened (source in `nodeIps`) is never denied: what the node sends to its pods takes
 * the output hook, which no cinch rule filters ("the node always reaches its pods", kubelet probes
 * from the bridge gateway address). decide() cannot know that address -- it is no Node InternalIP.
 */
export function deniedFlows(state: ClusterState, flows: ConntrackFlow[], localIps: Set<string>, nodeIps: Set<string> = new Set()): ConntrackFlow[] {
  const decide = decider(state)
  return flows.filter((f) => {
    const src = canonicalIp(f.src, LENIENT) ?? f.src
    const dst = canonicalIp(f.dst, LENIENT) ?? f.dst
    if (!localIps.has(src) && !localIps.has(dst)) return false
    if (nodeIps.has(src)) return false
    const verdict = decide({ from: { ip: f.src }, to: { ip: f.dst }, port: f.dport, protocol: f.protocol })
    return !verdict.allowed
  })
}

/** Canonical addresses of this network namespace's interfaces: the node's own (the agent is hostNetwork). */
export function nodeAddresses(): Set<string> {
  const out = new Set<string>()
  for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) {
    const a = canonicalIp(i.address.split('%')[0]!, LENIENT)
    if (a) out.add(a)
  }
  return out
}

async function listFlows(): Promise<ConntrackFlow[]> {
  const out: ConntrackFlow[] = []
  for (const family of ['ipv4', 'ipv6']) {
    const r = await run('conntrack', ['-L', '-o', 'extended', '-f', family], { maxBuffer: 256 << 20 })
    out.push(...parseConntrack(r.stdout))
  }
  return out
}

async function deleteFlow(f: ConntrackFlow): Promise<void> {
  const args = ['-D', '-f', f.family, '-p', f.protocol.toLowerCase(), '-s', f.src, '-d', f.dst, '--sport', String(f.sport), '--dport', String(f.dport)]
  try {
    await run('conntrack', args)
  } catch (err) {
    // conntrack exits 1 when no entry matched: the flow ended by itself meanwhile.
    if (!/0 flow entries/.test(String((err as { stderr?: string }).stderr))) throw new Error(`conntrack ${args.join(' ')}`, { cause: err })
  }
}

/** Removes the conntrack entries of local pods' flows the state now denies; returns them. */
export async function removeDeniedFlows(state: ClusterState, localIps: Set<string>): Promise<ConntrackFlow[]> {
  if (localIps.size === 0) return []
  const local = new Set([...localIps].map((ip) => canonicalIp(ip, LENIENT) ?? ip))
  const denied = deniedFlows(state, await listFlows(), local, nodeAddresses())
  for (const f of denied) await deleteFlow(f)
  return denied
}
