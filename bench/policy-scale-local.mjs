// A pod of the agent's OWN node for bench/policy-scale.mjs, made the way a cluster makes it: the
// scheduler's Pod (spec.nodeName set, no addresses yet), then cinch-bridge's ADD (the attachment
// record, then the request on the agent's socket, answered once the pod's rules are in the kernel),
// then kubelet's status with the pod's addresses; and the reverse (DEL, then the Pod's deletion).
// The plugin's side is cinch-bridge's own code: writeAttachmentSync / removeAttachmentSync
// (lib/state/attachments.ts) and askAgent (plugins/cinch-bridge/agent.ts), which loads nothing
// but node:net and the socket protocol. policy-scale.mjs times each request; these time only the
// record's share of it.
import { removeAttachmentSync, writeAttachmentSync } from '../lib/state/attachments.ts'
import { askAgent } from '../plugins/cinch-bridge/agent.ts'
import { podObject } from './policy-scale-objects.mjs'

// cinch-bridge's default policyTimeoutMs (README, cinch-bridge keys).
const POLICY_TIMEOUT_MS = 10_000

/**
 * Sample k's pod: a copy of `base` (a pod of a local namespace: the same labels and ports, so the
 * policies of its namespace select it and peers elsewhere name it) under a new name, on `node`,
 * with addresses from 10.97.0.0/16 and fd00:97::/64, which the synthetic cluster never uses.
 */
export function localPodOf(base, k, { node, runId }) {
  return {
    namespace: base.namespace, name: `bench-local-${k}`, labels: { ...base.labels }, ports: base.ports.map((x) => ({ ...x })),
    nodeName: node, ips: [`10.97.${(k + 1) >> 8}.${(k + 1) & 255}`, `fd00:97::${(k + 1).toString(16)}`],
    // Unique per run: a record left by an earlier run must not be taken for this one's.
    containerId: `bench-local-${runId}-${k}`,
    // "cinch" + 10 hex digits, as lib/state/attachments.ts requires; "97" keeps clear of the
    // records of the cluster's own local pods (policy-scale.mjs vethOf: 0 up to 110).
    hostVeth: `cinch97${k.toString(16).padStart(8, '0')}`,
  }
}

/** The Pod as the scheduler leaves it: bound to the node, Pending, no status.podIPs. */
export function scheduledPodObject(p, i) {
  const o = podObject(p, i)
  // kubelet's managedFields entry and its status go: kubelet has not reported yet.
  o.metadata.managedFields = o.metadata.managedFields.filter((f) => f.manager !== 'kubelet')
  o.status = { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: '2026-05-01T10:00:00Z' }], qosClass: 'Burstable' }
  return o
}

/** The Pod once kubelet has reported it Running with its addresses (status.podIPs). */
export const runningPodObject = (p, i) => podObject(p, i)

/** The attachment record cinch-bridge writes for `p` before it asks the agent. */
export function recordOf(p, netns) {
  return {
    containerId: p.containerId, ifName: 'eth0', netns, podNamespace: p.namespace, podName: p.name,
    ips: [`${p.ips[0]}/16`, `${p.ips[1]}/64`], hostVeth: p.hostVeth, bridge: 'cinch0', network: 'cinch',
    createdAt: new Date().toISOString(),
  }
}

/**
 * cinch-bridge's ADD as seen by the agent: the record, then the request line, until the reply.
 * Resolves with the record write's share (ms) and the reply, or `{ ok: false, error }` for a
 * refusal, no agent, a timeout or a broken reply: each a failed sample.
 */
export async function addLikeCniBridge({ stateDir, socket, netns, pod }) {
  const t0 = performance.now()
  const r = recordOf(pod, netns)
  writeAttachmentSync(stateDir, r)
  const recordMs = performance.now() - t0
  const reply = await ask(socket, { op: 'add', containerId: r.containerId, ifName: r.ifName, podNamespace: r.podNamespace, podName: r.podName, ips: r.ips })
  return { recordMs, reply }
}

/** cinch-bridge's DEL as seen by the agent: the record removed, then the request line, until the reply. */
export async function delLikeCniBridge({ stateDir, socket, pod }) {
  const t0 = performance.now()
  const id = { containerId: pod.containerId, ifName: 'eth0' }
  removeAttachmentSync(stateDir, id)
  const recordMs = performance.now() - t0
  const reply = await ask(socket, { op: 'del', ...id })
  return { recordMs, reply }
}

async function ask(socket, req) {
  try {
    const a = await askAgent(socket, req, POLICY_TIMEOUT_MS)
    return a.ok === 'absent' ? { ok: false, error: `no agent listening on ${socket}` } : a
  } catch (err) {
    return { ok: false, error: err.message }
  }
}
