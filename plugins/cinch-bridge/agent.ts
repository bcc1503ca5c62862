// Tells the cinch agent about an attachment over its unix socket (lib/state/README.md):
// one JSON line out, one JSON line back. No agent listening is fine: it picks the pod up from the
// attachment record when it starts.
import { connect } from 'node:net'

export type AgentReply = { ok: true } | { ok: false; error: string } | { ok: 'absent' }

/**
 * Sends `msg` and waits up to `timeoutMs` for one reply line. Resolves {ok:'absent'} when nothing
 * listens (ENOENT / ECONNREFUSED); rejects on timeout or a broken reply.
 */
export function askAgent(socketPath: string, msg: object, timeoutMs: number): Promise<AgentReply> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath)
    let buf = ''
    let connected = false
    const timer = setTimeout(() => {
      sock.destroy()
      reject(new Error(`agent at ${socketPath} did not answer within ${timeoutMs} ms`))
    }, timeoutMs)
    const done = (f: () => void) => { clearTimeout(timer); sock.destroy(); f() }
    sock.on('connect', () => { connected = true; sock.write(JSON.stringify(msg) + '\n') })
    sock.on('data', (d) => {
      buf += d.toString('utf8')
      const nl = buf.indexOf('\n')
      if (nl < 0) return
      const line = buf.slice(0, nl)
      done(() => {
        try {
          const r = JSON.parse(line)
          resolve(r?.ok === true ? { ok: true } : { ok: false, error: String(r?.error ?? 'agent refused without a reason') })
        } catch {
          reject(new Error(`agent at ${socketPath} sent a broken reply: ${line.slice(0, 200)}`))
        }
      })
    })
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected && (err.code === 'ENOENT' || err.code === 'ECONNREFUSED')) return done(() => resolve({ ok: 'absent' }))
      done(() => reject(new Error(`agent socket ${socketPath}`, { cause: err })))
    })
    sock.on('end', () => done(() => reject(new Error(`agent at ${socketPath} closed without answering`))))
  })
}
