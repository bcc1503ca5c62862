// A typed nft transaction for one table, in the manner of knftables (objects.go, transaction.go):
// typed objects (table, chain, rule, set, map, element) under verbs (add, create, insert,
// replace, delete, flush), rendered to one `nft -f` script that the kernel commits all or nothing.
// The table's family and name come from the NftTable the transaction belongs to, never from the
// objects; every other string is checked (syntax.ts) as it is added, so a bad value throws at the
// call that added it, not later in the kernel.
import { checkMapValue, checkName, checkRuleText, checkType, checkValue, quoteComment, type NftFamily } from './syntax.js'

export type ChainType = 'filter' | 'nat' | 'route'
export type ChainHook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting' | 'ingress' | 'egress'
/** A number, or nft's named priorities (nft(8) "CHAINS": raw, mangle, dstnat, filter, security, srcnat, out). */
export type ChainPriority = number | 'raw' | 'mangle' | 'dstnat' | 'filter' | 'security' | 'srcnat' | 'out'
export type SetFlag = 'constant' | 'interval' | 'timeout' | 'dynamic'

export interface TableObject { kind: 'table'; comment?: string }
export interface ChainObject {
  kind: 'chain'
  name: string
  /** A base chain has type, hook and priority (all three or none). */
  type?: ChainType
  hook?: ChainHook
  priority?: ChainPriority
  policy?: 'accept' | 'drop'
  comment?: string
}
export interface RuleObject {
  kind: 'rule'
  chain: string
  /** nft rule text (`ip saddr @x accept`), checked by checkRuleText. */
  rule: string
  comment?: string
  /** Position: `index N` (add: after the Nth rule; insert: before it) or `handle N`. */
  index?: number
  handle?: number
}
export interface SetObject {
  kind: 'set' | 'map'
  name: string
  /** Data types, concatenated with ` . ` (`['ipv4_addr', 'inet_service']`). */
  type: readonly string[]
  /** Map only: the value's data type (`verdict`, `ipv4_addr`). */
  valueType?: string
  flags?: readonly SetFlag[]
  comment?: string
}
export interface ElementObject {
  kind: 'element'
  /** The set or map. */
  set: string
  /** Key parts, concatenated with ` . `. */
  key: readonly string[]
  /** Map elements only: the value (`['jump pod-ingress-x']`). */
  value?: readonly string[]
  comment?: string
}
export type NftObject = TableObject | ChainObject | RuleObject | SetObject | ElementObject
export type Verb = 'add' | 'create' | 'insert' | 'replace' | 'delete' | 'flush'

interface Op { verb: Verb; obj: NftObject; line: string }

const int = (what: string, n: number) => {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`nft ${what}: ${n} is not a non-negative integer`)
  return n
}

function chainSpec(c: ChainObject): string {
  const parts: string[] = []
  const base = [c.type, c.hook, c.priority].filter((x) => x !== undefined).length
  if (base !== 0 && base !== 3) throw new Error(`nft chain ${c.name}: type, hook and priority go together`)
  if (base === 3) {
    const prio = typeof c.priority === 'number' ? String(Math.trunc(c.priority)) : c.priority!
    parts.push(`type ${c.type} hook ${c.hook} priority ${prio};`)
  }
  if (c.policy) parts.push(`policy ${c.policy};`)
  if (c.comment !== undefined) parts.push(`${quoteComment(`chain ${c.name}`, c.comment)};`)
  return parts.length ? ` { ${parts.join(' ')} }` : ''
}

function setSpec(s: SetObject): string {
  if (s.type.length === 0) throw new Error(`nft ${s.kind} ${s.name}: no type`)
  let type = s.type.map((t) => checkType(`${s.kind} ${s.name} type`, t)).join(' . ')
  if (s.kind === 'map') type += ` : ${checkType(`map ${s.name} value type`, s.valueType ?? '')}`
  else if (s.valueType !== undefined) throw new Error(`nft set ${s.name}: a set has no value type`)
  const parts = [`type ${type};`]
  if (s.flags?.length) parts.push(`flags ${s.flags.map((f) => checkType(`${s.kind} ${s.name} flag`, f)).join(', ')};`)
  if (s.comment !== undefined) parts.push(`${quoteComment(`${s.kind} ${s.name}`, s.comment)};`)
  return ` { ${parts.join(' ')} }`
}

function elementText(e: ElementObject, withComment: boolean): string {
  if (e.key.length === 0) throw new Error(`nft element of ${e.set}: empty key`)
  let t = e.key.map((k) => checkValue(`element of ${e.set}`, k)).join(' . ')
  if (e.value) t += ` : ${e.value.map((v) => checkMapValue(`element value of ${e.set}`, v)).join(' . ')}`
  if (withComment && e.comment !== undefined) t += ` ${quoteComment(`element of ${e.set}`, e.comment)}`
  return t
}

/** One operation as nft text, given the table reference (`inet cinch`). */
function renderOp(verb: Verb, o: NftObject, t: string): string {
  switch (o.kind) {
    case 'table':
      if (verb !== 'add' && verb !== 'create' && verb !== 'delete' && verb !== 'flush') break
      return `${verb} table ${t}${verb !== 'delete' && verb !== 'flush' && o.comment !== undefined ? ` { ${quoteComment('table', o.comment)}; }` : ''}`
    case 'chain': {
      const name = checkName('chain', o.name)
      if (verb === 'add' || verb === 'create') return `${verb} chain ${t} ${name}${chainSpec(o)}`
      if (verb === 'delete' || verb === 'flush') return `${verb} chain ${t} ${name}`
      break
    }
    case 'set':
    case 'map': {
      const name = checkName(o.kind, o.name)
      if (verb === 'add' || verb === 'create') return `${verb} ${o.kind} ${t} ${name}${setSpec(o)}`
      if (verb === 'delete' || verb === 'flush') return `${verb} ${o.kind} ${t} ${name}`
      break
    }
    case 'rule': {
      const chain = checkName('rule chain', o.chain)
      if (verb === 'delete') return `delete rule ${t} ${chain} handle ${int('rule handle', o.handle ?? -1)}`
      if (verb === 'flush' || verb === 'create') break
      if (verb === 'replace' && o.handle === undefined) throw new Error(`nft replace rule in ${chain}: needs a handle`)
      if (o.index !== undefined && o.handle !== undefined) throw new Error(`nft rule in ${chain}: index and handle exclude each other`)
      const pos = o.index !== undefined ? ` index ${int('rule index', o.index)}` : o.handle !== undefined ? ` handle ${int('rule handle', o.handle)}` : ''
      const comment = o.comment !== undefined ? ` ${quoteComment(`rule in ${chain}`, o.comment)}` : ''
      return `${verb} rule ${t} ${chain}${pos} ${checkRuleText(o.rule)}${comment}`
    }
    case 'element': {
      const set = checkName('element set', o.set)
      // nft refuses a comment on `delete element` (the key alone names it).
      if (verb === 'add' || verb === 'create' || verb === 'delete') return `${verb} element ${t} ${set} { ${elementText(o, verb !== 'delete')} }`
      break
    }
  }
  throw new Error(`nft: ${verb} is not a verb for a ${o.kind}`)
}

/**
 * Operations on one table, rendered in order as one script. Consecutive element operations with
 * the same verb on the same set are merged into one statement (`{ a, b }`): the same transaction,
 * a shorter text for nft to parse.
 */
export class Transaction {
  readonly #ops: Op[] = []
  readonly #table: string

  constructor(family: NftFamily, name: string) {
    this.#table = `${family} ${checkName('table', name)}`
  }

  /** `add`: create the object, or do nothing if it exists (an existing chain keeps its rules). */
  add(o: NftObject): this { return this.#push('add', o) }
  /** `create`: like add, but the transaction fails with EEXIST (isExists) if the object exists. */
  create(o: NftObject): this { return this.#push('create', o) }
  /** `insert` a rule at the start of its chain (or before `index`/`handle`). */
  insert(o: RuleObject): this { return this.#push('insert', o) }
  /** `replace` the rule with `handle`. */
  replace(o: RuleObject): this { return this.#push('replace', o) }
  /** `delete`: the transaction fails with ENOENT (isNotFound) if the object does not exist. */
  delete(o: NftObject): this { return this.#push('delete', o) }
  /** `flush`: empty a table, chain (its rules), set or map (its elements). */
  flush(o: TableObject | ChainObject | SetObject): this { return this.#push('flush', o) }

  get size(): number { return this.#ops.length }
  /** `family name` of the table this transaction is for. */
  get table(): string { return this.#table }

  /** The nft script: one command a line. */
  render(): string {
    let out = ''
    for (let i = 0; i < this.#ops.length; i++) {
      const op = this.#ops[i]!
      const o = op.obj
      if (o.kind === 'element') {
        // Gather the run of same-verb elements of this set into one statement.
        const els = [op.line]
        while (i + 1 < this.#ops.length) {
          const n = this.#ops[i + 1]!
          if (n.verb !== op.verb || n.obj.kind !== 'element' || n.obj.set !== o.set) break
          els.push(n.line)
          i++
        }
        out += `${op.verb} element ${this.#table} ${o.set} { ${els.join(', ')} }\n`
      } else out += op.line + '\n'
    }
    return out
  }

  #push(verb: Verb, o: NftObject): this {
    // Rendered (and so checked) now: the caller that passed a bad value gets the error.
    const line = renderOp(verb, o, this.#table)
    this.#ops.push({ verb, obj: o, line: o.kind === 'element' ? elementText(o, verb !== 'delete') : line })
    return this
  }
}
