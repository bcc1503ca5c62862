// Names of cinch's kernel objects: predictable, so a restarted agent, metrics and an operator
// reading `nft list table inet cinch` recognise them without memory (felix, knftables style).
import { createHash } from 'node:crypto'

const MAX = 200 // NFT_NAME_MAXLEN is 256; stay well below it

export function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 10)
}

/** `<prefix>-<ns>-<name>`, with a hash suffix when it would be too long. K8s names are [a-z0-9.-]. */
export function objectName(prefix: string, ns: string, name: string): string {
  const plain = `${prefix}-${ns}-${name}`
  return plain.length <= MAX ? plain : `${plain.slice(0, MAX - 11)}-${shortHash(`${ns}/${name}`)}`
}

/** Names unique per owner: `a-b`/`c` and `a`/`b-c` would both give `...-a-b-c`; the later one gets a hash. */
export class NameBook {
  private owners = new Map<string, string>()
  name(prefix: string, ns: string, name: string): string {
    const owner = `${ns}/${name}`
    let n = objectName(prefix, ns, name)
    const had = this.owners.get(n)
    if (had !== undefined && had !== owner) n = `${n.slice(0, MAX - 11)}-${shortHash(owner)}`
    this.owners.set(n, owner)
    return n
  }
}

/** A comment nft accepts: no quotes or backslashes, at most 120 bytes (NFT_USERDATA_MAXLEN 256). */
export function commentText(text: string): string {
  const s = text.replace(/["\\\n\r]/g, "'")
  return s.length <= 120 ? s : s.slice(0, 117) + '...'
}
