// The code a change runs after the first sync (the incremental compile of each kind of change, a
// new peer set's first pass, planDiff, the netlink encoders) run once on a small cluster of its
// own, before the first real change needs it: the first policy create after a start took 3-4x
// a later one at 30k/30k (bench/README.md phase 5d), V8 compiling and learning that code then.
// Pure: its own compiler and IRs, nothing sent, nothing kept but V8's compiled code (and the
// content-keyed memos of normalize.ts and rule-netlink.ts, which the same inputs would fill).
//
// Its objects are made as the source makes the cluster's: API objects as a watch event brings
// them (parsed JSON), converted and frozen by sources/convert.ts. Literals of the model's shape
// have other hidden classes (not frozen): code that the first sync had optimized for the cluster's
// objects met them as "wrong map" and the warm-up itself deoptimized it (--trace-deopt in
// bench:policy-scale: take, addrsOf, selectedPods, normalize, peerOf, nsLabels and ~15 more;
// issue 14). What it still leaves: the change path's own functions tier up during the first real
// changes, as before (V8 marks them hot then).
import type { ClusterState, LocalPod, Namespace, NetworkPolicy, Pod } from '../model/cluster.js'
import { emptyClusterState } from '../model/cluster.js'
import type { PolicyIR } from '../compile/ir.js'
import { planDiff } from '../render/index.js'
import { elementBatch } from '../../lib/nft/elements-netlink.js'
import { UnsupportedElements } from '../../lib/nft/index.js'
import { convertAs, type Kind } from '../sources/convert.js'

type Compile = (state: ClusterState, localPods: LocalPod[]) => { ir: PolicyIR }

const NS = ['cinch-warm-a', 'cinch-warm-b', 'cinch-warm-c']

/** An object of `kind` as the store holds one that a watch event brought. */
function fromApi<T>(kind: Kind, o: object): T {
  return convertAs(kind, JSON.parse(JSON.stringify(o))).value as T
}

function pod(ns: number, k: number, app: string): Pod {
  return fromApi('Pod', {
    metadata: { namespace: NS[ns]!, name: `p${k}`, labels: { app, version: `v${k % 2}` } },
    spec: { nodeName: 'cinch-warm', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }] }] },
    status: { phase: 'Running', podIPs: [{ ip: `10.255.${ns}.${k + 1}` }, { ip: `fd00:ff::${ns}:${k + 1}` }] },
  })
}

function namespace(name: string, team: string): Namespace {
  return fromApi('Namespace', { metadata: { name, labels: { team } } })
}

function policy(ns: number, k: number, port: number): NetworkPolicy {
  return fromApi('NetworkPolicy', {
    metadata: { namespace: NS[ns]!, name: `warm-${k}` },
    spec: {
      podSelector: {},
      ingress: [{
        from: [{ podSelector: { matchLabels: { version: `v${k % 2}` } }, namespaceSelector: { matchLabels: { team: `w${k}` } } }, { ipBlock: { cidr: `192.168.${k}.0/24` } }],
        ports: [{ port }],
      }],
    },
  })
}

/**
 * Runs every kind of change once through a compiler from `make`, diffs and encodes it (nothing is
 * sent); returns how many diffs were encoded for netlink.
 */
export function warmUp(make: () => { compile: Compile }): { encoded: number } {
  let encoded = 0
  const c = make()
  const state = emptyClusterState()
  NS.forEach((name, i) => state.namespaces.set(name, namespace(name, `w${i}`)))
  for (let ns = 0; ns < NS.length; ns++) for (let k = 0; k < 8; k++) { const p = pod(ns, k, `a${k % 3}`); state.pods.set(`${p.namespace}/${p.name}`, p) }
  // Peers that the pod and namespace changes below move: app=a1 in any namespace, any pod of team w1.
  state.policies.set(`${NS[0]}/base`, fromApi('NetworkPolicy', { metadata: { namespace: NS[0]!, name: 'base' }, spec: { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'a1' } }, namespaceSelector: {} }, { namespaceSelector: { matchLabels: { team: 'w1' } } }], ports: [{ port: 443 }] }] } }))
  // As sources/attachments.ts builds them from the records: addresses in an array of their own.
  const locals: LocalPod[] = [0, 1].map((k) => { const p = pod(0, k, `a${k % 3}`); return { namespace: p.namespace, name: p.name, ips: p.ips.map((ip) => ip), hostVeth: `cinchwarm${k}` } })
  let ir = c.compile(state, locals).ir
  const step = (change: () => void) => {
    change()
    const next = c.compile(state, locals).ir
    const plan = planDiff(ir, next)
    if (plan.commands) {
      try {
        elementBatch(plan.commands)
        encoded++
      } catch (err) {
        if (!(err instanceof UnsupportedElements)) throw err
      }
    }
    ir = next
  }
  const put = (p: Pod) => state.pods.set(`${p.namespace}/${p.name}`, p)
  for (let round = 0; round < 3; round++) {
    step(() => put(pod(1, 3, round % 2 ? 'a0' : 'a1'))) // a pod's labels
    step(() => put(pod(2, 20 + round, 'a1'))) // a pod created
    step(() => state.pods.delete(`${NS[2]}/p${20 + round}`)) // and deleted
    step(() => state.namespaces.set(NS[2]!, namespace(NS[2]!, `w${round % 2 ? 2 : 1}`))) // a namespace's labels
    step(() => state.policies.set(`${NS[0]}/new`, policy(0, 1 + round, 7000))) // a policy created (a new peer set)
    step(() => state.policies.set(`${NS[0]}/new`, policy(0, 1 + round, 7001))) // updated
    step(() => state.policies.delete(`${NS[0]}/new`)) // deleted
  }
  return { encoded }
}
