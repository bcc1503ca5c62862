// The agent's unix socket (lib/state/protocol.ts): cinch-bridge sends one request line per ADD/DEL
// and waits for one line back. For ADD we answer {"ok":true} only once a sync that read the pod's
// attachment record has put its rules in the kernel, so the pod is never reachable before its policy.
//
// Every client is hostile until its line has passed the protocol's checks, and none may hurt
// another or the agent:
// - a line is read into at most MAX_LINE_BYTES; a longer one, bytes that are not UTF-8, or a line
//   that fails validation get an error reply and the connection is closed;
// - the whole line must arrive within requestTimeoutMs of the connection (a slow trickle does not
//   extend it); one request per connection, so at most one pending request each;
// - at most maxConnections are open: a new one evicts the oldest that has not sent its request yet
//   (a client that has sent one is waiting for its answer and is never evicted), or is turned away
//   when every slot waits for an answer. So idle connections cannot exhaust file descriptors, and a
//   real plugin, which writes its line as soon as it connects, still gets in.
// - a client refused while still sending (an over-long line, not UTF-8) is not cut at once: its
//   further bytes are dropped for at most lingerMs while it reads its error and closes (cut at
//   once, a client still writing failed with EPIPE before reading the error it was sent).
import { createServer, type Socket } from 'node:net'
import type { Logger } from 'pino'
import { decodeRequest, encodeReply, LineReader, MAX_LINE_BYTES, type AgentReply, type AgentRequest } from '../../lib/state/protocol.js'
import { prepareSocketPath, restrictSocketFile } from './socket-path.js'
import type { SyncReport } from '../agent.js'

/** The bounds the README's Reliability section states. */
export const SOCKET_LIMITS = { maxLineBytes: MAX_LINE_BYTES, maxConnections: 128, requestTimeoutMs: 5000, lingerMs: 1000 } as const

export interface SocketServerOptions {
  path: string
  log: Logger
  /** Resolves when a sync started after the call is in the kernel. */
  sync: (reason: string) => Promise<SyncReport>
}

export interface SocketServer {
  /** Stops accepting, answers waiting clients "agent stopping", drops the rest; removes the socket file. */
  close(): Promise<void>
}

/** Answers one valid request; never throws (the reply carries the error). */
export async function answerRequest(req: AgentRequest, sync: SocketServerOptions['sync']): Promise<AgentReply> {
  const pod = req.op === 'add' ? ` ${req.podNamespace}/${req.podName}` : ''
  try {
    const report = await sync(`${req.op}${pod} ${req.containerId}/${req.ifName}`)
    if (req.op === 'add' && !report.attachments.includes(`${req.containerId}/${req.ifName}`)) {
      return { ok: false, error: `no attachment record for ${req.containerId}/${req.ifName} in the state directory` }
    }
    return { ok: true }
  } catch (err) {
    return { ok: false, error: `applying rules failed: ${(err as Error).message}` }
  }
}

interface Conn {
  sock: Socket
  /** True once the request line is in: the client waits for its answer. */
  answering: boolean
  /** Set by the first reply: a late answer after "agent stopping" must not write again. */
  replied: boolean
  deadline: NodeJS.Timeout
}

/** Logs refused clients at most once per interval, with a count: a flood must not become a log flood. */
function refusalLog(log: Logger, intervalMs = 10_000): (reason: string) => void {
  let last = 0
  let suppressed = 0
  return (reason) => {
    const now = Date.now()
    if (now - last < intervalMs) return void suppressed++
    log.warn({ reason, suppressedSinceLast: suppressed }, 'socket client refused')
    last = now
    suppressed = 0
  }
}

/** Listens on the unix socket (mode 0600), replacing a stale socket file left by a dead agent. */
export async function startSocketServer(opts: SocketServerOptions): Promise<SocketServer> {
  const { log } = opts
  const conns = new Map<Socket, Conn>() // insertion order = age, for eviction
  const refused = refusalLog(log)
  let closing = false

  // Replies, then closes: one request per connection. With `linger` (a client refused while it was
  // still sending), its further bytes are dropped until it closes, for at most lingerMs; it keeps
  // its slot meanwhile (an eviction closes it at once), so lingering never raises the cap.
  const finish = (c: Conn, reply: AgentReply, linger = false) => {
    clearTimeout(c.deadline)
    if (c.replied || c.sock.destroyed) return
    c.replied = true
    if (linger) {
      c.sock.removeAllListeners('data')
      c.sock.resume()
    }
    c.sock.end(encodeReply(reply), () => {
      if (!linger || closing) return void c.sock.destroy()
      const timer = setTimeout(() => c.sock.destroy(), SOCKET_LIMITS.lingerMs)
      c.sock.once('close', () => clearTimeout(timer))
    })
  }
  const refuse = (c: Conn, reason: string, linger = false) => {
    refused(reason)
    finish(c, { ok: false, error: reason }, linger)
  }

  const onRequest = (c: Conn, line: string) => {
    let req: AgentRequest
    try {
      req = decodeRequest(line)
    } catch (err) {
      return refuse(c, `invalid request: ${(err as Error).message}`)
    }
    const t0 = performance.now()
    // answerRequest never rejects; the catch is for a throw in logging or writing.
    void answerRequest(req, opts.sync).then((reply) => {
      // The reply first: the plugin (and the pod's start) waits for it, not for our log line.
      const ms = Math.round((performance.now() - t0) * 10) / 10
      finish(c, reply)
      log.info({ op: req.op, containerId: req.containerId, ifName: req.ifName, ...reply, ms }, 'socket request')
    }).catch((err) => {
      log.error({ err }, 'socket reply failed')
      c.sock.destroy()
    })
  }

  const accept = (sock: Socket) => {
    sock.on('error', () => {}) // a client may vanish at any point; 'close' cleans up
    if (closing) return void sock.destroy()
    if (conns.size >= SOCKET_LIMITS.maxConnections) {
      const idle = [...conns.values()].find((c) => !c.answering)
      if (!idle) {
        refused('too many connections waiting for an answer')
        return void sock.end(encodeReply({ ok: false, error: 'agent busy: too many requests waiting, try again' }), () => sock.destroy())
      }
      if (idle.replied) idle.sock.destroy() // lingering after its refusal
      else refuse(idle, 'connection evicted: too many connections; send the request right after connecting')
      conns.delete(idle.sock) // its slot is free now, even while its reply drains
    }
    const c: Conn = {
      sock,
      answering: false,
      replied: false,
      deadline: setTimeout(() => refuse(c, `no complete request line within ${SOCKET_LIMITS.requestTimeoutMs} ms`), SOCKET_LIMITS.requestTimeoutMs),
    }
    conns.set(sock, c)
    const reader = new LineReader()
    const onData = (chunk: Buffer) => {
      let line: string | undefined
      try {
        line = reader.push(chunk)
      } catch (err) {
        sock.off('data', onData)
        return refuse(c, `invalid request: ${(err as Error).message}`, true)
      }
      if (line === undefined) return
      sock.off('data', onData)
      sock.pause()
      c.answering = true
      clearTimeout(c.deadline)
      onRequest(c, line)
    }
    sock.on('data', onData)
    sock.on('close', () => {
      clearTimeout(c.deadline)
      if (conns.get(sock) === c) conns.delete(sock)
    })
  }

  await prepareSocketPath(opts.path)
  const server = createServer((sock) => {
    try {
      accept(sock)
    } catch (err) {
      log.error({ err }, 'socket accept failed')
      sock.destroy()
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.path, () => (server.off('error', reject), resolve()))
    try {
      restrictSocketFile(opts.path) // listen() has bound the file synchronously: before any client gets in
    } catch (err) {
      server.close()
      reject(new Error(`restrict ${opts.path} to 0600`, { cause: err }))
    }
  })
  // Accept errors (EMFILE, ...) after start must not throw from an unhandled 'error' event.
  server.on('error', (err) => log.error({ err }, 'agent socket error'))

  return {
    close: () => {
      closing = true
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      for (const c of conns.values()) {
        if (c.replied) c.sock.destroySoon() // its reply is written first
        else if (c.answering) finish(c, { ok: false, error: 'agent stopping; try again' })
        else c.sock.destroy()
      }
      return closed
    },
  }
}
