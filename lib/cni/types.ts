// Types of the CNI protocol, spec 1.1.0 (containernetworking/cni SPEC.md). Results are held in
// their 1.1.0 shape inside cinch and converted at the edge to the version the config asks for.

export interface CniInterface {
  name: string
  mac?: string
  mtu?: number
  sandbox?: string
  socketPath?: string
  pciID?: string
}

export interface CniIpConfig {
  /** CIDR notation: the address and the prefix of its subnet, e.g. 10.244.1.5/24. */
  address: string
  gateway?: string
  /** Index into `interfaces`. */
  interface?: number
}

export interface CniRoute {
  dst: string
  gw?: string
  mtu?: number
  advmss?: number
  priority?: number
  table?: number
  scope?: number
}

export interface CniDns {
  nameservers?: string[]
  domain?: string
  search?: string[]
  options?: string[]
}

/** A result in its 1.1.0 shape (also what 1.0.0 uses). */
export interface CniResult {
  cniVersion: string
  interfaces?: CniInterface[]
  ips?: CniIpConfig[]
  routes?: CniRoute[]
  dns?: CniDns
}

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC' | 'VERSION'

/** What the runtime passed in the environment (SPEC "Parameters"). */
export interface CniEnv {
  command: CniCommand
  containerId: string
  /** Path of the container's network namespace; empty when absent (DEL may omit it). */
  netns: string
  ifName: string
  /** CNI_ARGS as key/value pairs (e.g. K8S_POD_NAMESPACE, K8S_POD_NAME). */
  args: Record<string, string>
  /** CNI_PATH split on ':'. */
  path: string[]
}

/** The network configuration on stdin, as parsed; plugin-specific keys stay as unknown. */
export interface NetConf {
  cniVersion: string
  name: string
  type: string
  capabilities?: Record<string, boolean>
  runtimeConfig?: Record<string, unknown>
  /** Converted to the 1.1.0 shape whatever version the runtime wrote it in. */
  prevResult?: CniResult
  ipam?: { type: string; [key: string]: unknown }
  dns?: CniDns
  /** GC: the attachments that are still valid (SPEC "GC"). */
  'cni.dev/valid-attachments'?: { containerID: string; ifname: string }[]
  [key: string]: unknown
}
