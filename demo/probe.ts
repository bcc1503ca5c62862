// Real traffic between pods: a tiny Node script run inside the source pod's namespace connects to
// every target at once (TCP: connect + read the echoed peer address; UDP: a datagram, resent
// until answered) and prints one JSON line. One process per source pod keeps a 30-pair matrix
// around a second even when the denied probes run into their timeout.
import { ipBytes, ipString } from '../lib/net/ip.js'
import { inNs } from './sh.js'

export interface ProbeTarget { ip: string; port: number; proto: 'tcp' | 'udp' }
export interface ProbeResult extends ProbeTarget {
  ok: boolean
  /** What the server echoed: the source address it saw (SOCAT_PEERADDR). */
  saw?: string
  err?: string
}

const SCRIPT = `
const net = require('node:net'), dgram = require('node:dgram')
const { targets, timeoutMs } = JSON.parse(process.argv[1])
const tcp = (t) => new Promise((res) => {
  let data = '', connected = false
  const s = net.connect({ host: t.ip, port: t.port })
  const timer = setTimeout(() => done(false, 'timeout'), timeoutMs)
  function done(ok, err) { clearTimeout(timer); s.destroy(); res({ ...t, ok, saw: data.trim() || undefined, err }) }
  s.on('connect', () => (connected = true))
  s.on('data', (b) => (data += b))
  s.on('end', () => done(connected))
  s.on('error', (e) => done(false, e.code))
})
const udp = (t) => new Promise((res) => {
  const s = dgram.createSocket(t.ip.includes(':') ? 'udp6' : 'udp4')
  // socat's forking UDP server can miss a datagram racing its fork: resend until answered.
  const send = () => s.send('x', t.port, t.ip, () => {})
  const resend = setInterval(send, 250)
  const timer = setTimeout(() => done(false, 'timeout'), timeoutMs)
  function done(ok, err, saw) { clearInterval(resend); clearTimeout(timer); s.close(); res({ ...t, ok, saw, err }) }
  s.on('message', (m) => done(true, undefined, m.toString().trim()))
  s.on('error', (e) => done(false, e.code))
  send()
})
Promise.all(targets.map((t) => (t.proto === 'udp' ? udp(t) : tcp(t)))).then((r) => process.stdout.write(JSON.stringify(r)))
`

/** Probes every target from inside `podNetns`; never throws for a refused or dropped flow. */
export async function probeFrom(podNetns: string, targets: ProbeTarget[], timeoutMs = 1500): Promise<ProbeResult[]> {
  if (!targets.length) return []
  const out = await inNs(podNetns, process.execPath, ['-e', SCRIPT, JSON.stringify({ targets, timeoutMs })], { timeoutMs: timeoutMs + 10_000 })
  return JSON.parse(out) as ProbeResult[]
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
