// The cinch CLI. Each subcommand imports what it needs on demand: `cinch version` must not pay for
// the Kubernetes client, and the agent must not pay for explain.
import { parseFlags, UsageError, USAGE } from './args.js'
import {
  CONFLIST_FILE, DEFAULT_AGENT_SOCKET, DEFAULT_CNI_BIN_DIR, DEFAULT_CNI_CONF_DIR, DEFAULT_METRICS_ADDR, DEFAULT_STATE_DIR,
} from '../lib/state/defaults.js'

const VERSION = '0.1.0'

/** A flag in seconds as milliseconds; undefined when absent. */
function seconds(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${flag} must be a number of seconds, got "${value}"`)
  return n * 1000
}

function positiveInt(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined
  if (!/^[1-9][0-9]{0,8}$/.test(v)) throw new UsageError(`${flag} must be a positive integer, got ${JSON.stringify(v)}`)
  return Number(v)
}

async function agent(args: string[]): Promise<number> {
  const { takeFlowLogsValue } = await import('../policy-agent/flows/options.js')
  let argv = args, flowLogsValue: boolean | undefined
  try {
    ({ argv, value: flowLogsValue } = takeFlowLogsValue(args))
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const f = parseFlags(argv, {
    manifests: { type: 'string' },
    once: { type: 'boolean' },
    node: { type: 'string' },
    'state-dir': { type: 'string' },
    socket: { type: 'string' },
    'fail-open': { type: 'boolean' },
    'max-policy-cost': { type: 'string' },
    'max-pod-policy-cost': { type: 'string' },
    'max-node-policy-cost': { type: 'string' },
    'metrics-addr': { type: 'string' },
    'cni-conf': { type: 'string' },
    'cni-bin-dir': { type: 'string' },
    cleanup: { type: 'boolean' },
    'log-level': { type: 'string' },
    'gc-grace': { type: 'string' },
    'gc-interval': { type: 'string' },
    backend: { type: 'string' },
    'cluster-cidr': { type: 'string' },
    'cni-conf-dir': { type: 'string' },
    vni: { type: 'string' },
    'vxlan-port': { type: 'string' },
    'underlay-mtu': { type: 'string' },
    'ipam-data-dir': { type: 'string' },
    'no-overlay': { type: 'boolean' },
    'no-restart-snapshot': { type: 'boolean' },
    'flow-logs': { type: 'boolean' },
    'flow-log-group': { type: 'string' },
    'flow-log-rate': { type: 'string' },
    'flow-log-burst': { type: 'string' },
    'flow-log-interval': { type: 'string' },
    'flow-log-max-keys': { type: 'string' },
    'flow-log-file': { type: 'string' },
  })
  if (f.help) return (process.stdout.write(USAGE), 0)
  const { parseOverlayFlags } = await import('../policy-agent/overlay/flags.js')
  let overlay
  try {
    overlay = parseOverlayFlags(f)
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']
  if (f['log-level'] && !levels.includes(f['log-level'])) throw new UsageError(`--log-level must be one of ${levels.join(', ')}`)
  const { FLOW_LOG_DEFAULTS: d, checkFlowLogOptions } = await import('../policy-agent/flows/options.js')
  const int = (v: string | undefined, flag: string, dflt: number) => {
    if (v === undefined) return dflt
    if (!/^[0-9]{1,9}$/.test(v)) throw new UsageError(`${flag} must be a whole number, got ${JSON.stringify(v)}`)
    return Number(v)
  }
  let flowLogs
  try {
    flowLogs = checkFlowLogOptions({
      clusterWide: f['flow-logs'] === true || flowLogsValue === true,
      group: int(f['flow-log-group'], '--flow-log-group', d.group),
      rate: int(f['flow-log-rate'], '--flow-log-rate', d.rate),
      burst: int(f['flow-log-burst'], '--flow-log-burst', d.burst),
      intervalMs: int(f['flow-log-interval'], '--flow-log-interval', d.intervalMs / 1000) * 1000,
      maxKeys: int(f['flow-log-max-keys'], '--flow-log-max-keys', d.maxKeys),
      ...(f['flow-log-file'] !== undefined ? { file: f['flow-log-file'] } : {}),
    })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const { runAgent } = await import('../policy-agent/run.js')
  return runAgent({
    flowLogs,
    overlay,
    manifests: f.manifests,
    once: f.once,
    node: f.node,
    stateDir: f['state-dir'] ?? DEFAULT_STATE_DIR,
    socket: f.socket ?? DEFAULT_AGENT_SOCKET,
    failOpen: f['fail-open'],
    maxPolicyCost: positiveInt(f['max-policy-cost'], '--max-policy-cost'),
    maxPodPolicyCost: positiveInt(f['max-pod-policy-cost'], '--max-pod-policy-cost'),
    maxNodePolicyCost: positiveInt(f['max-node-policy-cost'], '--max-node-policy-cost'),
    metricsAddr: f['metrics-addr'] ?? DEFAULT_METRICS_ADDR,
    // The conflist the overlay writes is the one IPAM GC reads, unless told otherwise.
    cniConf: f['cni-conf'] ?? `${overlay?.cniConfDir ?? DEFAULT_CNI_CONF_DIR}/${CONFLIST_FILE}`,
    cniBinDir: f['cni-bin-dir'] ?? DEFAULT_CNI_BIN_DIR,
    cleanup: f.cleanup,
    logLevel: f['log-level'],
    gcGraceMs: seconds(f['gc-grace'], '--gc-grace'),
    gcIntervalMs: seconds(f['gc-interval'], '--gc-interval'),
    restartSnapshot: f['no-restart-snapshot'] !== true,
    agentVersion: VERSION,
  })
}

async function explain(argv: string[]): Promise<number> {
  const f = parseFlags(argv, { from: { type: 'string' }, to: { type: 'string' }, port: { type: 'string' }, manifests: { type: 'string' }, 'max-policy-cost': { type: 'string' }, 'max-pod-policy-cost': { type: 'string' }, 'max-node-policy-cost': { type: 'string' } })
  if (f.help) return (process.stdout.write(USAGE), 0)
  const { parseEndpoint, parsePort, explainText } = await import('./explain.js')
  const from = parseEndpoint('from', f.from)
  const to = parseEndpoint('to', f.to)
  const port = parsePort(f.port)
  let state
  if (f.manifests) {
    const { readManifestDir } = await import('../policy-agent/sources/manifests.js')
    const read = await readManifestDir(f.manifests)
    for (const p of read.problems) process.stderr.write(`warning: skipped ${p.where}: ${p.reason}\n`)
    state = read.state
  } else {
    const { KubeSource } = await import('../policy-agent/sources/kube.js')
    const source = new KubeSource({ maxBackoffMs: 1000, onError: (r, e) => process.stderr.write(`warning: ${r}: ${(e as Error)?.message ?? e}\n`) })
    // Bounded: an unreachable API server would otherwise be retried forever.
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the Kubernetes API did not answer within 20 s')), 20_000)))
    await Promise.race([source.start(() => {}), timeout]).finally(() => clearTimeout(timer))
    state = source.state()
    await source.stop()
  }
  // The agent's bound: a policy over it is not in the kernel, so explain must not judge by it.
  const out = explainText(state, from, to, port, { maxPolicyCost: positiveInt(f['max-policy-cost'], '--max-policy-cost'), maxPodPolicyCost: positiveInt(f['max-pod-policy-cost'], '--max-pod-policy-cost'), maxNodePolicyCost: positiveInt(f['max-node-policy-cost'], '--max-node-policy-cost') })
  process.stdout.write(out.text)
  return 0
}

async function status(argv: string[]): Promise<number> {
  const f = parseFlags(argv, { 'metrics-addr': { type: 'string' }, json: { type: 'boolean' } })
  if (f.help) return (process.stdout.write(USAGE), 0)
  const { fetchStatus, statusText } = await import('./status.js')
  const s = await fetchStatus(f['metrics-addr'] ?? DEFAULT_METRICS_ADDR)
  process.stdout.write(f.json ? JSON.stringify(s, null, 2) + '\n' : statusText(s))
  return s.ready ? 0 : 1
}

const commands: Record<string, (argv: string[]) => Promise<number>> = {
  agent,
  explain,
  status,
  flows: async (argv) => (await import('./flows.js')).flows(argv),
  install: async (argv) => (await import('./install.js')).install(argv),
  uninstall: async (argv) => (await import('./install.js')).uninstall(argv),
  demo: async (argv) => (await import('./demo.js')).demo(argv),
  version: async () => (process.stdout.write(`cinch ${VERSION}\n`), 0),
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv
  if (cmd === '--help' || cmd === '-h' || cmd === 'help') return (process.stdout.write(USAGE), 0)
  const run = cmd ? commands[cmd] : undefined
  if (!run) {
    process.stderr.write(`${cmd ? `unknown command "${cmd}"\n` : ''}${USAGE}`)
    return 2
  }
  try {
    return await run(rest)
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`cinch ${cmd}: ${err.message}\n\n${USAGE}`)
      return 2
    }
    process.stderr.write(`cinch ${cmd}: ${(err as Error).message}${(err as Error).cause ? ` (${String((err as Error).cause)})` : ''}\n`)
    return 1
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
    // Every command has closed what it owns once it resolves (the agent: on SIGTERM/SIGINT). Exit
    // now rather than wait on what is not ours to close: a child process still running (a leak
    // GC's DEL), a watcher of a library.
    setImmediate(() => process.exit(code))
  },
  (err) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`)
    process.exit(1)
  },
)
