// Probing a one-node cluster from inside its pods with real connections, and the matrices that
// the NetworkPolicy tests compare (expect[source][destination], as in the fixture).
import { reachable } from '../kit/probe.js'
import type { NodeCluster } from './netpol-helpers.js'

export type Matrix = Record<string, Record<string, boolean>>

/** The whole matrix (self pairs skipped) for one port/protocol/family, with real connections. */
export async function probeMatrix(c: NodeCluster, o: { protocol: 'TCP' | 'UDP'; port: number; family?: 4 | 6 }): Promise<Matrix> {
  const pods = [...c.pods.values()]
  const m: Matrix = {}
  await Promise.all(pods.map(async (src) => {
    const dsts = pods.filter((d) => d !== src)
    // 1.2 s per denied cell; a wrong matrix is probed again (probeAndCompare).
    const r = await reachable(src.netns, { proto: o.protocol === 'UDP' ? 'udp' : 'tcp', port: o.port, ips: dsts.map((d) => (o.family === 6 ? d.v6 : d.v4)), timeoutMs: 1200 })
    m[src.key] = Object.fromEntries(dsts.map((d, i) => [d.key, r[i]!]))
  }))
  return m
}

/** Cells where `got` differs from `want` (self pairs ignored), as readable lines. */
export function matrixDiff(want: Matrix, got: Matrix): string[] {
  const out: string[] = []
  for (const src of Object.keys(got).sort()) {
    for (const dst of Object.keys(got[src]!).sort()) {
      if (src === dst) continue
      const w = want[src]?.[dst]
      if (w === undefined) out.push(`${src} -> ${dst}: no expectation`)
      else if (w !== got[src]![dst]) out.push(`${src} -> ${dst}: expected ${w ? 'ALLOW' : 'DENY'}, got ${got[src]![dst] ? 'ALLOW' : 'DENY'}`)
    }
  }
  return out
}

/** The matrix as a table: rows are sources, columns destinations; '.' allow, 'X' deny, '!' wrong. */
export function matrixTable(want: Matrix, got: Matrix): string {
  const keys = Object.keys(want).sort()
  const lines = [`       ${keys.map((k) => k.padEnd(4)).join('')}`]
  for (const s of keys) {
    lines.push(`${s.padEnd(7)}${keys.map((d) => {
      if (s === d) return '-   '
      const g = got[s]?.[d]
      return `${g === undefined ? '?' : g ? '.' : 'X'}${g !== undefined && g !== want[s]?.[d] ? '!' : ' '}  `
    }).join('')}`)
  }
  return lines.join('\n')
}

/**
 * Probes and compares with `want`; a wrong matrix is probed once more before it counts (upstream's
 * e2e does the same), so one slow handshake on a loaded machine does not fail a run.
 */
export async function probeAndCompare(c: NodeCluster, o: { protocol: 'TCP' | 'UDP'; port: number; family?: 4 | 6 }, want: Matrix): Promise<{ diff: string[]; table: string }> {
  let got = await probeMatrix(c, o)
  let diff = matrixDiff(want, got)
  if (diff.length) {
    got = await probeMatrix(c, o)
    diff = matrixDiff(want, got)
  }
  return { diff, table: matrixTable(want, got) }
}

/**
 * A compact matrix: rules "allow|deny SRC -> DST", later rules win; SRC/DST are `ns/pod` with `*`
 * for any namespace or pod (`*`, `x/*`, `*\/a`). Rules start from nothing: write "allow * -> *" first.
 */
export function expandMatrix(rules: string[], keys: string[]): Matrix {
  const match = (pat: string, key: string) => {
    if (pat === '*') return true
    const [pn, pp] = pat.split('/')
    const [kn, kp] = key.split('/')
    return (pn === '*' || pn === kn) && (pp === '*' || pp === kp)
  }
  const m: Matrix = {}
  for (const s of keys) m[s] = Object.fromEntries(keys.map((d) => [d, false]))
  for (const rule of rules) {
    const r = /^(allow|deny)\s+(\S+)\s*->\s*(\S+)$/.exec(rule.trim())
    if (!r) throw new Error(`bad matrix rule ${JSON.stringify(rule)}`)
    for (const s of keys) for (const d of keys) if (match(r[2]!, s) && match(r[3]!, d)) m[s]![d] = r[1] === 'allow'
  }
  return m
}

