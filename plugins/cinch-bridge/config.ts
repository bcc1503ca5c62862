// cinch-bridge's config: the reference bridge plugin's keys (plugins/main/bridge/bridge.go
// NetConf), checked by the build-time ajv schema, then the cross-field rules bridge.go applies.
import { interfaceNameProblem, invalidConfig, validateConfig, type AjvValidateFn, type NetConf } from '../../lib/cni/index.js'
import schemaValidate from './schema.validate.js'
import { sha256Hex } from './hash.js'

export interface BridgeConf extends NetConf {
  bridge: string
  isGateway: boolean
  isDefaultGateway: boolean
  forceAddress: boolean
  ipMasq: boolean
  mtu?: number
  hairpinMode: boolean
  promiscMode: boolean
  stateDir: string
  agentSocket: string
  policyTimeoutMs: number
  /** No agent listening fails ADD (code 11) instead of running the pod without its policy. */
  policyRequired: boolean
  /** A delegated (exec'd) IPAM plugin is killed after this long; the verb fails with code 11. */
  ipamTimeoutMs: number
}

/** Validates a copy of `conf` (defaults filled in) and applies bridge.go's cross-field rules. */
export function parseConfig(conf: NetConf): BridgeConf {
  const c = validateConfig<BridgeConf>(schemaValidate as AjvValidateFn, structuredClone(conf))
  // The kernel's own rules for the name (dev_valid_name: not "." or ".."), as for CNI_IFNAME.
  const bridgeProblem = interfaceNameProblem(c.bridge)
  if (bridgeProblem) throw invalidConfig('bridge', `${JSON.stringify(c.bridge)} ${bridgeProblem}`)
  // bridge.go loadNetConf: "cannot set hairpin mode and promiscuous mode at the same time".
  if (c.hairpinMode && c.promiscMode) throw invalidConfig('promiscMode', 'cannot be set together with hairpinMode')
  // bridge.go: a default gateway through the bridge implies the bridge is a gateway.
  if (c.isDefaultGateway) c.isGateway = true
  return c
}

/**
 * Host-side veth name: "cinch" + 10 hex digits of sha256(containerId/ifName), 15 chars (IFNAMSIZ-1).
 * Deterministic, so DEL finds it even when the pod's netns is already gone.
 */
export function hostVethName(containerId: string, ifName: string): string {
  return 'cinch' + sha256Hex(`${containerId}/${ifName}`).slice(0, 10)
}
