// Test helpers that run rendered text through the real nft in a throwaway network namespace
// (`unshare -n`: the namespace dies with the command, the host's is never touched), or in a test's
// own namespace (cinchTablesIn, comparableRuleset). Tests only.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { NftTable } from '../../lib/nft/index.js'
import { cleanupFor } from './cleanup.js'
import { makeNetns, nsPath } from './netns.js'
import { NFT } from './proc.js'

/** True when `unshare -n nft` can run here (root with nft installed). */
export function haveKernelNft(): boolean {
  const r = spawnSync('unshare', ['-n', NFT, 'list', 'ruleset'], { encoding: 'utf8' })
  return r.status === 0
}

/** `nft -c -f` (check only, nothing committed) of a ruleset text; returns nft's stderr ('' when fine). */
export function nftCheck(text: string): string {
  const r = spawnSync('unshare', ['-n', NFT, '-c', '-f', '-'], { input: text, encoding: 'utf8' })
  return r.status === 0 ? '' : r.stderr || `nft exited ${r.status}`
}

/** Applies each text in order in one fresh namespace; returns `nft -j list ruleset` normalised. */
export function applyAndList(texts: string[]): unknown {
  const dir = mkdtempSync(join(tmpdir(), 'cinch-render-'))
  try {
    const files = texts.map((t, i) => { const f = join(dir, `${i}.nft`); writeFileSync(f, t); return f })
    const script = [...files.filter((_, i) => texts[i] !== '').map((f) => `${NFT} -f ${f} || exit 1`), `${NFT} -j list ruleset`].join('\n')
    const out = execFileSync('unshare', ['-n', 'sh', '-c', script], { encoding: 'utf8' })
    return normalise(JSON.parse(out))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Drops handles and counter values, sorts set elements and objects; keeps rule order per chain. */
function normalise(j: { nftables: Record<string, unknown>[] }): unknown {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip)
    if (v && typeof v === 'object') {
      const o: Record<string, unknown> = {}
      for (const [k, x] of Object.entries(v)) {
        if (k === 'handle' || k === 'packets' || k === 'bytes') continue
        o[k] = k === 'elem' && Array.isArray(x) ? x.map(strip).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))) : strip(x)
      }
      return o
    }
    return v
  }
  const objects: string[] = []
  const rules: Record<string, unknown[]> = {}
  for (const item of j.nftables) {
    if ('metainfo' in item) continue
    const s = strip(item) as Record<string, { family: string; table: string; chain: string }>
    if (s.rule) (rules[`${s.rule.family} ${s.rule.table} ${s.rule.chain}`] ??= []).push(s.rule)
    else objects.push(JSON.stringify(s))
  }
  return { objects: objects.sort(), rules }
}

/** cinch's two policy tables (`inet cinch`, `bridge cinch`) in a new namespace, removed by the test's cleanup. */
export function cinchTablesIn(t: import('ava').ExecutionContext, prefix: string): { ns: string; policy: NftTable; bridge: NftTable } {
  const ns = makeNetns(cleanupFor(t), prefix)
  return { ns, policy: new NftTable({ family: 'inet', name: 'cinch', netns: nsPath(ns) }), bridge: new NftTable({ family: 'bridge', name: 'cinch', netns: nsPath(ns) }) }
}

/** nft in a namespace, with room for the megabytes a 30k-policy listing takes. */
const nftIn = (ns: string, ...args: string[]) => execFileSync('ip', ['netns', 'exec', ns, NFT, ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })

/**
 * `nft -j list ruleset` of a namespace in a form two kernels can be compared by: no handles, no
 * counter values, set elements sorted (a hash set lists in its own order).
 */
export function comparableRuleset(ns: string): unknown {
  const out = JSON.parse(nftIn(ns, '-j', 'list', 'ruleset')) as { nftables: object[] }
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip)
    if (!v || typeof v !== 'object') return v
    const o: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) {
      if (k === 'handle' || k === 'packets' || k === 'bytes') continue
      o[k] = k === 'elem' && Array.isArray(x) ? x.map(strip).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))) : strip(x)
    }
    return o
  }
  return out.nftables.filter((o) => !('metainfo' in o)).map(strip)
}

/**
 * comparableRuleset, and nft's text listing with each element list left out: a hash set's
 * elements come in its own order, and they are compared, sorted, in the JSON.
 */
export function listedRuleset(ns: string): { json: unknown; text: string } {
  return { json: comparableRuleset(ns), text: nftIn(ns, 'list', 'ruleset').replace(/elements = \{[^}]*\}/g, 'elements = {…}') }
}

/**
 * A random ClusterNetworkPolicy of the netlink-vs-nft differential tests: Admin or Baseline, every
 * action, pod and namespace peers, a port or none.
 */
export function randomCnp(r: (n: number) => number, k: number) {
  const tier = r(2) ? 'Admin' : 'Baseline'
  return {
    apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name: `c${k}` },
    spec: {
      tier, priority: r(5), subject: { namespaces: { matchLabels: { team: 't0' } } },
      ingress: [
        { name: 'mon', action: 'Accept', from: [{ pods: { namespaceSelector: { matchLabels: { team: 't1' } }, podSelector: { matchLabels: { app: 'a' } } } }], protocols: [{ tcp: { destinationPort: { number: 9100 } } }] },
        { name: 'other', action: tier === 'Admin' && r(2) ? 'Pass' : 'Deny', from: [{ namespaces: { matchLabels: { team: 't2' } } }] },
      ],
      egress: [{ name: 'dns', action: 'Accept', to: [{ pods: { namespaceSelector: {}, podSelector: { matchLabels: { app: 'c' } } } }], protocols: [{ udp: { destinationPort: { number: 53 } } }] }],
    },
  }
}
