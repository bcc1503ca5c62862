// The typed cluster state the sources fill and the compiler reads. Objects are plain data: a source
// replaces an object on change instead of mutating it, so derived data may be cached per object.

export type Protocol = 'TCP' | 'UDP' | 'SCTP'

export interface PodPort { name?: string; containerPort: number; protocol: Protocol }

export interface Pod {
  namespace: string
  name: string
  labels: Record<string, string>
  /** status.podIPs, bare addresses (a `/len` suffix is tolerated and ignored). */
  ips: string[]
  nodeName?: string
  hostNetwork?: boolean
  ports: PodPort[]
}

/**
 * `cinch.dev/*` annotations only (sources/convert.ts drops every other key at arrival): the
 * opt-ins cinch reads, `cinch.dev/flow-logs` and `cinch.dev/audit` (flows/audit.ts). A value that
 * was not a string in a manifest is kept as text that is neither "true" nor "false", so it is
 * reported, never read as an opt-in.
 */
export type CinchAnnotations = Record<string, string>

export interface Namespace { name: string; labels: Record<string, string>; annotations?: CinchAnnotations }

export interface Node {
  name: string
  podCIDRs: string[]
  internalIPs: string[]
  /** metadata.labels (ClusterNetworkPolicy `nodes` peers select by them); absent reads as {} */
  labels?: Record<string, string>
  /** every IP of status.addresses (InternalIP and ExternalIP): what a CNP `nodes` peer matches */
  addresses?: string[]
}

/**
 * A ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2) as the sources hold it: its name and
 * its raw `spec` (plain JSON). policy-agent/cnp/convert.ts checks it where it is used (compiler,
 * explain), as normalize.ts does for NetworkPolicy, so a bad one is reported, never half read.
 */
export interface ClusterNetworkPolicyObject {
  apiVersion?: string
  kind?: string
  metadata: { name: string; annotations?: CinchAnnotations }
  spec: unknown
}

// networking.k8s.io/v1 types, as written in YAML. Fields are loosely typed on purpose (string where
// the API has an enum): the compiler validates them and reports a bad policy instead of crashing.
export interface LabelSelectorRequirement { key: string; operator: string; values?: string[] }
export interface LabelSelector { matchLabels?: Record<string, string>; matchExpressions?: LabelSelectorRequirement[] }
export interface IPBlock { cidr: string; except?: string[] }
export interface NetworkPolicyPeer { podSelector?: LabelSelector; namespaceSelector?: LabelSelector; ipBlock?: IPBlock }
export interface NetworkPolicyPort { protocol?: string; port?: number | string; endPort?: number }
export interface NetworkPolicyIngressRule { from?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }
export interface NetworkPolicyEgressRule { to?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }
export interface NetworkPolicySpec {
  podSelector?: LabelSelector
  policyTypes?: string[]
  ingress?: NetworkPolicyIngressRule[]
  egress?: NetworkPolicyEgressRule[]
}
export interface NetworkPolicy {
  apiVersion?: string
  kind?: string
  metadata: { namespace?: string; name: string; annotations?: CinchAnnotations; [k: string]: unknown }
  spec: NetworkPolicySpec
}

export interface ClusterState {
  /** key `ns/name` */
  pods: Map<string, Pod>
  namespaces: Map<string, Namespace>
  /** key `ns/name`; the networking.k8s.io/v1 object as in YAML */
  policies: Map<string, NetworkPolicy>
  nodes: Map<string, Node>
  /** key: name (cluster-scoped) */
  clusterNetworkPolicies: Map<string, ClusterNetworkPolicyObject>
}

export function emptyClusterState(): ClusterState {
  return { pods: new Map(), namespaces: new Map(), policies: new Map(), nodes: new Map(), clusterNetworkPolicies: new Map() }
}

/** A local pod = one with an attachment record (written by cinch-bridge) on this node. */
export interface LocalPod {
  namespace: string
  name: string
  /** bare addresses */
  ips: string[]
  hostVeth: string
}
