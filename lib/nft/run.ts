// Table-less helpers kept for test harnesses that apply a whole fixture ruleset. Code that writes
// cinch's own tables uses an NftTable (table.ts), which refuses scripts naming other tables.
import { defaultBackend } from './backend.js'
import { NftError } from './errors.js'

/** Runs `ruleset` as one transaction (nft -f); throws an NftError carrying nft's stderr. */
export async function runNft(ruleset: string): Promise<void> {
  if (ruleset.trim() === '') return
  const r = await defaultBackend().run({ text: ruleset })
  if (!r.ok) throw new NftError('nft -f - failed', r.stderr, ruleset)
}
