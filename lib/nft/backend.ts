// How a script reaches nftables. Two backends, one contract: the same script gives the same
// result, output and error text on both (errors.ts rewrites the one place they differ).
//   libnftables  in process, through koffi: no process start (bench/nft.mjs measures the gap)
//   nft          the binary, `nft -f -`: wherever libnftables cannot be loaded
// CINCH_NFT_BACKEND=nft|libnftables chooses; by default libnftables, falling back to the binary.
import { execBackend } from './exec.js'
import { loadLibnftables } from './libnftables.js'

export interface NftRequest {
  /** An nft script (`nft -f` syntax): committed as one transaction. */
  text: string
  /** Output as JSON (`nft -j`), for list commands. */
  json?: boolean
  /** Check only, commit nothing (`nft -c`). */
  check?: boolean
  /** A network namespace file (/var/run/netns/x): the script runs there instead of here. */
  netns?: string
}

export interface NftOutput {
  ok: boolean
  stdout: string
  stderr: string
}

export interface NftBackend {
  readonly name: 'libnftables' | 'nft'
  run(req: NftRequest): Promise<NftOutput>
}

let chosen: NftBackend | undefined
/** Why libnftables was not used, when the binary was chosen by fallback. */
export let fallbackReason: string | undefined

/** The process-wide backend, chosen once (CINCH_NFT_BACKEND, else libnftables, else the binary). */
export function defaultBackend(): NftBackend {
  if (chosen) return chosen
  const want = process.env.CINCH_NFT_BACKEND
  if (want && want !== 'nft' && want !== 'libnftables') throw new Error(`CINCH_NFT_BACKEND=${want}: expected nft or libnftables`)
  if (want === 'nft') return (chosen = execBackend)
  try {
    chosen = loadLibnftables()
  } catch (err) {
    if (want === 'libnftables') throw err
    fallbackReason = String((err as Error).message)
    chosen = execBackend
  }
  return chosen
}

/** A backend by name, for callers (and the benchmark) that compare the two. */
export function backendNamed(name: 'libnftables' | 'nft'): NftBackend {
  return name === 'nft' ? execBackend : loadLibnftables()
}
