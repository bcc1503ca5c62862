// Rule handles: the number the kernel gives each rule of a table (unique in the table's life,
// never reused until the table is made anew), which `insert rule ... position H` and `delete rule
// ... handle H` name. A chain of thousands of rules changed by a few inserts and deletes costs the
// kernel and the encoder the few rules, where a flush and rewrite costs all of them (bench/README
// phase 14). The handles come back two ways: a rule added with NLM_F_ECHO is sent back with its
// own (decodeRuleHandle), and a dump of one chain lists every rule's in the chain's order.
import { NFNL_SUBSYS, parseNfgen, type NfnlSocket, type NlMessage } from '../net/nfnetlink.js'
import { attr, parseAttrs, readStr, str } from '../net/tlv.js'
import { NFPROTO } from './elements.js'
import { NFT_MSG, RULE } from './commands.js'
import type { NftFamily } from './syntax.js'

const NFT_MSG_GETRULE = 7

/** The chain and handle of a NEWRULE message (an echo or a dump's line); undefined for any other message. */
export function decodeRuleHandle(m: NlMessage): { chain: string; handle: number } | undefined {
  const g = parseNfgen(m)
  if (!g || g.subsys !== NFNL_SUBSYS.NFTABLES || g.msg !== NFT_MSG.NEWRULE) return undefined
  let a: Map<number, Buffer>
  try {
    a = parseAttrs(g.attrs)
  } catch {
    return undefined
  }
  const h = a.get(RULE.HANDLE), chain = a.get(RULE.CHAIN)
  if (!h || h.length !== 8 || !chain) return undefined
  const handle = Number(h.readBigUInt64BE(0))
  return Number.isSafeInteger(handle) && handle > 0 ? { chain: readStr(chain), handle } : undefined
}

/**
 * The handles of the rules of one chain, in the chain's order (a dump of that chain alone: the
 * kernel filters by table and chain, nf_tables_dump_rules), on `sock` (the namespace's kept socket,
 * elements-netlink.ts socketFor: closing one right after a commit that deleted rules waits for an
 * RCU grace period, ~8 ms). A dump is paced by our reads, so a chain of any length comes whole.
 * `gen16`: the low 16 bits of the generation the dump read (each reply's nfgenmsg res_id is the
 * kernel's base_seq, the id NEWGEN reports): a reader that knows which commit it wants to see can
 * tell another commit came in between.
 */
export async function chainRuleHandles(sock: NfnlSocket, family: NftFamily, table: string, chain: string): Promise<{ handles: number[]; gen16?: number }> {
  if (family !== 'inet' && family !== 'bridge') throw new Error(`rule handles: family ${family} is not read`)
  const handles: number[] = []
  let other: string | undefined
  let gen16: number | undefined, mixed = false
  const complete = await sock.dump(
    { subsys: NFNL_SUBSYS.NFTABLES, msg: NFT_MSG_GETRULE, family: NFPROTO[family], attrs: Buffer.concat([attr(RULE.TABLE, str(table)), attr(RULE.CHAIN, str(chain))]) },
    (m) => {
      const r = decodeRuleHandle(m)
      if (!r) return
      const g = parseNfgen(m)!.resId
      if (gen16 !== undefined && g !== gen16) mixed = true
      gen16 = g
      if (r.chain !== chain) other = r.chain
      else handles.push(r.handle)
    },
  )
  if (!complete) throw new Error(`rule handles of ${family} ${table} ${chain}: the dump ended early`)
  if (other !== undefined) throw new Error(`rule handles of ${family} ${table} ${chain}: the dump named chain ${other}`)
  // A dump longer than one buffer is read in parts; a commit between two parts: not one chain.
  if (mixed) throw new Error(`rule handles of ${family} ${table} ${chain}: a commit came during the dump`)
  return { handles, ...(gen16 !== undefined ? { gen16 } : {}) }
}
