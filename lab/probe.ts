// Real traffic from inside a netns: one short Node process connects to every target at once and
// prints one JSON line, so a 30-pair matrix costs one process per source, about a timeout at worst.
// TCP: the handshake completes (and what the server sent before closing is kept: the kit's servers
// echo the peer address they saw). UDP: a reply comes back; the datagram is re-sent until then,
// since a lost one (or socat's forking UDP server racing its fork) must not read as "denied".
import { ipBytes, ipString } from '../lib/net/ip.js'
import { inNetns } from './proc.js'

export type Proto = 'tcp' | 'udp'
export interface ProbeTarget { ip: string; port: number; proto: Proto }
export interface ProbeResult extends ProbeTarget {
  ok: boolean
  /** What the server sent before it closed (the kit's servers: the source address they saw). */
  saw?: string
  err?: string
}

const SCRIPT = `
const net = require('node:net'), dgram = require('node:dgram')
const { targets, timeoutMs } = JSON.parse(process.argv[1])
const tcp = (t) => new Promise((res) => {
  let data = '', connected = false, over = false
  const s = net.connect({ host: t.ip, port: t.port })
  // Connected and still open at the deadline: allowed (a server that never closes, e.g. cat).
  const timer = setTimeout(() => done(connected, connected ? undefined : 'timeout'), timeoutMs)
  function done(ok, err) { if (over) return; over = true; clearTimeout(timer); s.destroy(); res({ ...t, ok, saw: data.trim() || undefined, err }) }
  s.on('connect', () => (connected = true))
  s.on('data', (b) => (data += b))
  s.on('end', () => done(connected))
  s.on('close', () => done(connected))
  s.on('error', (e) => done(connected, e.code))
})
const udp = (t) => new Promise((res) => {
  const s = dgram.createSocket(t.ip.includes(':') ? 'udp6' : 'udp4')
  const send = () => s.send('x', t.port, t.ip, () => {})
  const resend = setInterval(send, Math.min(250, timeoutMs / 4))
  const timer = setTimeout(() => done(false, 'timeout'), timeoutMs)
  let over = false
  function done(ok, err, saw) { if (over) return; over = true; clearInterval(resend); clearTimeout(timer); try { s.close() } catch {} res({ ...t, ok, saw, err }) }
  s.on('message', (m) => done(true, undefined, m.toString().trim()))
  s.on('error', () => {}) // an ICMP unreachable is no answer; keep resending until the deadline
  send()
})
Promise.all(targets.map((t) => (t.proto === 'udp' ? udp(t) : tcp(t)))).then((r) => process.stdout.write(JSON.stringify(r)))
`

/** Probes every target from inside `netns`, all at once; never throws for a refused or dropped flow. */
export async function probeFrom(netns: string, targets: ProbeTarget[], o: { timeoutMs?: number } = {}): Promise<ProbeResult[]> {
  if (!targets.length) return []
  const timeoutMs = o.timeoutMs ?? 1500
  const out = await inNetns(netns, process.execPath, ['-e', SCRIPT, JSON.stringify({ targets, timeoutMs })], { timeoutMs: timeoutMs + 30_000 })
  return JSON.parse(out) as ProbeResult[]
}

/**
 * probeFrom for one protocol and port over several addresses: which of them answered. 1.2 s by
 * default (a denied cell costs its whole timeout; the NetworkPolicy tests have always used 1.2 s).
 */
export async function reachable(netns: string, o: { proto: Proto; port: number; ips: string[]; timeoutMs?: number }): Promise<boolean[]> {
  const r = await probeFrom(netns, o.ips.map((ip) => ({ ip, port: o.port, proto: o.proto })), { timeoutMs: o.timeoutMs ?? 1200 })
  return r.map((x) => x.ok)
}

/** SOCAT_PEERADDR ("[0000:...:ffff:0af4:0102]", "10.244.1.2", "[fd00:...]") as canonical address text. */
export function peerAddress(saw: string | undefined): string | undefined {
  if (!saw) return undefined
  try {
    const b = ipBytes(saw.replace(/^\[|\]$/g, ''))
    const mapped = b.length === 16 && b.subarray(0, 10).every((x) => x === 0) && b.readUInt16BE(10) === 0xffff
    return ipString(mapped ? b.subarray(12) : b)
  } catch {
    return saw
  }
}
