// JSON.parse for what an API server sends, with every object key V8 would hash by its length alone
// (over 16,383 characters: model/text-keys.ts) renamed before the parse. JSON.parse internalizes
// each key into V8's string table, where all keys of one length past that bound share one bucket:
// 3,000 watch events each with a distinct key of 20,000 characters took 4.5 s to parse, against
// 0.29 s at 10,000. Watch events come as JSON, managedFields and all, and a managedFields key
// names a list entry by its key fields (`k:{"name":...}` of a container's env var, whose name the
// API server checks by pattern, not length). No key the converter reads can be that long (field
// names; label and annotation keys the API server bounds), so a renamed key loses nothing.
import { MAX_HASHED_LENGTH } from '../model/text-keys.js'

/** JSON.parse(text), each key longer than V8 hashes whole renamed `"\u0000<n>"` first. */
export function parseApiJson(text: string): unknown {
  // A key of more than MAX_HASHED_LENGTH characters needs a text longer than that.
  if (text.length <= MAX_HASHED_LENGTH) return JSON.parse(text)
  return JSON.parse(withLongKeysRenamed(text))
}

/**
 * `text` with each string token longer than MAX_HASHED_LENGTH that is followed by `:` (a key)
 * replaced by a short one. Outside a string a JSON text holds no `"`, so each `"` found from
 * outside opens a string, which ends at the next `"` not escaped. Text that is not JSON stays as
 * invalid as it was for JSON.parse to refuse, but for a long key's own characters.
 */
export function withLongKeysRenamed(text: string): string {
  let out: string[] | undefined
  let copied = 0, renamed = 0
  for (let open = text.indexOf('"'); open !== -1;) {
    let close = text.indexOf('"', open + 1)
    while (close !== -1 && escaped(text, close)) close = text.indexOf('"', close + 1)
    if (close === -1) break
    if (close - open - 1 > MAX_HASHED_LENGTH && text.charCodeAt(nextNonSpace(text, close + 1)) === 58 /* : */) {
      ;(out ??= []).push(text.slice(copied, open), `"\\u0000${renamed++}"`)
      copied = close + 1
    }
    open = text.indexOf('"', close + 1)
  }
  if (!out) return text
  out.push(text.slice(copied))
  return out.join('')
}

/** Whether the `"` at `at` is escaped: an odd run of backslashes before it. */
function escaped(text: string, at: number): boolean {
  let n = 0
  while (at - 1 - n >= 0 && text.charCodeAt(at - 1 - n) === 92 /* \ */) n++
  return n % 2 === 1
}

function nextNonSpace(text: string, i: number): number {
  while (i < text.length) {
    const c = text.charCodeAt(i)
    if (c !== 32 && c !== 9 && c !== 10 && c !== 13) return i
    i++
  }
  return i
}
