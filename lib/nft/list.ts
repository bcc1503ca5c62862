// Reads a table back as nft's JSON (libnftables-json(5)), checked at the top level; the typed
// view is NftTable.list() (json.ts).
import { NftTable } from './table.js'
import type { NftDocument } from './json.js'
import type { NftFamily } from './syntax.js'

/** `nft -j list table <family> <table>`; null when the table does not exist. */
export function listTableJson(family: NftFamily, table: string): Promise<NftDocument | null> {
  return new NftTable({ family, name: table }).listJson()
}

/** One named counter. */
export interface NftCounter {
  name: string
  packets: number
  bytes: number
}

/** `nft -j list counters table <family> <table>`; [] when the table does not exist. */
export function listCounters(family: NftFamily, table: string): Promise<NftCounter[]> {
  return new NftTable({ family, name: table }).listCounters()
}
