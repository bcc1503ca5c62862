// The flow-log settings of `cinch agent`, one type for the CLI, the recorder (group, interval,
// bound, sink) and the compiler/renderer (which pods log, and the kernel's per-node limit).
export interface FlowLogOptions {
  /** --flow-logs: every namespace logs unless annotated cinch.dev/flow-logs: "false" */
  clusterWide: boolean
  /** --flow-log-group: the nfnetlink_log group of the `log group` rules */
  group: number
  /** --flow-log-rate / --flow-log-burst: first packets per second the node logs (nft `limit`) */
  rate: number
  burst: number
  /** --flow-log-interval: aggregation interval in ms */
  intervalMs: number
  /** --flow-log-max-keys: records per interval */
  maxKeys: number
  /** --flow-log-file: JSON lines there (rotated) instead of the agent's log stream */
  file?: string
}

export const FLOW_LOG_DEFAULTS: FlowLogOptions = { clusterWide: false, group: 6784, rate: 100, burst: 200, intervalMs: 15_000, maxKeys: 10_000 }

/** Bounds of each numeric setting: the CLI refuses values outside them. */
export const FLOW_LOG_BOUNDS = {
  group: [0, 0xffff], rate: [1, 1_000_000], burst: [1, 1_000_000], intervalMs: [1000, 3_600_000], maxKeys: [1, 1_000_000],
} as const

/** Checks a full set of options; throws naming the flag. */
export function checkFlowLogOptions(o: FlowLogOptions): FlowLogOptions {
  const flag = { group: '--flow-log-group', rate: '--flow-log-rate', burst: '--flow-log-burst', intervalMs: '--flow-log-interval', maxKeys: '--flow-log-max-keys' } as const
  for (const k of Object.keys(FLOW_LOG_BOUNDS) as (keyof typeof FLOW_LOG_BOUNDS)[]) {
    const [lo, hi] = FLOW_LOG_BOUNDS[k], v = o[k]
    if (!Number.isInteger(v) || v < lo || v > hi) {
      const [l, h] = k === 'intervalMs' ? [lo / 1000, hi / 1000] : [lo, hi]
      throw new Error(`${flag[k]} must be an integer ${l}..${h}, got ${k === 'intervalMs' ? v / 1000 : v}`)
    }
  }
  if (o.file !== undefined && (o.file === '' || o.file.includes('\0'))) throw new Error('--flow-log-file: not a path')
  return o
}

/**
 * `--flow-logs=VALUE`, as the DaemonSet passes the ConfigMap's `flow-logs` key: "true" or "false"
 * exactly (as Kubernetes writes booleans), and "" (the key left out) for off. Anything else
 * ("True", "yes", "1") is refused, naming the key: read as off, it once switched flow records off
 * without a word. Bare `--flow-logs` stays the CLI's switch; this takes the `=VALUE` forms out
 * of `argv` before the flags are parsed (node:util parseArgs refuses a value on a boolean flag).
 */
export function takeFlowLogsValue(argv: readonly string[]): { argv: string[]; value?: boolean } {
  let value: boolean | undefined
  const rest: string[] = []
  for (const a of argv) {
    if (a === '--') { rest.push(...argv.slice(argv.indexOf(a))); break }
    const m = /^--flow-logs=(.*)$/s.exec(a)
    if (!m) { rest.push(a); continue }
    const v = m[1]!
    if (v !== 'true' && v !== 'false' && v !== '') {
      throw new Error(`--flow-logs=${JSON.stringify(v).slice(0, 40)}: must be "true" or "false" (the ConfigMap key flow-logs; empty: false)`)
    }
    value = v === 'true'
  }
  return value === undefined ? { argv: rest } : { argv: rest, value }
}
