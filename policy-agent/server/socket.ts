// The agent's unix socket (lib/state/README.md): cinch-bridge sends one JSON line per ADD/DEL and waits
// for one line back. For ADD we answer {"ok":true} only once a sync that read the pod's attachment
// record has put its rules in the kernel, so the pod is never reachable before its policy.
import { createServer, type Server, type Socket } from 'node:net'
import { mkdir, rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { Logger } from 'pino'
import type { SyncReport } from '../agent.js'

export interface SocketNotice {
  op: 'add' | 'del'
  containerId: string
  ifName: string
  podNamespace?: string
  podName?: string
  ips?: string[]
}

export interface SocketServerOptions {
  path: string
  log: Logger
  /** Resolves when a sync started after the call is in the kernel. */
  sync: (reason: string) => Promise<SyncReport>
}

/** Answers one notice; never throws (the reply carries the error). */
export async function answerNotice(n: SocketNotice, sync: SocketServerOptions['sync']): Promise<{ ok: boolean; error?: string }> {
  if ((n.op !== 'add' && n.op !== 'del') || !n.containerId || !n.ifName) {
    return { ok: false, error: 'expected {"op":"add"|"del","containerId","ifName",...}' }
  }
  try {
    const report = await sync(`${n.op} ${n.podNamespace ?? ''}/${n.podName ?? ''} ${n.containerId}/${n.ifName}`)
    if (n.op === 'add' && !report.attachments.includes(`${n.containerId}/${n.ifName}`)) {
      return { ok: false, error: `no attachment record for ${n.containerId}/${n.ifName} in the state directory` }
    }
    return { ok: true }
  } catch (err) {
    return { ok: false, error: `applying rules failed: ${(err as Error).message}` }
  }
}

function serve(conn: Socket, opts: SocketServerOptions): void {
  let buf = ''
  conn.setEncoding('utf8')
  conn.on('error', () => {}) // the plugin may give up (timeout) and close first
  conn.on('data', (chunk: string) => {
    buf += chunk
    let nl: number
    while ((nl = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, nl).trim()
      buf = buf.slice(nl + 1)
      if (!line) continue
      let notice: SocketNotice
      try {
        notice = JSON.parse(line)
      } catch {
        conn.write(JSON.stringify({ ok: false, error: 'invalid JSON' }) + '\n')
        continue
      }
      const t0 = performance.now()
      void answerNotice(notice, opts.sync).then((reply) => {
        opts.log.info({ op: notice.op, containerId: notice.containerId, ifName: notice.ifName, pod: `${notice.podNamespace ?? ''}/${notice.podName ?? ''}`, ...reply, ms: Math.round(performance.now() - t0) }, 'socket notice')
        if (!conn.destroyed) conn.write(JSON.stringify(reply) + '\n')
      })
    }
  })
}

/** Listens on the unix socket, replacing a stale socket file left by a previous agent. */
export async function startSocketServer(opts: SocketServerOptions): Promise<Server> {
  await mkdir(dirname(opts.path), { recursive: true })
  await rm(opts.path, { force: true })
  const server = createServer((conn) => serve(conn, opts))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.path, () => (server.off('error', reject), resolve()))
  })
  return server
}
