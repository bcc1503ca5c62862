// Plugin logging (STYLE "Logging with pino"): synchronous, never stdout (stdout carries the one
// JSON document the runtime parses). Without `logFile` only warnings reach stderr, which the
// runtime copies into its own log; with it, one line per verb outcome goes to that file.
import pino from 'pino'

export interface LogOptions {
  logFile?: string
  logLevel?: string
  plugin: string
  /** Where lines go when there is no logFile; stderr by default. */
  write?: (line: string) => void
}

export function createPluginLogger(opts: LogOptions): pino.Logger {
  const level = opts.logLevel ?? (opts.logFile ? 'info' : 'warn')
  const dest =
    opts.write && !opts.logFile
      ? { write: opts.write }
      : pino.destination({ dest: opts.logFile ?? 2, sync: true, mkdir: Boolean(opts.logFile) })
  return pino({ level, base: { plugin: opts.plugin, pid: process.pid } }, dest)
}
