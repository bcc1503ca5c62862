// The synthetic cluster of bench/policy.mjs: 5,000 pods in 500 namespaces, 2,000 policies in a
// realistic mix (default deny, podSelector and namespaceSelector peers alone and ANDed, ipBlocks
// with except, numeric, named and endPort ports, TCP/UDP, egress to DNS and to the world), and
// 100 local pods spread over 100 namespaces. Deterministic: the same call gives the same cluster.

const TEAMS = 25
const ENVS = ['prod', 'staging', 'dev']
const TIERS = ['fe', 'be', 'db']

export const podIps = (i) => [`10.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, `fd00:10::${i.toString(16)}`]

export function podOf(ns, n, j, i) {
  const tier = TIERS[j % 3]
  const ports = [{ name: 'http', containerPort: 8080 + (i % 5), protocol: 'TCP' }, { name: 'metrics', containerPort: 9090, protocol: 'TCP' }]
  if (j % 5 === 4) ports.push({ name: 'dns', containerPort: 53, protocol: 'UDP' })
  return {
    namespace: ns, name: `pod-${j}`, ips: podIps(i), nodeName: `node-${i % 50}`,
    labels: { app: `app-${j % 5}`, tier, version: `v${i % 4}` },
    ports,
  }
}

/** The 4 policies of namespace n, each a different shape. */
function policiesOf(ns, n) {
  const meta = (name) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: ns, name } })
  const team = `t${n % TEAMS}`
  return [
    // default deny ingress for the namespace
    { ...meta('default-deny'), spec: { podSelector: {}, policyTypes: ['Ingress'] } },
    // front ends: from other teams' front ends (AND), from the LB range, ports by name and range
    { ...meta('allow-fe'), spec: {
      podSelector: { matchLabels: { tier: 'fe' } },
      ingress: [
        { from: [{ namespaceSelector: { matchLabels: { team: `t${(n + 1) % TEAMS}` } }, podSelector: { matchLabels: { tier: 'fe' } } },
          { podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: [`app-${n % 5}`, `app-${(n + 2) % 5}`] }] } }],
        ports: [{ port: 'http' }, { port: 443 }, { port: 8000, endPort: 8100 }] },
        { from: [{ ipBlock: { cidr: '172.16.0.0/12', except: [`172.16.${n % 256}.0/24`] } }], ports: [{ port: 443 }] },
      ],
    } },
    // back ends: from this team's namespaces, egress to db tier and DNS
    { ...meta('allow-be'), spec: {
      podSelector: { matchLabels: { tier: 'be' } }, policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { team } } }], ports: [{ port: 'http' }, { protocol: 'TCP', port: 'metrics' }] }],
      egress: [
        { to: [{ podSelector: { matchLabels: { tier: 'db' } } }], ports: [{ port: 5432 }, { port: 'http' }] },
        { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ns-000' } }, podSelector: { matchLabels: { app: 'app-4' } } }],
          ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] },
      ],
    } },
    // db: only from be of the namespace; egress to the world except the cluster, and monitoring
    { ...meta('allow-db'), spec: {
      podSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['db'] }, { key: 'version', operator: 'NotIn', values: ['v3'] }] },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        { from: [{ podSelector: { matchLabels: { tier: 'be' } } }], ports: [{ port: 5432 }] },
        { from: [{ namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'In', values: [ENVS[n % 3]] }] }, podSelector: { matchLabels: { app: 'app-1' } } }], ports: [{ port: 'metrics' }] },
      ],
      egress: [
        { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12'] } }, { ipBlock: { cidr: '::/0', except: ['fd00::/8'] } }], ports: [{ port: 443 }] },
        { to: [{ namespaceSelector: {} , podSelector: { matchLabels: { app: 'app-1' } } }] },
      ],
    } },
  ]
}

/**
 * The cluster state and the local pods: one per namespace whose index is a multiple of 5, and the
 * pods named in `extraLocal` (`ns/name`), which take the place of the last ones.
 */
export function syntheticCluster({ namespaces = 500, podsPerNs = 10, local = 100, extraLocal = [], cnps = 0 } = {}) {
  const state = { pods: new Map(), namespaces: new Map(), policies: new Map(), nodes: new Map(), clusterNetworkPolicies: new Map() }
  for (const c of clusterNetworkPoliciesOf(cnps)) state.clusterNetworkPolicies.set(c.metadata.name, c)
  const locals = []
  const step = Math.max(1, Math.floor(namespaces / local))
  for (let n = 0; n < namespaces; n++) {
    const ns = `ns-${String(n).padStart(3, '0')}`
    state.namespaces.set(ns, { name: ns, labels: { team: `t${n % TEAMS}`, env: ENVS[n % 3] } })
    for (let j = 0; j < podsPerNs; j++) {
      const i = n * podsPerNs + j
      const pod = podOf(ns, n, j, i)
      state.pods.set(`${ns}/${pod.name}`, pod)
      // j = 0, 1, 2 rotate through fe, be, db so that every policy shape selects some local pod.
      if (n % step === 0 && j === (n / step) % 3 && locals.length < local) {
        locals.push({ namespace: ns, name: pod.name, ips: pod.ips, hostVeth: `cinchb${i}`.slice(0, 15) })
      }
    }
    for (const p of policiesOf(ns, n)) state.policies.set(`${ns}/${p.metadata.name}`, p)
  }
  // A pod named in extraLocal that is local already is not listed twice: two records naming one
  // pod make every compile a full one (compile/compiler.ts #localsByKey), and at the small scale
  // ns-005/pod-1 is both (bench/README.md phase 19: until then every change there compiled in full).
  const extra = new Set(extraLocal)
  for (let k = locals.length - 1; k >= 0; k--) if (extra.has(`${locals[k].namespace}/${locals[k].name}`)) locals.splice(k, 1)
  locals.splice(local - extraLocal.length)
  for (const key of extraLocal) {
    const pod = state.pods.get(key)
    const i = Number(pod.ips[0].split('.')[3]) + 256 * Number(pod.ips[0].split('.')[2])
    locals.push({ namespace: pod.namespace, name: pod.name, ips: pod.ips, hostVeth: `cinchb${i}` })
  }
  return { state, locals }
}

/** A new policy for change number k in a local pod's namespace (distinct names, distinct peers). */
export function extraPolicy(ns, k) {
  return {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: ns, name: `bench-extra-${k}` },
    spec: {
      podSelector: {},
      ingress: [{ from: [{ podSelector: { matchLabels: { version: `v${k % 4}` } }, namespaceSelector: { matchLabels: { team: `t${k % TEAMS}` } } },
        { ipBlock: { cidr: `192.168.${k}.0/24` } }], ports: [{ port: 7000 + k }] }],
    },
  }
}

/**
 * `count` ClusterNetworkPolicies (bench/policy.mjs: 100), half Admin and half Baseline (issue #10), in the shapes
 * admins write: a team's namespaces isolated from another team's (Deny), monitoring always let in
 * (Accept), an environment's pods handed to NetworkPolicy (Pass), egress to a CIDR denied, named
 * ports; each selects the namespaces of one team (and env), so every local pod meets several.
 */
export function clusterNetworkPoliciesOf(count) {
  const out = []
  for (let k = 0; k < count; k++) {
    const tier = k % 2 === 0 ? 'Admin' : 'Baseline'
    const team = `t${k % TEAMS}`, other = `t${(k + 3) % TEAMS}`
    const subject = k % 3 === 0 ? { namespaces: { matchLabels: { team } } } : { pods: { namespaceSelector: { matchLabels: { team, env: ENVS[k % 3] } }, podSelector: {} } }
    out.push({
      apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name: `bench-${tier.toLowerCase()}-${k}` },
      spec: {
        tier, priority: k % 40, subject,
        ingress: [
          { name: 'monitoring', action: 'Accept', from: [{ pods: { namespaceSelector: { matchLabels: { team: 't0' } }, podSelector: { matchLabels: { app: 'app-0' } } } }], protocols: [{ tcp: { destinationPort: { number: 9100 } } }] },
          { name: 'other-team', action: k % 4 === 1 ? 'Pass' : 'Deny', from: [{ namespaces: { matchLabels: { team: other } } }] },
          { name: 'web-named', action: 'Accept', from: [{ namespaces: {} }], protocols: [{ destinationNamedPort: 'http' }, { tcp: { destinationPort: { range: { start: 8000, end: 8100 } } } }] },
        ],
        egress: [
          { name: 'no-metadata', action: 'Deny', to: [{ networks: ['169.254.169.254/32', `10.${200 + (k % 50)}.0.0/16`] }] },
          { name: 'dns', action: 'Accept', to: [{ pods: { namespaceSelector: { matchLabels: { team: 't1' } }, podSelector: { matchLabels: { app: 'app-1' } } } }], protocols: [{ udp: { destinationPort: { number: 53 } } }] },
        ],
      },
    })
  }
  return out
}
