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
