// The conformance fixture's model (/work/shared/cnp/cases.json `model`) as a cluster for the
// evaluator, in one address family, with the placeholders of its policies filled in. Test-only.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { emptyClusterState, type ClusterNetworkPolicyObject, type ClusterState, type NetworkPolicy, type Protocol } from '../../policy-agent/model/cluster.js'
import { convertPolicy } from '../../policy-agent/cnp/convert.js'
import type { CnpCluster, CnpNode } from '../../policy-agent/cnp/evaluate.js'
import type { Policy } from '../../policy-agent/cnp/types.js'

export type Family = 4 | 6

export interface FixtureModel {
  namespaces: Record<string, { labels: Record<string, string> }>
  pods: { namespace: string; name: string; labels: Record<string, string>; hostNetwork?: boolean; nodeName?: string
    ports: { name?: string; port: number; protocol: Protocol; declared: boolean }[] }[]
  nodes: { name: string; labels: Record<string, string> }[]
}

export interface Probe { protocol: Protocol; port: number; expect: Record<string, Record<string, boolean>> }
export interface Step {
  subtest?: string; subtestNumber?: number; phase?: number
  policies: Record<string, any>[]; namespaceLabelUpdates?: Record<string, Record<string, string>>; probes: Probe[]
}
export interface Case { id: string; feature?: string; steps?: Step[] }

/** One expected connection of a step: `ns/pod` to `ns/pod` on a protocol and port. */
export interface Cell { src: string; dst: string; from: { namespace: string; name: string }; to: { namespace: string; name: string }; protocol: Protocol; port: number; want: boolean; probe: Probe }

/** Every cell of the step's probes, in the fixture's order. */
export function cellsOf(step: Step): Cell[] {
  const pod = (s: string) => {
    const [namespace, name] = s.split('/') as [string, string]
    return { namespace, name }
  }
  return step.probes.flatMap((probe) => Object.entries(probe.expect).flatMap(([src, row]) =>
    Object.entries(row).map(([dst, want]) => ({ src, dst, from: pod(src), to: pod(dst), protocol: probe.protocol, port: probe.port, want, probe }))))
}

// shared-cases.json is a verbatim copy of the team's shared/cnp/cases.json (the five cases given
// with issue 10, and the model); cases.json holds the rest of the upstream suite (generate.ts).
const sharedFile = process.env.CINCH_CNP_CASES ?? fileURLToPath(new URL('../fixtures/cnp-extra/shared-cases.json', import.meta.url))
const extraFile = fileURLToPath(new URL('../fixtures/cnp-extra/cases.json', import.meta.url))

const ownFile = fileURLToPath(new URL('../fixtures/cnp-extra/own-cases.json', import.meta.url))

export function loadFixture(which: 'shared' | 'extra' | 'own'): { model: FixtureModel; cases: Case[] } {
  const shared = JSON.parse(readFileSync(sharedFile, 'utf8'))
  const data = which === 'shared' ? shared : JSON.parse(readFileSync(which === 'extra' ? extraFile : ownFile, 'utf8'))
  return { model: shared.model, cases: data.cases }
}

/** Every step of every case, one-step cases (no `steps`) included. */
export function stepsOf(cases: Case[]): { name: string; caseId: string; step: Step }[] {
  const out: { name: string; caseId: string; step: Step }[] = []
  for (const c of cases) {
    const steps = c.steps ?? [c as unknown as Step]
    steps.forEach((s, i) => out.push({ name: `${c.id} ${s.subtestNumber ?? i + 1}.${s.phase ?? 1}`, caseId: c.id, step: s }))
  }
  return out
}

/** Addresses: pod i gets 10.244.0.(10+i) or fd00:10:244::(10+i); node i 192.168.0.(10+i) or fd00:192:168::(10+i). */
export function addressesOf(model: FixtureModel, family: Family): { podIP: Map<string, string>; nodeIP: Map<string, string> } {
  const nodeIP = new Map(model.nodes.map((n, i) => [n.name, family === 4 ? `192.168.0.${10 + i}` : `fd00:192:168::${(10 + i).toString(16)}`]))
  const podIP = new Map<string, string>()
  model.pods.forEach((p, i) => {
    const key = `${p.namespace}/${p.name}`
    // Host-network pods' IP is their node's (shared/cnp README).
    podIP.set(key, p.hostNetwork ? nodeIP.get(p.nodeName!)! : family === 4 ? `10.244.0.${10 + i}` : `fd00:10:244::${(10 + i).toString(16)}`)
  })
  return { podIP, nodeIP }
}

export function substitute<T>(x: T, model: FixtureModel, family: Family): T {
  const { podIP, nodeIP } = addressesOf(model, family)
  const text = JSON.stringify(x)
    .replace(/\{\{podIP:([^}]+)\}\}\/32/g, (_, k: string) => `${podIP.get(k)}/${family === 4 ? 32 : 128}`)
    .replace(/\{\{podIP:([^}]+)\}\}/g, (_, k: string) => podIP.get(k)!)
    .replace(/\{\{nodeIP:([^}]+)\}\}/g, (_, k: string) => nodeIP.get(k)!)
  if (text.includes('{{')) throw new Error(`unreplaced placeholder in ${text.slice(text.indexOf('{{'), text.indexOf('{{') + 60)}`)
  return JSON.parse(text)
}

/** The cluster of one step: model + label updates + the step's NetworkPolicies; its CNPs converted. */
export function clusterOfStep(model: FixtureModel, step: Step, family: Family): { cluster: CnpCluster; cnps: Policy[]; invalid: string[] } {
  const { podIP, nodeIP } = addressesOf(model, family)
  const state: ClusterState = emptyClusterState()
  for (const [name, ns] of Object.entries(model.namespaces)) {
    state.namespaces.set(name, { name, labels: { ...ns.labels, ...(step.namespaceLabelUpdates?.[name] ?? {}) } })
  }
  for (const p of model.pods) {
    const key = `${p.namespace}/${p.name}`
    state.pods.set(key, {
      namespace: p.namespace, name: p.name, labels: p.labels, ips: [podIP.get(key)!], nodeName: p.nodeName, hostNetwork: p.hostNetwork,
      // Only declared container ports exist in the pod spec, so only they can resolve a name.
      ports: p.ports.filter((x) => x.declared).map((x) => ({ name: x.name, containerPort: x.port, protocol: x.protocol })),
    })
  }
  const nodes: CnpNode[] = model.nodes.map((n) => ({ name: n.name, labels: n.labels, addresses: [nodeIP.get(n.name)!] }))
  for (const n of nodes) state.nodes.set(n.name, { name: n.name, podCIDRs: [], internalIPs: n.addresses })
  const objects = substitute(step.policies, model, family)
  const cnps: Policy[] = []
  const invalid: string[] = []
  for (const o of objects) {
    if (o.kind === 'NetworkPolicy') {
      const np = o as NetworkPolicy
      state.policies.set(`${np.metadata.namespace}/${np.metadata.name}`, np)
    } else {
      const r = convertPolicy(o)
      if ('invalid' in r) invalid.push(`${r.invalid.policy}: ${r.invalid.reason}`)
      else cnps.push(r.policy)
    }
  }
  return { cluster: { state, nodes }, cnps, invalid }
}

/**
 * The step's cluster as the sources hold it: ClusterNetworkPolicies as raw objects (the compiler
 * converts them), Nodes with their labels and addresses.
 */
export function stateOfStep(model: FixtureModel, step: Step, family: Family): ClusterState {
  const { cluster } = clusterOfStep(model, step, family)
  const state = cluster.state
  for (const o of substitute(step.policies, model, family)) {
    if (o.kind === 'ClusterNetworkPolicy') state.clusterNetworkPolicies.set(o.metadata.name, o as ClusterNetworkPolicyObject)
  }
  for (const n of model.nodes) {
    const node = state.nodes.get(n.name)!
    state.nodes.set(n.name, { ...node, labels: n.labels, addresses: node.internalIPs })
  }
  return state
}
