// Resolution of NetworkPolicyPort entries to destination port ranges.
import type { PodPort } from '../model/cluster.js'
import type { IrPort, IrProtocol } from './ir.js'
import type { Port } from './normalize.js'

export const irProtocol = (p: string): IrProtocol => p.toLowerCase() as IrProtocol

/**
 * The ranges `port` means on a destination pod with these container ports. NetworkPolicyPort.port:
 * "this can either be a numerical or named port on a pod"; a name matches the destination pod's
 * container port of that name and the entry's protocol, and nothing when the pod has none.
 */
export function resolvePort(port: Port, podPorts: PodPort[]): IrPort[] {
  const protocol = irProtocol(port.protocol)
  switch (port.kind) {
    case 'all': return [{ protocol, from: 0, to: 65535 }]
    case 'range': return [{ protocol, from: port.from, to: port.to }]
    case 'named': return podPorts
      .filter((c) => c.name === port.name && c.protocol === port.protocol)
      .map((c) => ({ protocol, from: c.containerPort, to: c.containerPort }))
  }
}

export function portWords(p: Port): string {
  switch (p.kind) {
    case 'all': return `any ${p.protocol} port`
    case 'range': return p.from === p.to ? `${p.protocol}/${p.from}` : `${p.protocol}/${p.from}-${p.to}`
    case 'named': return `${p.protocol} port named ${p.name}`
  }
}
