// Runs the leak collection (leaks.ts) at start and then every `intervalMs`, one run at a time: the
// next is scheduled when the last one ends, so a long grace period never stacks runs. stop() cancels
// the pending timer and aborts a run waiting out its grace period, so nothing here holds a stopping
// agent open for long; it resolves once a plugin the run started (a DEL, the IPAM GC) has exited,
// so that the agent does not exit before it (the agent's shutdown bounds the wait: run.ts). An
// agent that exited first left the plugin running alone, still writing the IPAM store (its lock
// file) after whatever stopped the agent had moved on.
import type { Logger } from 'pino'
import { collectLeaks, type GcOptions } from './leaks.js'

export interface LeakCollectorOptions extends Omit<GcOptions, 'signal'> {
  intervalMs: number
  log: Logger
  /** Called after a run removed records, so the rules drop the pods that are gone. */
  onRemoved: () => void
}

export interface LeakCollector {
  stop(): Promise<void>
}

export function startLeakCollector(opts: LeakCollectorOptions): LeakCollector {
  const { log, intervalMs, onRemoved, ...gc } = opts
  const abort = new AbortController()
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined

  const run = async () => {
    try {
      const onOrphans = (keys: string[]) => log.info({ orphans: keys, graceMs: gc.graceMs }, 'orphaned attachments (netns gone); released after the grace period unless they return')
      const out = await collectLeaks({ ...gc, signal: abort.signal, onOrphans })
      log.info({ removedRecords: out.removedRecords.map((r) => `${r.containerId}/${r.ifName}`), ...(out.removedTorn.length ? { removedTornRecords: out.removedTorn } : {}), failedDels: out.failedDels, valid: out.validAttachments, ipam: out.ipamType }, 'leak GC done')
      if (out.removedRecords.length || out.removedTorn.length) onRemoved()
    } catch (err) {
      if (abort.signal.aborted) return // stopping: the next agent collects again
      log.warn({ err }, 'leak GC failed')
    }
    if (!abort.signal.aborted) timer = setTimeout(() => void (running = run()), intervalMs)
  }
  running = run()

  return {
    stop() {
      abort.abort()
      clearTimeout(timer)
      return running ?? Promise.resolve()
    },
  }
}
