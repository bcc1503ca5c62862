// The commands of a policy diff, or of a full replace of cinch's tables, as data: each value gives
// both its nft text line (commandText) and the nf_tables netlink messages of the same change
// (encodeCommand), so the two ways of sending them cannot drift apart (as elements.ts does for
// element commands). Pure.
//
// Encoded as nft 1.0.6 encodes them (strace of its sendmsg; commands.test.ts holds the bytes):
//   add chain t c { comment "x"; }   NEWCHAIN  CREATE          table, name, userdata (comment)
//   flush chain t c                  DELRULE                   table, chain (no handle: every rule)
//   delete chain t c                 DELCHAIN                  table, name
//   add rule t c <rule>              NEWRULE   CREATE|APPEND   table, chain, expressions, userdata
//   insert rule t c position H <rule>  NEWRULE CREATE         table, chain, expressions, position H
//                                    (before the rule of handle H), userdata
//   delete rule t c handle H         DELRULE                   table, chain, handle H
//   add set t s { type ...; size N; comment "x"; }  NEWSET CREATE  table, name, flags 0, key type
//                                    and length, a transaction id, the size (NFTA_SET_DESC), userdata
//                                    (key byte order, comment)
//   delete set t s                   DELSET                    table, name
//   add counter t c                  NEWOBJ    CREATE          table, name, type 1, zeroed counter
//   delete counter t c               DELOBJ                    table, name, type 1, empty data
// A rule with an anonymous set (`meta l4proto { tcp, udp }`) is NEWSET + NEWSETELEM + NEWRULE.
// An interval set's elements only in the batch that adds the set (interval-netlink.ts).
// A full replace's declarations (tables, base chains, verdict maps, limits, the bridge table's
// sets): declare-netlink.ts; its base chains' and bridge table's rules: base-rules-netlink.ts.
// Anything else (other interval sets, rules outside those grammars, other families) throws
// UnsupportedElements before anything is sent: the caller sends the text through nft.
import { attr, be32, nested, str, u32 } from '../net/tlv.js'
import { NFPROTO, NFT_MSG_NEWSETELEM, UnsupportedElements, elementCommandText, encodeElementCommand, type ElementCommand, type KeyPart, type NftMessage } from './elements.js'
import { encodeRule, type EncodedRule } from './rule-netlink.js'
import { encodeBaseRule } from './base-rules-netlink.js'
import { encodeNewIntervalElements } from './interval-netlink.js'
import { KEY_TYPE, NFT_SET_MAP, TYPEOF_KEYS, baseChainAttrs, encodeTable, keyByteOrder, limitAttrs, verdictMapData, verdictMapUserdata } from './declare-netlink.js'
import { checkName, type NftFamily } from './syntax.js'

interface On { family: NftFamily; table: string }
/** `add table` / `delete table` (a full replace: add, delete, add in one batch). */
export interface TableCommand extends On { kind: 'table'; verb: 'add' | 'delete' }
export interface ChainCommand extends On {
  kind: 'chain'
  verb: 'add' | 'flush' | 'delete'
  name: string
  comment?: string
  /** add: a base chain `type filter hook <hook> priority <priority>; policy accept;` (priority `filter`, `filter + 10`). */
  base?: { hook: string; priority: string }
}
/**
 * A rule: `add` appends it to the chain; `insert` puts it before the rule whose handle is
 * `position`; `delete` removes the rule whose handle is `handle` (its text unread). `echo`: the
 * kernel sends the new rule back with the handle it gave it (runElementBatch's `handles`).
 */
export type RuleCommand = On & { kind: 'rule'; chain: string; echo?: boolean } & (
  | { verb: 'add'; rule: string }
  | { verb: 'insert'; rule: string; position: number }
  | { verb: 'delete'; handle: number })
export interface SetCommand extends On {
  kind: 'set'
  verb: 'add' | 'delete'
  name: string
  /** add: the key's type (several parts: a concatenation), `flags interval`, the comment. */
  key?: KeyPart[]
  interval?: boolean
  comment?: string
  /** add: a verdict map (`type <key> : verdict`). */
  verdictMap?: boolean
  /** add: a key declared `typeof <expressions>` (declare-netlink.ts TYPEOF_KEYS) instead of `key`. */
  typeof?: string
  /**
   * add: `size N`, the most elements the set may ever hold (NFTA_SET_DESC_SIZE). The kernel then
   * gives a set without `flags interval` a hash of fixed buckets sized for N, and refuses an
   * element past N (ENFILE); without it, a hash that starts small and resizes as elements come.
   */
  size?: number
}
export interface CounterCommand extends On { kind: 'counter'; verb: 'add' | 'delete'; name: string }
/** `add limit t l { rate <rate>/second burst <burst> packets; }` */
export interface LimitCommand extends On { kind: 'limit'; verb: 'add'; name: string; rate: number; burst: number }
/** One line of a diff or of a full replace. An ElementCommand has no `kind` (elements.ts). */
export type NftCommand = ElementCommand | TableCommand | ChainCommand | RuleCommand | SetCommand | CounterCommand | LimitCommand

export const isElementCommand = (c: NftCommand): c is ElementCommand => !('kind' in c)

/** `type ...; [flags interval; ]comment "...";` of an `add set` (what policy-agent's setSpec writes). */
export function setCommandSpec(c: SetCommand): string {
  const type = c.typeof !== undefined ? `typeof ${c.typeof};` : `type ${(c.key ?? []).join(' . ')}${c.verdictMap ? ' : verdict' : ''};`
  return [type, ...(c.interval ? ['flags interval;'] : []), ...(c.size !== undefined ? [`size ${c.size};`] : []), ...(c.comment !== undefined ? [`comment "${c.comment}";`] : [])].join(' ')
}

/** The command as one line of an nft script. */
export function commandText(c: NftCommand): string {
  if (isElementCommand(c)) return elementCommandText(c)
  const on = `${c.family} ${c.table}`
  switch (c.kind) {
    case 'table':
      return `${c.verb} table ${on}`
    case 'chain':
      if (c.verb === 'add' && c.base) return `add chain ${on} ${c.name} { type filter hook ${c.base.hook} priority ${c.base.priority}; policy accept; }`
      return c.verb === 'add' && c.comment !== undefined ? `add chain ${on} ${c.name} { comment "${c.comment}"; }` : `${c.verb} chain ${on} ${c.name}`
    case 'rule':
      if (c.verb === 'delete') return `delete rule ${on} ${c.chain} handle ${c.handle}`
      return c.verb === 'insert' ? `insert rule ${on} ${c.chain} position ${c.position} ${c.rule}` : `add rule ${on} ${c.chain} ${c.rule}`
    case 'set':
      return c.verb === 'add' ? `add ${c.verdictMap ? 'map' : 'set'} ${on} ${c.name} { ${setCommandSpec(c)} }` : `delete set ${on} ${c.name}`
    case 'counter':
      return `${c.verb} counter ${on} ${c.name}`
    case 'limit':
      return `add limit ${on} ${c.name} { rate ${c.rate}/second burst ${c.burst} packets; }`
  }
}

// include/uapi/linux/netfilter/nf_tables.h
export const NFT_MSG = { NEWCHAIN: 3, DELCHAIN: 5, NEWRULE: 6, DELRULE: 8, NEWSET: 9, DELSET: 11, NEWOBJ: 18, DELOBJ: 20 } as const
const NLM_F_CREATE = 0x400
const NLM_F_APPEND = 0x800
const CHAIN = { TABLE: 1, NAME: 3, USERDATA: 12 } as const
export const RULE = { TABLE: 1, CHAIN: 2, HANDLE: 3, EXPRESSIONS: 4, POSITION: 6, USERDATA: 7 } as const
const NLM_F_ECHO = 0x8
const SET = { TABLE: 1, NAME: 2, FLAGS: 3, KEY_TYPE: 4, KEY_LEN: 5, DESC: 9, ID: 10, USERDATA: 13 } as const
const SET_DESC_SIZE = 1
const OBJ = { TABLE: 1, NAME: 2, TYPE: 3, DATA: 4 } as const
const COUNTER = { BYTES: 1, PACKETS: 2 } as const
const NFT_OBJECT_COUNTER = 1
const NFT_SET_INTERVAL = 0x4
// libnftnl's udata (include/libnftnl/udata.h): chain and rule comments are type 0; a set's key
// byte order type 0, its key's typeof type 3, its comment type 7.
const UDATA_COMMENT = 0
const UDATA_SET = { KEYBYTEORDER: 0, KEY_TYPEOF: 3, COMMENT: 7 } as const
const TYPE_BITS = 6
const COMMENT = /^[\x20\x21\x23-\x5b\x5d-\x7e]{0,128}$/

/** A rule handle as NFTA_RULE_HANDLE / NFTA_RULE_POSITION carry it: 64 bits, big-endian. */
function handle(h: number): Buffer {
  if (!Number.isSafeInteger(h) || h <= 0) throw new UnsupportedElements(`rule handle ${h} is not one the kernel gives`)
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(BigInt(h))
  return b
}

const udata = (type: number, value: Buffer) => Buffer.concat([Buffer.from([type, value.length]), value])

function comment(what: string, s: string): Buffer {
  if (!COMMENT.test(s)) throw new UnsupportedElements(`${what}: comment ${JSON.stringify(s.slice(0, 80))} is not one nft reads as it is`)
  return Buffer.from(s + '\0', 'latin1')
}

function plainName(what: string, s: string): string {
  try {
    return checkName(what, s)
  } catch (err) {
    throw new UnsupportedElements(`${what}: ${(err as Error).message}`)
  }
}

/**
 * Per batch: the transaction ids nft gives the sets a batch adds (1, 2, ...), and the interval
 * sets this batch adds (name -> id): only their elements are encoded (interval-netlink.ts).
 */
export interface EncodeContext { setId: number; intervalSets?: Map<string, number> }

/**
 * A rule's expressions by its text, for rules without anonymous sets (whose bytes name the
 * batch's set ids): a chain is rewritten whole when one policy of its pod changes, so most of a
 * diff's rules were encoded by an earlier diff (a policy create at 30k policies: 4 of its 8).
 * Bounded: forgotten all at once past RULE_CACHE_MAX rules (a full replace encodes every chain).
 */
const ruleCache = { inet: new Map<string, EncodedRule>(), bridge: new Map<string, EncodedRule>() }
const RULE_CACHE_MAX = 4096

function encodeRuleOnce(family: 'inet' | 'bridge', rule: string, ctx: EncodeContext): EncodedRule {
  const cache = ruleCache[family]
  const hit = cache.get(rule)
  if (hit) return hit
  const before = ctx.setId
  // A base chain's fixed shapes first (both families), then the pod chains' grammar (inet).
  const base = encodeBaseRule(family, rule, ctx)
  if (!base && family !== 'inet') throw new UnsupportedElements(`rule ${JSON.stringify(rule.slice(0, 80))}: not a shape of the bridge table`)
  const enc = base ?? encodeRule(rule, ctx)
  if (enc.sets.length === 0 && ctx.setId === before) {
    if (cache.size >= RULE_CACHE_MAX) cache.clear()
    cache.set(rule, enc)
  }
  return enc
}

/**
 * A batch's first request, `add table` of `c`'s table by its name alone: a table that exists is left
 * as it is (no transaction); a missing one is made (elements-netlink.ts reads its echo).
 */
export function encodeTableProbe(c: { family: string; table: string }): NftMessage {
  if (c.family !== 'inet' && c.family !== 'bridge') throw new UnsupportedElements(`table ${c.family} ${c.table}: only inet and bridge tables are encoded`)
  return { family: NFPROTO[c.family], ...encodeTable('probe', plainName('table', c.table)) }
}

/** The netlink messages of `c`; throws UnsupportedElements for what the netlink path does not take. */
export function encodeCommand(c: NftCommand, ctx: EncodeContext = { setId: 0 }): NftMessage[] {
  if (isElementCommand(c)) {
    const id = c.interval && c.family === 'inet' ? ctx.intervalSets?.get(`${c.table} ${c.set}`) : undefined
    return id !== undefined ? encodeNewIntervalElements(c, id) : encodeElementCommand(c)
  }
  // The renderer's tables: `inet cinch` and `bridge cinch`.
  if (c.family !== 'inet' && c.family !== 'bridge') throw new UnsupportedElements(`${c.kind} ${c.family} ${c.table}: only inet and bridge tables are encoded`)
  const family = NFPROTO[c.family]
  const table = attr(1, str(plainName('table', c.table)))
  switch (c.kind) {
    case 'table':
      return [{ family, ...encodeTable(c.verb, plainName('table', c.table)) }]
    case 'limit':
      return [{ msg: NFT_MSG.NEWOBJ, flags: NLM_F_CREATE, family, attrs: Buffer.concat([table, limitAttrs(plainName('limit', c.name), c.rate, c.burst)]) }]
    case 'chain': {
      const name = plainName('chain', c.name)
      if (c.verb === 'flush') return [{ msg: NFT_MSG.DELRULE, flags: 0, family, attrs: Buffer.concat([table, attr(RULE.CHAIN, str(name))]) }]
      if (c.verb === 'delete') return [{ msg: NFT_MSG.DELCHAIN, flags: 0, family, attrs: Buffer.concat([table, attr(CHAIN.NAME, str(name))]) }]
      const parts = [table, attr(CHAIN.NAME, str(name))]
      if (c.base) parts.push(baseChainAttrs(c.family, c.base.hook, c.base.priority))
      if (c.comment !== undefined) parts.push(attr(CHAIN.USERDATA, udata(UDATA_COMMENT, comment(`chain ${name}`, c.comment))))
      return [{ msg: NFT_MSG.NEWCHAIN, flags: NLM_F_CREATE, family, attrs: Buffer.concat(parts) }]
    }
    case 'rule': {
      const chain = attr(RULE.CHAIN, str(plainName('chain', c.chain)))
      const echo = c.echo ? NLM_F_ECHO : 0
      if (c.verb === 'delete') return [{ msg: NFT_MSG.DELRULE, flags: echo, family, attrs: Buffer.concat([table, chain, attr(RULE.HANDLE, handle(c.handle))]) }]
      const { expressions, userdata, sets } = encodeRuleOnce(c.family, c.rule, ctx)
      // The kernel reads the attributes by type; nft puts the position before the expressions too.
      const parts = [table, chain, ...(c.verb === 'insert' ? [attr(RULE.POSITION, handle(c.position))] : []), nested(RULE.EXPRESSIONS, expressions)]
      if (userdata) parts.push(attr(RULE.USERDATA, userdata))
      // Its anonymous sets first, each with its elements (as nft sends them).
      return [
        ...sets.flatMap((a) => [
          { msg: NFT_MSG.NEWSET, flags: NLM_F_CREATE, family, attrs: Buffer.concat([table, a.set]) },
          { msg: NFT_MSG_NEWSETELEM, flags: NLM_F_CREATE, family, attrs: Buffer.concat([table, a.elements]) },
        ]),
        // insert: no APPEND, so the kernel puts it before the rule at `position` (nf_tables_newrule).
        { msg: NFT_MSG.NEWRULE, flags: NLM_F_CREATE | (c.verb === 'insert' ? 0 : NLM_F_APPEND) | echo, family, attrs: Buffer.concat(parts) },
      ]
    }
    case 'set': {
      const name = plainName('set', c.name)
      if (c.verb === 'delete') return [{ msg: NFT_MSG.DELSET, flags: 0, family, attrs: Buffer.concat([table, attr(SET.NAME, str(name))]) }]
      const typeofKey = c.typeof !== undefined ? TYPEOF_KEYS[c.typeof] : undefined
      if (c.typeof !== undefined && !typeofKey) throw new UnsupportedElements(`set ${name}: typeof ${c.typeof} is not encoded`)
      const key = typeofKey?.key ?? c.key ?? []
      // An interval set of addresses or ports (ipBlocks, port ranges): its elements, added in the
      // same batch, are encoded by interval-netlink.ts; no other interval key.
      if (c.interval && (c.verdictMap || !(key.length === 1 && (key[0] === 'ipv4_addr' || key[0] === 'ipv6_addr' || key[0] === 'inet_service')))) {
        throw new UnsupportedElements(`set ${name}: interval key ${key.join(' . ')} is not encoded`)
      }
      const concat = key.length > 1
      const addr = (k?: KeyPart) => k === 'ipv4_addr' || k === 'ipv6_addr'
      // What cinch declares: one address (a set, or a verdict map's key), ports (interval), an
      // ifname; address . inet_proto . inet_service (a tuple set); ifname . address.
      const plain = key.length === 1 && (addr(key[0]) || (!!c.interval && key[0] === 'inet_service') || (key[0] === 'ifname' && !c.verdictMap))
      const tuple = key.length === 3 && addr(key[0]) && key[1] === 'inet_proto' && key[2] === 'inet_service'
      const ifAddr = key.length === 2 && key[0] === 'ifname' && addr(key[1])
      if (!typeofKey && !plain && !tuple && !ifAddr) throw new UnsupportedElements(`set ${name}: key ${key.join(' . ') || '(none)'} is not encoded`)
      if (c.verdictMap && (!plain || c.comment !== undefined)) throw new UnsupportedElements(`map ${name}: only address : verdict maps without a comment are encoded`)
      let type = typeofKey?.type ?? 0, len = typeofKey?.len ?? 0
      if (!typeofKey) {
        for (const k of key) {
          const [id, bytes] = KEY_TYPE[k]!
          type = (type << TYPE_BITS) | id
          len += concat ? (bytes + 3) & ~3 : bytes
        }
      }
      let ud: Buffer[]
      if (typeofKey) ud = [typeofKey.udata]
      else if (c.verdictMap) ud = [verdictMapUserdata()]
      else {
        ud = [udata(UDATA_SET.KEYBYTEORDER, u32(concat ? 0 : keyByteOrder(key[0]!)))]
        // nft 1.0.6 writes this for a `type a . b . c` key: an empty typeof of a concatenation.
        if (concat) ud.push(udata(UDATA_SET.KEY_TYPEOF, Buffer.from([0x00, 0x04, 0x0d, 0x00, 0x00, 0x00, 0x01, 0x00])))
      }
      if (c.comment !== undefined) ud.push(udata(UDATA_SET.COMMENT, comment(`set ${name}`, c.comment)))
      const id = ++ctx.setId
      if (c.interval) (ctx.intervalSets ??= new Map()).set(`${c.table} ${name}`, id)
      const flags = (c.interval ? NFT_SET_INTERVAL : 0) | (c.verdictMap ? NFT_SET_MAP : 0)
      const attrs = Buffer.concat([
        table, attr(SET.NAME, str(name)), attr(SET.FLAGS, be32(flags)), attr(SET.KEY_TYPE, be32(type)), attr(SET.KEY_LEN, be32(len)),
        ...(c.verdictMap ? [verdictMapData()] : []), attr(SET.ID, be32(id)),
        // libnftnl's order: the description after the id.
        ...(c.size !== undefined ? [nested(SET.DESC, attr(SET_DESC_SIZE, be32(c.size)))] : []), attr(SET.USERDATA, Buffer.concat(ud)),
      ])
      return [{ msg: NFT_MSG.NEWSET, flags: NLM_F_CREATE, family, attrs }]
    }
    case 'counter': {
      const name = plainName('counter', c.name)
      const head = [table, attr(OBJ.NAME, str(name)), attr(OBJ.TYPE, be32(NFT_OBJECT_COUNTER))]
      if (c.verb === 'delete') return [{ msg: NFT_MSG.DELOBJ, flags: 0, family, attrs: Buffer.concat([...head, nested(OBJ.DATA)]) }]
      const zero = Buffer.alloc(8)
      return [{ msg: NFT_MSG.NEWOBJ, flags: NLM_F_CREATE, family, attrs: Buffer.concat([...head, nested(OBJ.DATA, attr(COUNTER.BYTES, zero), attr(COUNTER.PACKETS, zero))]) }]
    }
  }
}
