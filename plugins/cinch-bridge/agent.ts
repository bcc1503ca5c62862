// Tells the cinch agent about an attachment over its unix socket (lib/state/protocol.ts): one
// request line out, one reply line back. No agent listening is fine: it picks the pod up from the
// attachment record when it starts.
import { connect } from 'node:net'
import { decodeReply, encodeRequest, LineReader, type AgentReply, type AgentRequest } from '../../lib/state/protocol.js'

export type AgentAnswer = AgentReply | { ok: 'absent' }

/**
 * Sends `req` and waits up to `timeoutMs` for one reply line. Resolves {ok:'absent'} when nothing
 * listens (ENOENT / ECONNREFUSED); rejects on timeout, an invalid request or a broken reply.
 */
export function askAgent(socketPath: string, req: AgentRequest, timeoutMs: number): Promise<AgentAnswer> {
  let line: string
  try {
    line = encodeRequest(req)
  } catch (err) {
    return Promise.reject(new Error(`request to the agent is invalid: ${(err as Error).message}`))
  }
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath)
    const reader = new LineReader()
    let connected = false
    const timer = setTimeout(() => done(() => reject(new Error(`agent at ${socketPath} did not answer within ${timeoutMs} ms`))), timeoutMs)
    let settled = false
    function done(f: () => void): void {
      if (settled) return
      settled = true
      clearTimeout(timer)
      sock.destroy()
      f()
    }
    sock.on('connect', () => { connected = true; sock.write(line) })
    sock.on('data', (d: Buffer) => {
      try {
        const reply = reader.push(d)
        if (reply !== undefined) done(() => resolve(decodeReply(reply)))
      } catch (err) {
        done(() => reject(new Error(`agent at ${socketPath} sent a broken reply: ${(err as Error).message}`)))
      }
    })
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected && (err.code === 'ENOENT' || err.code === 'ECONNREFUSED')) return done(() => resolve({ ok: 'absent' }))
      done(() => reject(new Error(`agent socket ${socketPath}`, { cause: err })))
    })
    sock.on('close', () => done(() => reject(new Error(`agent at ${socketPath} closed without answering`))))
  })
}

/**
 * True when something accepts a connection on the agent's socket within `timeoutMs`. Sends nothing:
 * the agent drops a connection that closes before its request line (policy-agent/server/socket.ts).
 */
export function agentListening(socketPath: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(socketPath)
    const done = (up: boolean) => {
      clearTimeout(timer)
      sock.destroy()
      resolve(up)
    }
    const timer = setTimeout(() => done(false), timeoutMs)
    sock.on('connect', () => done(true))
    sock.on('error', () => done(false))
  })
}

