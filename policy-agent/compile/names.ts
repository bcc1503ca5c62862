// Names of cinch's kernel objects: predictable, so a restarted agent, metrics and an operator
// reading `nft list table inet cinch` recognise them without memory (felix, knftables style).
import { createHash } from 'node:crypto'

// Chain, set and object names: NFT_CHAIN_MAXNAMELEN, NFT_SET_MAXNAMELEN and NFT_OBJ_MAXNAMELEN are
// 256 bytes with the NUL; stay well below. Kubernetes names reach 253 characters, so long ones are
// cut and get a hash suffix.
const MAX = 200
// What may appear in a name unhashed: RFC 1123 characters, what the API server allows in namespace,
// pod and policy names. Anything else (manifests are not validated by an API server; a record once
// carried `evil { }`) would be nft syntax in the text, so such a part is replaced and hashed.
const SAFE_PART = /^[a-z0-9.-]*$/

export function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 10)
}

/**
 * A name's hash where two different texts must never meet: 128 bits. shortHash's 40 bits are a
 * birthday search of ~1.5M texts (seconds) and a second preimage in 2^40 (a GPU minute), and a
 * set named by its content is shared by every rule naming it, whoever's policy brought it.
 */
export function contentHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 32)
}

/**
 * `<prefix>-<ns>-<name>`, with a hash suffix when it would be too long or when ns or name holds a
 * character outside [a-z0-9.-] (replaced by `_`). `prefix` is ours: letters, digits and `-`.
 */
export function objectName(prefix: string, ns: string, name: string): string {
  const safe = SAFE_PART.test(ns) && SAFE_PART.test(name)
  const plain = safe ? `${prefix}-${ns}-${name}` : `${prefix}-${ns.replace(/[^a-z0-9.-]/g, '_')}-${name.replace(/[^a-z0-9.-]/g, '_')}`
  return safe && plain.length <= MAX ? plain : `${plain.slice(0, MAX - 11)}-${shortHash(`${ns}/${name}`)}`
}

/** Names unique per owner: `a-b`/`c` and `a`/`b-c` would both give `...-a-b-c`; the later one gets a hash. */
export class NameBook {
  private owners = new Map<string, string>()
  /** true once a name was given a hash suffix because another owner had it */
  collided = false
  name(prefix: string, ns: string, name: string): string {
    const owner = `${ns}/${name}`
    let n = objectName(prefix, ns, name)
    const had = this.owners.get(n)
    if (had !== undefined && had !== owner) {
      n = `${n.slice(0, MAX - 11)}-${shortHash(owner)}`
      this.collided = true
    }
    this.owners.set(n, owner)
    return n
  }
}

/**
 * A comment nft accepts whatever the text: printable ASCII without quotes or backslashes (one byte
 * per character, nothing that ends the quoted string), at most 120 bytes (nft refuses comments
 * over NFTNL_UDATA_COMMENT_MAXLEN, 128 bytes). Label values and names in comments are input.
 */
export function commentText(text: string): string {
  const s = text.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, '?')
  return s.length <= 120 ? s : s.slice(0, 117) + '...'
}
