// Reads cinch's tables back from the kernel as nft's JSON (libnftables-json(5)).
import { execNft } from './exec.js'

// nft says "No such file or directory" for a table that does not exist.
function isMissing(stderr: string): boolean {
  return /No such file or directory|does not exist/i.test(stderr)
}

async function listJson(args: string[]): Promise<any | null> {
  const r = await execNft(['-j', ...args])
  if (r.code !== 0) {
    if (isMissing(r.stderr)) return null
    throw new Error(`nft -j ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`)
  }
  return JSON.parse(r.stdout)
}

/** `nft -j list table <family> <table>`, parsed; null when the table does not exist. */
export function listTableJson(family: string, table: string): Promise<any | null> {
  return listJson(['list', 'table', family, table])
}

/** `nft -j list counters table <family> <table>`, parsed; null when the table does not exist. */
export function listCountersJson(family: string, table: string): Promise<any | null> {
  return listJson(['list', 'counters', 'table', family, table])
}

/** One named counter as read from `listCountersJson`. */
export interface NftCounter {
  name: string
  packets: number
  bytes: number
}

/** Extracts the named counters from `nft -j list counters` output. */
export function countersOf(json: any | null): NftCounter[] {
  const items: any[] = json?.nftables ?? []
  return items
    .filter((i) => i.counter)
    .map((i) => ({ name: i.counter.name, packets: i.counter.packets ?? 0, bytes: i.counter.bytes ?? 0 }))
}
