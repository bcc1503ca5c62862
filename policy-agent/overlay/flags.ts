// `cinch agent`'s overlay flags -> OverlayController options. Pure; the CLI turns a thrown error
// into a usage error.
import { KERNEL, formatCidr, parseCidr } from '../../lib/ip/index.js'
import { OVERLAY_DEFAULTS, type Backend } from './plan.js'
import type { OverlayControllerOptions } from './controller.js'
import { DEFAULT_CNI_BIN_DIR } from '../../lib/state/defaults.js'

export interface OverlayFlags {
  backend?: string
  'cluster-cidr'?: string
  'cni-conf-dir'?: string
  'cni-bin-dir'?: string
  vni?: string
  'vxlan-port'?: string
  'underlay-mtu'?: string
  'ipam-data-dir'?: string
  'no-overlay'?: boolean
  /** Manifest mode: a missing Node object is a setup choice there, not a node that cannot start pods. */
  manifests?: string
}

export type OverlayRunOptions = Omit<OverlayControllerOptions, 'nodeName' | 'log' | 'stateDir' | 'agentSocket'>

export const DEFAULT_CNI_CONF_DIR = '/etc/cni/net.d'

function intFlag(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!/^\d+$/.test(v) || n < min || n > max) throw new Error(`--${name}: ${v} is not an integer in ${min}..${max}`)
  return n
}

/** The controller's options, or undefined with --no-overlay. */
export function parseOverlayFlags(f: OverlayFlags): OverlayRunOptions | undefined {
  if (f['no-overlay']) return undefined
  const backend = (f.backend ?? 'vxlan') as Backend
  if (backend !== 'vxlan' && backend !== 'host-gw') throw new Error(`--backend: "${f.backend}" is neither vxlan nor host-gw`)
  // Comma separated, as kube-controller-manager's --cluster-cidr (one CIDR per family).
  const clusterCidrs = (f['cluster-cidr'] ?? '').split(',').map((c) => c.trim()).filter(Boolean).map((c) => {
    // An address without /len is a mistake here (KERNEL reads it as a /32), as kube-controller-manager says.
    const p = c.includes('/') ? parseCidr(c, KERNEL) : null
    if (!p) throw new Error(`--cluster-cidr: ${c} is not a CIDR`)
    return formatCidr(p.cidr)
  })
  return {
    backend,
    clusterCidrs,
    cniConfDir: f['cni-conf-dir'] ?? DEFAULT_CNI_CONF_DIR,
    // Where the runtime finds plugins: `portmap` is chained only when it is there.
    cniBinDir: f['cni-bin-dir'] ?? DEFAULT_CNI_BIN_DIR,
    vni: intFlag('vni', f.vni, 1, 0xffffff) ?? OVERLAY_DEFAULTS.vni, // 24 bits, RFC 7348 §5
    port: intFlag('vxlan-port', f['vxlan-port'], 1, 65535) ?? OVERLAY_DEFAULTS.port,
    // 1280: the IPv6 minimum link MTU (RFC 8200 §5) must survive the encapsulation's 70 bytes.
    underlayMtu: intFlag('underlay-mtu', f['underlay-mtu'], 1350, 65535),
    ipamDataDir: f['ipam-data-dir'],
    // Against a cluster, kubelet registers the Node before any pod lands: no Node object means a
    // wrong --node, and the node cannot start pods. From manifests, a setup without Node objects
    // brings its own conflist (policy-agent/overlay/README.md).
    requireNode: !f.manifests,
  }
}
