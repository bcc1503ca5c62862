// nft's JSON (libnftables-json(5)) read through type guards: whatever the kernel or another tool
// put in a table arrives typed or not at all. Objects of shapes cinch does not use are skipped.

/** `{ "nftables": [...] }`, checked at the top level only. */
export interface NftDocument { nftables: unknown[] }

/** An element key or value as nft prints it. */
export type NftValue =
  | string
  | number
  | { prefix: { addr: string; len: number } }
  | { range: [NftValue, NftValue] }
  | { concat: NftValue[] }

export interface ListedElement {
  key: NftValue
  /** Map elements: the value (a verdict prints as `{ jump: { target } }`: kept as nft wrote it). */
  value?: unknown
  comment?: string
}
export interface ListedSet {
  kind: 'set' | 'map'
  name: string
  type: string[]
  flags: string[]
  comment?: string
  elements: ListedElement[]
}
export interface ListedChain {
  name: string
  handle: number
  type?: string
  hook?: string
  prio?: number
  policy?: string
  /** nft 1.0.6 leaves chain comments out of its JSON (the text listing has them). */
  comment?: string
}
export interface ListedRule { chain: string; handle: number; comment?: string; expr: unknown[] }
export interface ListedCounter { name: string; packets: number; bytes: number }
export interface TableListing {
  family: string
  name: string
  chains: ListedChain[]
  sets: ListedSet[]
  rules: ListedRule[]
  counters: ListedCounter[]
}

type Obj = Record<string, unknown>
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x)
const str = (x: unknown): string | undefined => (typeof x === 'string' ? x : undefined)
const num = (x: unknown): number | undefined => (typeof x === 'number' && Number.isFinite(x) ? x : undefined)

export function isDocument(x: unknown): x is NftDocument {
  return isObj(x) && Array.isArray(x.nftables)
}

export function isValue(x: unknown): x is NftValue {
  if (typeof x === 'string' || num(x) !== undefined) return true
  if (!isObj(x)) return false
  if (isObj(x.prefix)) return typeof x.prefix.addr === 'string' && num(x.prefix.len) !== undefined
  if (Array.isArray(x.range)) return x.range.length === 2 && x.range.every(isValue)
  if (Array.isArray(x.concat)) return x.concat.every(isValue)
  return false
}

/** One entry of a set's `elem` list: a bare value, `{ elem: { val, comment } }`, or a map's `[key, value]`. */
function element(x: unknown): ListedElement | undefined {
  if (Array.isArray(x)) {
    if (x.length !== 2) return undefined
    const k = element(x[0])
    return k && { ...k, value: x[1] }
  }
  if (isValue(x)) return { key: x }
  if (isObj(x) && isObj(x.elem) && isValue(x.elem.val)) {
    const comment = str(x.elem.comment)
    return comment === undefined ? { key: x.elem.val } : { key: x.elem.val, comment }
  }
  return undefined
}

const strings = (x: unknown): string[] => (typeof x === 'string' ? [x] : Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string') : [])
const opt = <K extends string, V>(k: K, v: V | undefined): { [P in K]?: V } => (v === undefined ? {} : ({ [k]: v } as { [P in K]?: V }))

function set(kind: 'set' | 'map', s: Obj): ListedSet | undefined {
  const name = str(s.name)
  if (!name) return undefined
  const elements = Array.isArray(s.elem) ? s.elem.map(element).filter((e): e is ListedElement => !!e) : []
  return { kind, name, type: strings(s.type), flags: strings(s.flags), ...opt('comment', str(s.comment)), elements }
}

/** The objects of `table` in a listing document. Throws if `doc` is not an nft JSON document. */
export function parseListing(doc: unknown, family: string, table: string): TableListing {
  if (!isDocument(doc)) throw new Error('nft JSON: not a {"nftables": [...]} document')
  const out: TableListing = { family, name: table, chains: [], sets: [], rules: [], counters: [] }
  for (const item of doc.nftables) {
    if (!isObj(item)) continue
    const [key] = Object.keys(item)
    const o = key ? item[key] : undefined
    if (!isObj(o) || o.family !== family || (key !== 'table' && o.table !== table)) continue
    if (key === 'chain') {
      const name = str(o.name)
      const handle = num(o.handle)
      if (name !== undefined && handle !== undefined) {
        out.chains.push({ name, handle, ...opt('type', str(o.type)), ...opt('hook', str(o.hook)), ...opt('prio', num(o.prio)), ...opt('policy', str(o.policy)), ...opt('comment', str(o.comment)) })
      }
    } else if (key === 'set' || key === 'map') {
      const s = set(key, o)
      if (s) out.sets.push(s)
    } else if (key === 'rule') {
      const chain = str(o.chain)
      const handle = num(o.handle)
      if (chain !== undefined && handle !== undefined) out.rules.push({ chain, handle, ...opt('comment', str(o.comment)), expr: Array.isArray(o.expr) ? o.expr : [] })
    } else if (key === 'counter') {
      const name = str(o.name)
      if (name !== undefined) out.counters.push({ name, packets: num(o.packets) ?? 0, bytes: num(o.bytes) ?? 0 })
    }
  }
  return out
}

/** The elements of the set or map `name` in a `list set|map` document; undefined when absent. */
export function parseElements(doc: unknown, family: string, table: string, name: string): ListedElement[] | undefined {
  return parseListing(doc, family, table).sets.find((s) => s.name === name)?.elements
}
