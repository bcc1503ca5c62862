// What cinch-bridge takes from the runtime beyond lib/cni's checks, validated before anything is
// changed: the pod's Kubernetes identity (it goes into the attachment record, which the agent turns
// into nft chain names), the requested MAC, and the netns (it must be a network namespace, and not
// the plugin's own: configuring "the pod" there would rewire the host). All failures are code 4.
import { closeSync, fstatSync, openSync, statSync, type Stats } from 'node:fs'
import { basename } from 'node:path'
import { CniError, ErrorCode, invalidConfig, type CniEnv } from '../../lib/cni/index.js'
import { attachmentFile } from '../../lib/state/attachments.js'
import type { BridgeConf } from './config.js'

// Kubernetes apimachinery validation: a namespace is a DNS-1123 label, a pod name a DNS-1123 subdomain.
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const MAC = /^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$/
const NAME_MAX = 255

const isMulticast = (mac: string) => (parseInt(mac.slice(0, 2), 16) & 1) === 1
const quote = (s: string) => JSON.stringify(s.length > 100 ? `${s.slice(0, 100)}...` : s)
const badEnv = (msg: string, details?: string) => new CniError(ErrorCode.InvalidEnvironment, msg, details)

export interface PodIdentity {
  /** "" when the runtime is not Kubernetes (no K8S_POD_* in CNI_ARGS). */
  podNamespace: string
  podName: string
}

/** K8S_POD_NAMESPACE and K8S_POD_NAME from CNI_ARGS, held to Kubernetes' own name rules. */
export function podIdentity(args: Record<string, string>): PodIdentity {
  const podNamespace = args.K8S_POD_NAMESPACE ?? ''
  const podName = args.K8S_POD_NAME ?? ''
  if (podNamespace && (podNamespace.length > 63 || !DNS1123_LABEL.test(podNamespace))) {
    throw badEnv('CNI_ARGS K8S_POD_NAMESPACE is not a Kubernetes namespace name', `${quote(podNamespace)} must be a DNS-1123 label (at most 63 of a-z, 0-9, -)`)
  }
  if (podName && (podName.length > 253 || !DNS1123_SUBDOMAIN.test(podName))) {
    throw badEnv('CNI_ARGS K8S_POD_NAME is not a Kubernetes pod name', `${quote(podName)} must be a DNS-1123 subdomain (at most 253 of a-z, 0-9, -, .)`)
  }
  return { podNamespace, podName }
}

/** MAC asked for by the runtime: runtimeConfig.mac (the "mac" capability, schema-checked), else CNI_ARGS MAC=. */
export function requestedMac(c: BridgeConf, env: CniEnv): string | undefined {
  const fromConfig = (c.runtimeConfig as { mac?: string } | undefined)?.mac
  if (fromConfig) {
    // The kernel refuses a multicast MAC on a veth (EADDRNOTAVAIL): say so before anything changes.
    if (isMulticast(fromConfig)) throw invalidConfig('runtimeConfig.mac', `${fromConfig} is a multicast address; an interface needs a unicast MAC`)
    return fromConfig
  }
  const fromArgs = env.args.MAC
  if (fromArgs === undefined || fromArgs === '') return undefined
  if (!MAC.test(fromArgs)) throw badEnv('CNI_ARGS MAC is not a MAC address', `${quote(fromArgs)} must look like 0a:58:0a:f4:01:05`)
  if (isMulticast(fromArgs)) throw badEnv('CNI_ARGS MAC is a multicast address', `${fromArgs}: an interface needs a unicast MAC (lowest bit of the first byte clear)`)
  return fromArgs
}

/** The attachment record is named after the container ID: refuse an ID its file name cannot hold. */
export function checkRecordName(stateDir: string, env: CniEnv): void {
  const bytes = Buffer.byteLength(basename(attachmentFile(stateDir, env)))
  if (bytes > NAME_MAX) {
    throw badEnv('CNI_CONTAINERID is too long', `the attachment record's file name would be ${bytes} bytes, more than a file name can hold (${NAME_MAX})`)
  }
}

// Every namespace file lives on the kernel's one nsfs: same device as our own namespace means it is a
// namespace, same inode means it is ours (the reference plugins' ns.IsNSorErr checks NSFS_MAGIC).
function judgeNetns(path: string, st: Stats): 'pod' | 'not a namespace' {
  const own = statSync('/proc/self/ns/net')
  if (st.dev !== own.dev) return 'not a namespace'
  if (st.ino === own.ino) {
    throw badEnv('CNI_NETNS is the plugin\'s own network namespace', `${quote(path)} is the namespace the runtime runs in, not a pod's; configuring it would rewire the host`)
  }
  return 'pod'
}

/**
 * Opens the pod's netns, refusing a CNI_NETNS that is not a namespace, or is the one this plugin
 * runs in (the runtime's own, "/proc/self/ns/net": the host's). The open fd is what is checked, so
 * what is checked is what will be entered.
 */
export function openPodNetns(path: string): number {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (err) {
    throw new Error(`open netns ${path}`, { cause: err })
  }
  try {
    if (judgeNetns(path, fstatSync(fd)) !== 'pod') throw badEnv('CNI_NETNS is not a network namespace', `${quote(path)} is not a namespace file (nsfs)`)
  } catch (err) {
    closeSync(fd)
    throw err
  }
  return fd
}

/**
 * For DEL, which does not keep the namespace open: false when the namespace is gone (no file, or
 * the empty file a runtime leaves once it is unmounted), true for a pod's; the plugin's own throws.
 */
export function podNetnsExists(path: string): boolean {
  let st: Stats
  try {
    st = statSync(path)
  } catch {
    return false // SPEC "DEL": the netns may be gone (ENOENT), or unreadable; the rest of DEL still runs
  }
  return judgeNetns(path, st) === 'pod'
}
