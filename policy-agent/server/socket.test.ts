// The socket server in this process, a plugin-like client in another: what the client waits for.
// A unix socket in a temporary directory; no namespaces, no kernel rules.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { startSocketServer, type SocketServer } from './socket.js'
import type { SyncReport } from '../agent.js'

const now = () => process.hrtime.bigint() // CLOCK_MONOTONIC: the same clock in the client's process

let dir: string | undefined
let server: SocketServer | undefined
afterEach(async () => {
  await server?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
  server = dir = undefined
})

describe('agent socket', () => {
  // cinch-bridge's ADD (and the pod's start) waits for the reply, not for the agent's log line of
  // it: a log write that takes long (a slow or full stdout pipe; here 1 s) must come after the reply.
  it('writes the reply before its log line', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cinch-socket-'))
    const path = join(dir, 'agent.sock')
    const logged: { start: bigint; end: bigint }[] = []
    const slowLog = new Writable({
      write(chunk, _enc, cb) {
        if (String(chunk).includes('"socket request"')) {
          const start = now()
          while (now() - start < 1_000_000_000n) { /* the log's write blocks this thread */ }
          logged.push({ start, end: now() })
        }
        cb()
      },
    })
    const sync = async () => ({ attachments: ['c1/eth0'] }) as unknown as SyncReport
    server = await startSocketServer({ path, log: pino({ level: 'info' }, slowLog), sync })
    const client = `const s = require('node:net').connect(${JSON.stringify(path)})
      let got = ''
      s.on('connect', () => s.write(${JSON.stringify(JSON.stringify({ op: 'add', containerId: 'c1', ifName: 'eth0', podNamespace: 'x', podName: 'a', ips: ['10.9.0.2/24'] }) + '\n')}))
      s.on('data', (d) => { got += d; if (got.includes('\\n')) { console.log(JSON.stringify({ at: String(process.hrtime.bigint()), got })); process.exit(0) } })`
    const child = spawn(process.execPath, ['-e', client], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    await new Promise((resolve) => child.on('exit', resolve))
    const { at, got } = JSON.parse(out)
    expect(got).toBe('{"ok":true}\n')
    expect(logged).toHaveLength(1)
    // Old order (log, then reply): the reply could not leave before the log's write had ended.
    expect(BigInt(at)).toBeLessThan(logged[0]!.end)
  })
})
