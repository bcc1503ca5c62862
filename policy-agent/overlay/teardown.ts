// Removes everything the agent put on a node, for `cinch uninstall --all` (daemonset/README.md,
// "Uninstalling"): after it the node is as before cinch, except for running pods' own interfaces.
//
//   conflist     <cniConfDir>/10-cinch.conflist (+ temp leftovers): FIRST, so that kubelet stops
//                handing new pods to cinch (with policyRequired they would fail with code 11
//                forever, and 10-cinch sorts before another CNI's config)
//   nftables     tables inet cinch, bridge cinch, inet cinch-nat, in one transaction
//   routes       every route of protocol 193 (ours by construction; see apply.ts CINCH_RTPROT)
//   devices      cinch-vxlan; the bridge cinch0 only when no pod is attached to it any more
//
// Every step is attempted; the errors are joined (like a CNI DEL). Idempotent: a second run finds
// nothing and succeeds.
import { readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { closeRtnl, deleteLink, deleteLinkByName, deleteRoute, getLinkByName, listLinks, listRoutes, openRtnl } from '../../lib/net/index.js'
import { NftTable } from '../../lib/nft/index.js'
import { CINCH_TABLES as TABLES } from '../../lib/state/tables.js'
import { CONFLIST_DEFAULTS } from '../cniconf/index.js'
import { CINCH_RTPROT } from './apply.js'
import { OVERLAY_DEFAULTS } from './plan.js'

/** cinch's nftables tables: the agent's policy (inet, bridge) and the masquerade. */
export const CINCH_TABLES = TABLES.map((t) => [t.family, t.name] as const)

export interface TeardownOptions {
  /** Default /etc/cni/net.d. */
  cniConfDir?: string
  /** The conflist's bridge (default cinch0). */
  bridge?: string
}

export interface TeardownReport {
  removed: string[]
  kept: string[]
}

/** `add table` then `delete table` in one transaction: deletes whether or not it exists (knftables). */
export function renderTableTeardown(): string {
  return CINCH_TABLES.flatMap(([family, name]) => [`add table ${family} ${name}`, `delete table ${family} ${name}`]).join('\n') + '\n'
}

export async function removeNodeNetwork(o: TeardownOptions = {}): Promise<TeardownReport> {
  const report: TeardownReport = { removed: [], kept: [] }
  const errors: Error[] = []
  const step = async (what: string, fn: () => Promise<void> | void) => {
    try {
      await fn()
    } catch (err) {
      errors.push(new Error(what, { cause: err }))
    }
  }

  const dir = o.cniConfDir ?? '/etc/cni/net.d'
  const name = CONFLIST_DEFAULTS.fileName
  await step(`remove ${join(dir, name)}`, () => {
    let entries: string[] = []
    try {
      entries = readdirSync(dir)
    } catch {
      return // no config directory: nothing of ours in it
    }
    // The file, and temp files of an interrupted write (cniconf/write.ts names them .<name>.<pid>.tmp).
    for (const e of entries.filter((e) => e === name || (e.startsWith(`.${name}.`) && e.endsWith('.tmp')))) {
      rmSync(join(dir, e), { force: true })
      report.removed.push(join(dir, e))
    }
  })

  await step('delete nftables tables', async () => {
    const [first, ...also] = TABLES.map((t) => new NftTable(t))
    await first!.runText(renderTableTeardown(), { also })
    report.removed.push(...CINCH_TABLES.map(([f, n]) => `table ${f} ${n}`))
  })

  const nl = openRtnl()
  try {
    await step(`delete routes of protocol ${CINCH_RTPROT}`, async () => {
      for (const r of await listRoutes(nl, { proto: CINCH_RTPROT })) {
        if (await deleteRoute(nl, { dst: r.dst, gw: r.gw, index: r.index, proto: CINCH_RTPROT })) report.removed.push(`route ${r.dst}${r.gw ? ` via ${r.gw}` : ''} proto ${CINCH_RTPROT}`)
      }
    })
    await step(`delete ${OVERLAY_DEFAULTS.deviceName}`, async () => {
      if (await deleteLinkByName(nl, OVERLAY_DEFAULTS.deviceName)) report.removed.push(`link ${OVERLAY_DEFAULTS.deviceName}`)
    })
    const bridge = o.bridge ?? CONFLIST_DEFAULTS.bridge
    await step(`delete ${bridge}`, async () => {
      const br = await getLinkByName(nl, bridge)
      if (!br) return
      // A pod still attached keeps its network until it is deleted; the bridge goes with the last.
      const ports = (await listLinks(nl)).filter((l) => l.master === br.index)
      if (ports.length) return void report.kept.push(`link ${bridge}: ${ports.length} pod interface(s) still attached`)
      if (await deleteLink(nl, br.index)) report.removed.push(`link ${bridge}`)
    })
  } finally {
    closeRtnl(nl)
  }
  if (errors.length) throw new AggregateError(errors, `uninstall: ${errors.map((e) => `${e.message}: ${String((e.cause as Error)?.message ?? e.cause)}`).join('; ')}`)
  return report
}
