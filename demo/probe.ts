// Moved to test/kit/probe.ts; this adapter goes once nothing imports it.
import { probeFrom as kitProbeFrom, type ProbeResult, type ProbeTarget } from '../test/kit/probe.js'
export { peerAddress, type ProbeResult, type ProbeTarget } from '../test/kit/probe.js'
export const probeFrom = (podNetns: string, targets: ProbeTarget[], timeoutMs = 1500): Promise<ProbeResult[]> => kitProbeFrom(podNetns, targets, { timeoutMs })
