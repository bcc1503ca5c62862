// Applies a ruleset as ONE transaction: `nft -f -` parses the whole text and commits it atomically
// (nft(8) "-f": the file is one transaction; on any error nothing is committed), so a half-applied
// ruleset never exists in the kernel.
import { execNft } from './exec.js'

/** Runs `nft -f -` with `ruleset` on stdin; throws an Error whose message carries nft's stderr. */
export async function runNft(ruleset: string): Promise<void> {
  if (ruleset.trim() === '') return
  const r = await execNft(['-f', '-'], ruleset)
  if (r.code !== 0) {
    throw new Error(`nft -f - failed (exit ${r.code}): ${r.stderr.trim()}`)
  }
}
