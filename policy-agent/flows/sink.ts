// Where flushed flow records go: JSON lines in the agent's own log stream (a pino child, so
// `kubectl logs` shows them beside the rest), or a file with size-based rotation (at most
// `keep` + 1 files of at most about `maxBytes` each: bounded whatever the traffic).
import { closeSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs'
import type { Logger } from 'pino'
import type { FlowRecord } from './aggregate.js'

export interface FlowSink {
  write(records: FlowRecord[], overflow: number): void
  close(): void
}

/** One log line per record (`msg: "flow"`, the record under `flow`), and one per overflow. */
export function logSink(log: Logger): FlowSink {
  const child = log.child({ part: 'flows' })
  return {
    write(records, overflow) {
      for (const r of records) child.info({ flow: r }, 'flow')
      if (overflow) child.warn({ overflow }, 'flow records over the per-interval bound; events counted, not recorded')
    },
    close() {},
  }
}

export interface FileSinkOptions {
  path: string
  /** rotate before a write would take the file past this size (default 10 MiB) */
  maxBytes?: number
  /** rotated files kept: path.1 .. path.N (default 3) */
  keep?: number
}

/**
 * JSON lines appended to `path`, rotated like logrotate's `rotate N` + `size`: path -> path.1 ->
 * ... -> path.N, the oldest removed. Writes are synchronous and happen once per interval (a batch
 * of at most maxKeys lines), so a crash loses at most the interval in memory.
 */
export function fileSink(o: FileSinkOptions): FlowSink {
  const maxBytes = o.maxBytes ?? 10 << 20, keep = o.keep ?? 3
  if (!(maxBytes >= 4096)) throw new Error(`flow log file: maxBytes ${maxBytes} under 4096`)
  if (!Number.isInteger(keep) || keep < 0 || keep > 100) throw new Error(`flow log file: keep ${keep} not 0..100`)
  let fd = openSync(o.path, 'a', 0o600)
  let size = statSync(o.path).size
  const rotate = () => {
    closeSync(fd)
    rmSync(`${o.path}.${keep}`, { force: true })
    for (let i = keep - 1; i >= 1; i--) { try { renameSync(`${o.path}.${i}`, `${o.path}.${i + 1}`) } catch { /* not there yet */ } }
    if (keep > 0) renameSync(o.path, `${o.path}.1`)
    else rmSync(o.path, { force: true })
    fd = openSync(o.path, 'a', 0o600)
    size = 0
  }
  const line = (s: string) => {
    const b = Buffer.from(s + '\n')
    // A single line over the bound still goes out whole, alone in its file.
    if (size > 0 && size + b.length > maxBytes) rotate()
    writeSync(fd, b)
    size += b.length
  }
  return {
    write(records, overflow) {
      for (const r of records) line(JSON.stringify(r))
      if (overflow) line(JSON.stringify({ overflow, at: new Date().toISOString() }))
    },
    close() { closeSync(fd) },
  }
}
