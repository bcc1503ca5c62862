// Policy through a Service: kube-proxy-style DNAT (its nftables mode: a nat prerouting/output hook,
// a verdict map by ClusterIP . protocol . port, one chain per endpoint that marks hairpin traffic
// for masquerade and DNATs) in a table of this test's own, on both nodes of the ClusterNetworkPolicy
// fixture cluster. For every pod, TCP and UDP to the ClusterIP get the verdict that the backend's pod
// IP gets, under ClusterNetworkPolicy (Admin and Baseline) and under NetworkPolicy. A pod reaching
// ITSELF through the Service is judged like any pod-to-pod flow (hairpinMode sends the DNAT-ed
// packet back over the bridge, where the forward hook sees pod -> pod): denied when a policy denies
// its own namespace, while through its own pod IP (loopback, no hook) it is always allowed.
import test from 'ava'
import { execFileSync } from 'node:child_process'
import { cnpCluster, fill, type CnpEnv } from './cnp-helpers.js'
import { Cleanup } from '../kit/cleanup.js'
import { probeFrom } from '../kit/probe.js'
import { waitFor } from '../kit/wait.js'

const CLUSTER_IP = '10.96.0.10'
const BACKEND = 'network-policy-conformance-gryffindor/harry-potter-0'
const G = 'network-policy-conformance-gryffindor', S = 'network-policy-conformance-slytherin', H = 'network-policy-conformance-hufflepuff'
const ns = (n: string) => ({ namespaces: { matchLabels: { 'kubernetes.io/metadata.name': n } } })

function kubeProxyTable(backend: string): string {
  // As kube-proxy's nftables mode writes a ClusterIP service (table ip kube-proxy: services map,
  // service chain, endpoint chain with the hairpin mark, masquerade in postrouting).
  return `table ip cnp-test-kube-proxy {
  map service-ips {
    type ipv4_addr . inet_proto . inet_service : verdict
    elements = { ${CLUSTER_IP} . tcp . 80 : goto endpoint-web, ${CLUSTER_IP} . udp . 53 : goto endpoint-dns }
  }
  chain endpoint-web {
    ip saddr ${backend} meta mark set mark or 0x4000
    meta l4proto tcp dnat to ${backend}:80
  }
  chain endpoint-dns {
    ip saddr ${backend} meta mark set mark or 0x4000
    meta l4proto udp dnat to ${backend}:53
  }
  chain services {
    ip daddr . meta l4proto . th dport vmap @service-ips
  }
  chain nat-prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    jump services
  }
  chain nat-output {
    type nat hook output priority -100; policy accept;
    jump services
  }
  chain nat-postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    meta mark & 0x4000 == 0x4000 masquerade
  }
}
`
}

let env: CnpEnv
// One cluster for the file: its Cleanup is registered (test.after.always) before test.before builds it.
const cleanup = new Cleanup()
test.after.always(() => cleanup.run())
test.before(async () => {
  env = await cnpCluster({ teardown: (f) => cleanup.add(f) }, 'manifests')
  for (const n of env.cluster.nodes) execFileSync('ip', ['netns', 'exec', n.netns, '/usr/sbin/nft', '-f', '-'], { input: kubeProxyTable(env.ip.get(BACKEND)!) })
})

const sources = () => [...env.ip.keys()].filter((k) => !k.includes('forbidden-forrest')) // pod-network pods

/** Each source's verdicts to the backend's pod IP and to the ClusterIP, TCP 80 and UDP 53. */
async function verdicts(): Promise<Record<string, { pod: boolean[]; svc: boolean[] }>> {
  const out: Record<string, { pod: boolean[]; svc: boolean[] }> = {}
  await Promise.all(sources().map(async (src) => {
    const targets = (ip: string) => [{ ip, port: 80, proto: 'tcp' as const }, { ip, port: 53, proto: 'udp' as const }]
    const r = await probeFrom(env.netnsOf.get(src)!, [...targets(env.ip.get(BACKEND)!), ...targets(CLUSTER_IP)], { timeoutMs: 1500 })
    out[src] = { pod: r.slice(0, 2).map((x) => x.ok), svc: r.slice(2).map((x) => x.ok) }
  }))
  return out
}

async function apply(policies: unknown[]): Promise<void> {
  const t0 = Date.now()
  env.cluster.writeManifest('policies', { apiVersion: 'v1', kind: 'List', items: fill(env, policies) })
  await env.cluster.waitSynced(t0)
}

test.serial('without policy, every pod reaches the Service, itself included', async (t) => {
  const v = await verdicts()
  for (const [src, { pod, svc }] of Object.entries(v)) t.deepEqual({ pod, svc }, { pod: [true, true], svc: [true, true] }, src)
})

test.serial('ClusterNetworkPolicy: the ClusterIP gets the pod IP\'s verdict; the pod through its own Service is judged by its tiers', async (t) => {
  await apply([
    { apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name: 'svc-admin-deny-slytherin' },
      spec: { tier: 'Admin', priority: 5, subject: ns(G), ingress: [{ name: 'no-slytherin', action: 'Deny', from: [ns(S)] }] } },
    { apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name: 'svc-baseline-deny-own-ns' },
      spec: { tier: 'Baseline', priority: 5, subject: ns(G), ingress: [{ name: 'no-gryffindor', action: 'Deny', from: [ns(G)] }] } },
  ])
  const v = await verdicts()
  for (const [src, { pod, svc }] of Object.entries(v)) {
    if (src === BACKEND) {
      t.deepEqual(pod, [true, true], 'itself through its pod IP: loopback, never subject to policy')
      t.deepEqual(svc, [false, false], 'itself through the Service: the Baseline Deny of its own namespace applies')
      continue
    }
    const want = !(src.startsWith(`${S}/`) || src.startsWith(`${G}/`))
    t.deepEqual({ pod, svc }, { pod: [want, want], svc: [want, want] }, src)
  }
})

test.serial('NetworkPolicy: the ClusterIP gets the pod IP\'s verdict, the pod itself through the Service too', async (t) => {
  await apply([{ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: G, name: 'svc-from-hufflepuff' },
    spec: { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': H } } }] }] } }])
  const v = await verdicts()
  for (const [src, { pod, svc }] of Object.entries(v)) {
    if (src === BACKEND) {
      t.deepEqual({ pod, svc }, { pod: [true, true], svc: [false, false] }, 'itself: pod IP loopback allowed; Service hairpin judged by its ingress policy')
      continue
    }
    const want = src.startsWith(`${H}/`)
    t.deepEqual({ pod, svc }, { pod: [want, want], svc: [want, want] }, src)
  }
  // Back to no policy: the Service answers everyone again (no state left in the DNAT path).
  await apply([])
  await waitFor('the service open again', async () => Object.values(await verdicts()).every((x) => x.svc.every(Boolean)), { timeoutMs: 10_000 })
  t.pass()
})
