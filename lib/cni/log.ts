// Plugin logging (STYLE "Logging with pino"): synchronous, never stdout (stdout carries the one
// JSON document the runtime parses). With `logFile` set, pino writes one line per verb outcome
// to that file. Without it, only warnings and errors go to stderr (which the runtime copies into
// its own log), and for those few lines loading pino is not worth its ~5 ms on every invocation:
// a small writer emits the same JSON line shape (level number, time, bindings, msg).

export interface PluginLogger {
  debug(obj: object | string, msg?: string): void
  info(obj: object | string, msg?: string): void
  warn(obj: object | string, msg?: string): void
  error(obj: object | string, msg?: string): void
  child(bindings: object): PluginLogger
}

export interface LogOptions {
  logFile?: string
  logLevel?: string
  plugin: string
  /** Where lines go when there is no logFile; stderr by default. */
  write?: (line: string) => void
}

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity }

class StderrLogger implements PluginLogger {
  constructor(
    private readonly threshold: number,
    private readonly bindings: object,
    private readonly write: (line: string) => void,
  ) {}

  private log(level: number, obj: object | string, msg?: string): void {
    if (level < this.threshold) return
    const fields = typeof obj === 'string' ? { msg: obj } : { ...obj, msg }
    this.write(JSON.stringify({ level, time: Date.now(), ...this.bindings, ...fields }) + '\n')
  }

  debug(obj: object | string, msg?: string) { this.log(20, obj, msg) }
  info(obj: object | string, msg?: string) { this.log(30, obj, msg) }
  warn(obj: object | string, msg?: string) { this.log(40, obj, msg) }
  error(obj: object | string, msg?: string) { this.log(50, obj, msg) }
  child(bindings: object): PluginLogger {
    return new StderrLogger(this.threshold, { ...this.bindings, ...bindings }, this.write)
  }
}

export async function createPluginLogger(opts: LogOptions): Promise<PluginLogger> {
  const base = { plugin: opts.plugin, pid: process.pid }
  if (!opts.logFile) {
    const write = opts.write ?? ((line: string) => void process.stderr.write(line))
    return new StderrLogger(LEVELS[opts.logLevel ?? 'warn'] ?? 40, base, write)
  }
  const { default: pino } = await import('pino')
  const dest = pino.destination({ dest: opts.logFile, sync: true, mkdir: true })
  const logger: PluginLogger = pino({ level: opts.logLevel ?? 'info', base }, dest)
  return logger
}
