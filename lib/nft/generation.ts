// nf_tables' generation id: one counter per network namespace, bumped by exactly one by every
// commit of anyone (nf_tables_commit: `while (++base_seq == 0);`, under the commit mutex), never
// by a batch that aborts or commits nothing. NFT_MSG_GETGEN reads it; a batch whose first request
// carries NLM_F_ECHO is answered with the NEWGEN of its own commit (nfnetlink.ts `batch`), read
// under that same mutex, so the id is exactly the commit's, whoever commits next.
// The agent uses it to know that the kernel still holds what it committed last (apply/adopt.ts).
import { NFNL_SUBSYS, NfnlSocket, parseNfgen, type NlMessage } from '../net/nfnetlink.js'
import { attr, parseAttrs, str } from '../net/tlv.js'
import { withNetns } from '../net/netns.js'
import type { NftFamily } from './syntax.js'

/** include/uapi/linux/netfilter/nf_tables.h: enum nf_tables_msg_types, enum nft_gen_attributes. */
export const NFT_MSG_NEWGEN = 15
export const NFT_MSG_GETGEN = 16
const NFTA_GEN_ID = 1

/** The generation id in an nf_tables NEWGEN message; undefined for any other message or a malformed one. */
export function decodeGeneration(m: NlMessage): number | undefined {
  const g = parseNfgen(m)
  if (!g || g.subsys !== NFNL_SUBSYS.NFTABLES || g.msg !== NFT_MSG_NEWGEN) return undefined
  let id: Buffer | undefined
  try {
    id = parseAttrs(g.attrs).get(NFTA_GEN_ID)
  } catch {
    return undefined
  }
  return id && id.length === 4 ? id.readUInt32BE(0) : undefined
}

/** The id the next commit after `g` gets: +1, skipping 0 at the wrap (the kernel never uses 0). */
export const nextGeneration = (g: number): number => (g >= 0xffffffff ? 1 : g + 1)

/**
 * The namespace's generation id now (NFT_MSG_GETGEN), in the calling thread's namespace or in
 * `netns`. The process's own namespace is asked on one kept socket: closing a netfilter socket
 * waits for nf_tables' destroy work (an RCU grace period, 7-8 ms after any deletion; see
 * elements-netlink.ts), and the applier reads this around every nft run. A `netns` (tests) gets a
 * socket of its own, closed after.
 */
export async function readGeneration(o: { netns?: string; timeoutMs?: number } = {}): Promise<number> {
  const sock = o.netns ? withNetns(o.netns, () => new NfnlSocket()) : (kept && !kept.closed ? kept : (kept = new NfnlSocket()))
  try {
    let gen: number | undefined
    const [errno] = await sock.request([{ subsys: NFNL_SUBSYS.NFTABLES, msg: NFT_MSG_GETGEN, family: 0 }], {
      timeoutMs: o.timeoutMs ?? 2000,
      onReply: (m) => (gen = decodeGeneration(m) ?? gen),
    })
    if (errno) throw new Error(`nf_tables GETGEN: errno ${errno}`)
    if (gen === undefined) throw new Error('nf_tables GETGEN: no generation in the answer')
    return gen
  } catch (err) {
    // A socket that missed an answer may hold it still: the next read starts on a fresh one.
    if (sock === kept) (kept = undefined, sock.close())
    throw err
  } finally {
    if (sock !== kept) sock.close()
  }
}

let kept: NfnlSocket | undefined

const NFT_MSG_GETTABLE = 1
/** NFPROTO_* (include/uapi/linux/netfilter.h) */
const FAMILY: Record<NftFamily, number> = { inet: 1, ip: 2, arp: 3, netdev: 5, bridge: 7, ip6: 10 }

/**
 * Whether the table exists now (NFT_MSG_GETTABLE), in the process's namespace (the kept socket) or
 * in `netns`. Beside the generation, for what a generation alone does not rule out: nf_tables
 * reloaded within the boot starts every namespace's generation at 1 again, with no tables.
 */
export async function tableExists(t: { family: NftFamily; name: string }, o: { netns?: string; timeoutMs?: number } = {}): Promise<boolean> {
  const sock = o.netns ? withNetns(o.netns, () => new NfnlSocket()) : (kept && !kept.closed ? kept : (kept = new NfnlSocket()))
  try {
    const [errno] = await sock.request([{ subsys: NFNL_SUBSYS.NFTABLES, msg: NFT_MSG_GETTABLE, family: FAMILY[t.family], attrs: attr(1, str(t.name)) }], { timeoutMs: o.timeoutMs ?? 2000 })
    if (errno === 2) return false // ENOENT
    if (errno) throw new Error(`nf_tables GETTABLE ${t.family} ${t.name}: errno ${errno}`)
    return true
  } finally {
    if (sock !== kept) sock.close()
  }
}

// ---- this process's own commits -----------------------------------------------------------------
// The applier vouches for its tables only while no commit it did not make came between two of its
// own (apply/applier.ts). The agent commits other tables too (the overlay's masquerade table,
// `inet cinch-nat`, after every start and Node change): noted here with their generation, they are
// commits the applier can step over, since they touched no table of its own.

const MAX_NOTED = 256
let noted: Map<number, readonly string[]> | undefined

/** From now on, this process's commits through NftTable (in its own namespace) are noted (the agent, at start). */
export function noteOwnCommits(): void {
  noted ??= new Map()
}

/** Notes that this process's commit of generation `gen` touched `tables` (`inet cinch-nat`, ...). */
export function noteCommit(gen: number, tables: readonly string[]): void {
  if (!noted) return
  noted.set(gen, tables)
  if (noted.size > MAX_NOTED) noted.delete(noted.keys().next().value!)
}

/** The tables this process's commit of generation `gen` touched, if it was noted. */
export function ownCommit(gen: number): readonly string[] | undefined {
  return noted?.get(gen)
}

/** Whether this process notes its commits (noteOwnCommits was called). */
export const notingCommits = (): boolean => noted !== undefined

/**
 * What a noted text transaction ends with so that it always commits: a table added and deleted
 * again (nothing of it remains, no table of anyone's is touched). Without it, a transaction that
 * changed nothing commits nothing, and the one commit between commitNoted's two reads would be
 * someone else's, noted as ours (the overlay's masquerade sets replaced by the same while another
 * program commits, which could be a change to a cinch table: the applier would step over it).
 */
export const COMMIT_MARK = 'add table inet cinch-commit-mark\ndelete table inet cinch-commit-mark\n'

/**
 * Runs one text transaction (`run` of `text`, libnftables or nft, which do not hand out the id
 * they got) between two reads of the generation and, when they are exactly one apart, notes it:
 * the commit was then the only one between them. The text ends with COMMIT_MARK, so that the
 * transaction commits even when it changes nothing. Otherwise (someone else committed meanwhile)
 * nothing is noted, and whoever relies on the ledger sees a gap it cannot explain.
 */
export async function commitNoted<T>(tables: readonly string[], text: string, run: (text: string) => Promise<T>): Promise<T> {
  if (!noted) return run(text)
  const before = await readGeneration().catch(() => undefined)
  // At the end, so that nft's error locations are the caller's script's lines.
  const out = await run(`${text}${text.endsWith('\n') ? '' : '\n'}${COMMIT_MARK}`)
  const after = before === undefined ? undefined : await readGeneration().catch(() => undefined)
  if (before !== undefined && after === nextGeneration(before)) noteCommit(after, tables)
  return out
}
