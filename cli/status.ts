// `cinch status`: asks a running agent over HTTP (its /status endpoint) and prints a summary.
import type { AgentStatus } from '../policy-agent/server/http.js'

export async function fetchStatus(addr: string): Promise<AgentStatus> {
  const url = `http://${addr}/status`
  let res: Response
  try {
    res = await fetch(url)
  } catch (err) {
    throw new Error(`no agent answers at ${url} (is \`cinch agent\` running, with this --metrics-addr?)`, { cause: err })
  }
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`)
  return (await res.json()) as AgentStatus
}

export function statusText(s: AgentStatus): string {
  const out = [`node:        ${s.node}`, `ready:       ${s.ready ? 'yes' : `no: ${s.notReady ?? 'first sync not in the kernel yet'}`}`]
  out.push(s.lastSync ? `last sync:   ${s.lastSync.at} (${s.lastSync.mode}, ${s.lastSync.durationMs.toFixed(1)} ms, ${s.lastSync.reason})` : 'last sync:   never')
  if (s.lastError) out.push(`last error:  ${s.lastError.at} ${s.lastError.message}`)
  out.push(`local pods:  ${s.localPods.length}`)
  for (const p of s.localPods) out.push(`  ${p.namespace}/${p.name} ${p.ips.join(' ')}`)
  out.push(`invalid policies: ${s.invalidPolicies.length}`)
  for (const i of s.invalidPolicies) out.push(`  ${i.policy}: ${i.reason}`)
  if (s.nodePolicyCost) out.push(`policy cost: ${s.nodePolicyCost.used} of ${s.nodePolicyCost.max} for this node's pods (--max-node-policy-cost)`)
  // Shown only when there are some: a pod whose policies add up to more than one pod may cost.
  if (s.failedClosed?.length) out.push(`pods failed closed: ${s.failedClosed.length}`)
  for (const f of s.failedClosed ?? []) out.push(`  ${f.pod} ${f.direction}${f.audit ? ' (audit)' : ''}: ${f.reason}`)
  for (const p of s.sourceProblems) out.push(`source problem: ${p.where}: ${p.reason}`)
  // ClusterNetworkPolicies that apply, but not as written, or in an order cinch picked.
  for (const w of s.clusterNetworkPolicies?.warnings ?? []) out.push(`ClusterNetworkPolicy warning: ${w.policy}: ${w.warning}`)
  for (const o of s.clusterNetworkPolicies?.overlaps ?? []) out.push(`ClusterNetworkPolicy overlap: ${o}`)
  const f = s.flowLogs
  if (f) {
    const state = f.reading ? 'reading' : `NOT reading: ${f.error ?? 'not bound yet'} (retrying)`
    out.push(`flow logs:   group ${f.group} ${state}; ${f.clusterWide ? 'all namespaces' : 'namespaces annotated cinch.dev/flow-logs'}; ${f.lost} events lost`)
    for (const p of f.problems) out.push(`flow logs problem: ${p.where}: ${p.reason}`)
  }
  return out.join('\n') + '\n'
}
