// Where cinch-bridge and the agent meet unless told otherwise (lib/state/README.md). The CLI's flag
// defaults, its usage text and the agent read these; cinch-bridge's schema.json carries the same
// values as JSON Schema defaults (ajv fills them in at build time), and a unit test
// (test/unit/defaults.test.ts) fails when the two diverge. Imports nothing: a plugin may load it.

/** Attachment records (`stateDir` conflist key, `--state-dir`). */
export const DEFAULT_STATE_DIR = '/var/lib/cinch'
/** The agent's unix socket (`agentSocket` conflist key, `--socket`). */
export const DEFAULT_AGENT_SOCKET = '/run/cinch/agent.sock'
/** How long ADD waits for the agent to confirm a pod's rules (`policyTimeoutMs`). */
export const DEFAULT_POLICY_TIMEOUT_MS = 10_000
/** /metrics, /healthz, /readyz, /status (`--metrics-addr` of `cinch agent` and `cinch status`). */
export const DEFAULT_METRICS_ADDR = '127.0.0.1:9476'
/** Where runtimes look for CNI plugins and conflists (the CNI convention, libcni's defaults). */
export const DEFAULT_CNI_BIN_DIR = '/opt/cni/bin'
export const DEFAULT_CNI_CONF_DIR = '/etc/cni/net.d'
/** The conflist the agent writes in the conf dir, and the one its leak GC reads. */
export const CONFLIST_FILE = '10-cinch.conflist'
/** Leak GC: an orphan must stay orphaned this long before its DEL (`--gc-grace`)... */
export const DEFAULT_GC_GRACE_MS = 60_000
/** ...and collections run this often (`--gc-interval`), one at start. */
export const DEFAULT_GC_INTERVAL_MS = 10 * 60_000
