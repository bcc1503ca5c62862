// The checks every string passes before it is written into nft text. nft's input is a language:
// a name holding a newline, `;`, `}` or `"` would end one command and start another (flush
// ruleset...). So nothing is escaped: each string either matches a strict pattern or the render
// throws, naming the field. The patterns follow nft's scanner (src/scanner.l: `string`,
// `quotedstring`) and the kernel's limits (NFT_NAME_MAXLEN, NFTNL_UDATA_COMMENT_MAXLEN).

export const FAMILIES = ['ip', 'ip6', 'inet', 'arp', 'bridge', 'netdev'] as const
export type NftFamily = (typeof FAMILIES)[number]

/** NFT_NAME_MAXLEN is 256 with the NUL (include/uapi/linux/netfilter/nf_tables.h). */
const NAME_MAX = 255
/** scanner.l `string` minus '/' (a path separator in `include`), starting with a letter or '_'. */
const NAME = /^[a-zA-Z_][a-zA-Z0-9_.-]*$/
/** NFTNL_UDATA_COMMENT_MAXLEN: the kernel keeps at most 128 bytes; nft refuses longer comments. */
export const COMMENT_MAX = 128
/** Printable ASCII except the quote (which would end the string) and the backslash. */
const COMMENT = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/
/** One part of an element key or value: addresses, prefixes, ranges, numbers, symbolic constants. */
const VALUE = /^[a-zA-Z0-9_.:/-]+$/
/** ...or a quoted string (interface names: `"cinch*"`), same characters as a comment, no blank. */
const QUOTED_VALUE = /^"[\x21\x23-\x5b\x5d-\x7e]{0,64}"$/
/** A data type in a set/map declaration (`ipv4_addr`, `inet_service`, `ifname`, `verdict`). */
const TYPE = /^[a-z][a-z0-9_]*$/
const VERDICT = /^(accept|drop|continue|return|(jump|goto) [a-zA-Z_][a-zA-Z0-9_.-]*)$/

const show = (s: string) => JSON.stringify(s.length > 80 ? s.slice(0, 80) + '…' : s)

/** Throws unless `s` is a plain nft identifier; returns it. `what` names the field in the error. */
export function checkName(what: string, s: string): string {
  if (typeof s !== 'string' || !NAME.test(s) || s.length > NAME_MAX) throw new Error(`nft ${what}: ${show(String(s))} is not a valid name`)
  return s
}

export function checkFamily(f: string): NftFamily {
  if (!(FAMILIES as readonly string[]).includes(f)) throw new Error(`nft family: ${show(String(f))} is not one of ${FAMILIES.join(', ')}`)
  return f as NftFamily
}

/** `comment "..."` for a checked comment (at most 128 bytes). */
export function quoteComment(what: string, s: string): string {
  if (typeof s !== 'string' || !COMMENT.test(s)) throw new Error(`nft ${what} comment: ${show(String(s))} holds a character nft cannot take in a comment`)
  if (Buffer.byteLength(s) > COMMENT_MAX) throw new Error(`nft ${what} comment: ${Buffer.byteLength(s)} bytes, more than ${COMMENT_MAX}`)
  return `comment "${s}"`
}

/** Throws unless `s` is one element key/value part; returns it. */
export function checkValue(what: string, s: string): string {
  if (typeof s !== 'string' || !(VALUE.test(s) || QUOTED_VALUE.test(s))) throw new Error(`nft ${what}: ${show(String(s))} is not a valid value`)
  return s
}

/** A map value: a verdict (`jump <chain>`, `accept`...) or a plain value. */
export function checkMapValue(what: string, s: string): string {
  if (typeof s === 'string' && VERDICT.test(s)) return s
  return checkValue(what, s)
}

export function checkType(what: string, s: string): string {
  if (typeof s !== 'string' || !TYPE.test(s)) throw new Error(`nft ${what}: ${show(String(s))} is not a data type`)
  return s
}

/**
 * A rule body is nft expression text (like knftables' Rule.Rule), so it cannot match one pattern.
 * It may not end its command: no line break, no `;` or `#` outside quotes, balanced braces and
 * quotes, printable ASCII only, and no quoted string that could not be a comment.
 */
export function checkRuleText(s: string): string {
  if (typeof s !== 'string' || s.trim() === '' || !/^[\x20-\x7e]*$/.test(s)) throw new Error(`nft rule: ${show(String(s))} is empty or holds a line break or non-ASCII character`)
  let depth = 0
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!
    if (c === '"') {
      const end = s.indexOf('"', i + 1)
      if (end === -1 || !COMMENT.test(s.slice(i + 1, end))) throw new Error(`nft rule: ${show(s)} has an unterminated or unsafe quoted string`)
      i = end
    } else if (c === ';' || c === '#' || c === '\\') {
      throw new Error(`nft rule: ${show(s)} holds ${JSON.stringify(c)}, which would end the command`)
    } else if (c === '{') depth++
    else if (c === '}' && --depth < 0) throw new Error(`nft rule: ${show(s)} closes a brace it did not open`)
  }
  if (depth !== 0) throw new Error(`nft rule: ${show(s)} leaves a brace open`)
  return s
}

const VERBS = new Set(['add', 'create', 'insert', 'replace', 'delete', 'destroy', 'flush', 'list', 'reset'])
const OBJECTS = new Set(['table', 'chain', 'rule', 'set', 'map', 'element', 'counter', 'counters', 'quota', 'limit'])

/**
 * The tables a ruleset text names, for `runText`: every top-level statement must be a table block
 * or `<verb> <object> [family] <table> ...`. Anything else (`flush ruleset`, `include`, `define`,
 * a statement that names no table) throws, so a text cannot reach beyond the tables it is run for.
 */
export function tablesNamed(text: string): { family: NftFamily; name: string }[] {
  const out: { family: NftFamily; name: string }[] = []
  let depth = 0
  let stmt = ''
  let line = 1
  let stmtLine = 1
  const flush = () => {
    const words = stmt.trim().split(/\s+/)
    stmt = ''
    if (words[0] === '') return
    let i = words[0] === 'table' ? 0 : 1
    if (i === 1 && !(VERBS.has(words[0]!) && OBJECTS.has(words[1] ?? ''))) throw new Error(`nft text line ${stmtLine}: ${show(words.slice(0, 3).join(' '))} is not a command on a table`)
    // `list counters table <family> <name>`
    if (words[i] === 'counters' && words[i + 1] === 'table') i++
    let family: NftFamily = 'ip' // nft's default family when none is written
    if ((FAMILIES as readonly string[]).includes(words[i + 1] ?? '') && !(words[i + 2] ?? '{').startsWith('{')) family = words[++i] as NftFamily
    const name = (words[i + 1] ?? '').split('{')[0]!
    out.push({ family, name: checkName(`table (line ${stmtLine})`, name) })
  }
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (c === '"') {
      const end = text.indexOf('"', i + 1)
      if (end === -1) throw new Error(`nft text line ${line}: unterminated quoted string`)
      const q = text.slice(i, end + 1)
      line += q.split('\n').length - 1
      if (depth === 0) stmt += q
      i = end
      continue
    }
    if (c === '#') {
      // A comment runs to the end of the line.
      const nl = text.indexOf('\n', i)
      i = (nl === -1 ? text.length : nl) - 1
      continue
    }
    if (c === '{') depth++
    if (c === '}' && --depth < 0) throw new Error(`nft text line ${line}: unbalanced '}'`)
    if (depth === 0 && (c === '\n' || c === ';')) {
      flush()
      if (c === '\n') line++
      stmtLine = line
      continue
    }
    if (c === '\n') line++
    if (depth === 0 || (depth === 1 && c === '{')) stmt += c
  }
  if (depth !== 0) throw new Error('nft text: unbalanced braces')
  flush()
  return out
}
