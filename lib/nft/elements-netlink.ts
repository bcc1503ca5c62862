// Element commands (and, through commands.ts, the other commands of a policy diff: chains, rules,
// plain sets, counters) straight to nf_tables over netlink, in ONE batch (one transaction, all or
// nothing), without nft. Why: nft 1.0.6 fetches its cache before any element command (every set
// of every table, and the elements of every interval set: 10-20 ms at 30k policies, issue 14) and
// has no flag to skip it; an element change to a set we declared ourselves needs none of it.
// The sets are named, so nothing has to be looked up first.
//
// What is sent is exactly what nft sends for the same text (elements.ts); a command this path
// cannot encode (interval sets, anything unparsed) throws UnsupportedElements BEFORE anything is
// sent, and the caller uses nft. A refused batch throws an NftError, located at the failing
// command's line of the equivalent script, with nft's wording, so isNotFound/isExists read it.
import { statSync } from 'node:fs'
import { getSystemErrorName } from 'node:util'
import { NFNL_SUBSYS, NfnlSocket, parseNfgen, type NlMessage } from '../net/nfnetlink.js'
import { withNetns } from '../net/netns.js'
import { UnsupportedElements, type NftMessage } from './elements.js'
import { commandText, encodeCommand, encodeTableProbe, type NftCommand } from './commands.js'
import { NftError } from './errors.js'
import { forceSendBuffer } from '../net/sockopt.js'
import { decodeGeneration } from './generation.js'
import { NFT_MSG_TABLE } from './declare-netlink.js'
import { decodeRuleHandle } from './rule-handles.js'

/**
 * A batch is one skb from one sendmsg (nfnetlink_rcv_batch reads BATCH_BEGIN to BATCH_END within
 * one skb; a batch without its END is aborted), and the skb must fit the socket's send buffer
 * (netlink_sendmsg: EMSGSIZE beyond sk_sndbuf - 32; the default, net.core.wmem_default, is
 * 212,992 bytes). A diff stays under this bound, with the socket as it is; a larger batch (a full
 * replace: megabytes) asks for `maxBytes` and grows the socket's send buffer first, as nft does
 * for its large batches (mnl_set_sndbuffer: SO_SNDBUF, or SO_SNDBUFFORCE beyond wmem_max).
 */
const DIFF_BATCH_BYTES = 160 * 1024
const HEADERS = 40 // BATCH_BEGIN and BATCH_END

export interface ElementBatch {
  /** The equivalent nft script, one command a line (what errors are located in); built when read. */
  readonly text: string
  messages: { m: NftMessage; command: number }[]
  /** The batch's size on the wire (its messages; the delimiters add 40). */
  bytes: number
  /**
   * `add table` of the first command's table, sent first with NLM_F_ECHO so that the kernel echoes
   * the commit's generation id (nfnetlink.ts `batch`). Adding a table that exists, without flags,
   * changes nothing (nf_tables_updtable: no transaction), so only the NEWGEN comes back, never an
   * echo of the batch's objects (a flushed chain's rules, a set's thousands of elements).
   */
  probe?: NftMessage
}

/**
 * Encodes the commands; throws UnsupportedElements when any cannot go over netlink, or when the
 * batch is larger than `maxBytes` (default: what a diff may take without growing the socket).
 */
export function elementBatch(cmds: NftCommand[], o: { maxBytes?: number } = {}): ElementBatch {
  const messages: ElementBatch['messages'] = []
  let bytes = 0
  const ctx = { setId: 0 }
  cmds.forEach((c, command) => {
    for (const m of encodeCommand(c, ctx)) {
      bytes += 20 + ((m.attrs.length + 3) & ~3)
      messages.push({ m, command })
    }
  })
  const max = o.maxBytes ?? DIFF_BATCH_BYTES
  if (bytes > max) throw new UnsupportedElements(`${bytes} bytes of commands: more than one netlink batch takes here (${max})`)
  let text: string | undefined
  let probe: NftMessage | undefined
  try {
    if (cmds[0]) probe = encodeTableProbe(cmds[0])
  } catch {
    probe = undefined // a table the encoder does not take: committed all the same, its generation unknown
  }
  return { get text() { return (text ??= cmds.map(commandText).join('\n') + '\n') }, messages, bytes, probe }
}

/**
 * What a committed batch tells: its commit's generation id; that its first command's table was
 * missing (the probe made it); how long the kernel took, from the send to its answer (`kernelMs`:
 * the kernel works in the sender's thread, so this is the commit's own cost, and the agent's log
 * shows it apart from the encoding).
 */
export interface BatchCommitted {
  genId?: number
  tableCreated?: boolean
  kernelMs?: number
  /** the handles the kernel gave the rules of commands that asked for an echo, by command index */
  handles?: Map<number, number>
}

const isNewTable = (m: NlMessage): boolean => { const g = parseNfgen(m); return !!g && g.subsys === NFNL_SUBSYS.NFTABLES && g.msg === NFT_MSG_TABLE.NEW }

/**
 * Commits the batch in the calling thread's network namespace, or in `netns`. Throws NftError
 * when the kernel refused it (then nothing of it was committed). Resolves with the generation id
 * of the commit (generation.ts: the kernel's NEWGEN, echoed to the probe), undefined when none came
 * (a batch the kernel found nothing to commit in, or one without a probe).
 */
export async function runElementBatch(b: ElementBatch, o: { netns?: string; what?: string; timeoutMs?: number } = {}): Promise<BatchCommitted> {
  if (b.messages.length === 0) return {}
  const sock = socketFor(o.netns)
  // Before anything is sent: the socket takes the whole batch in one datagram, or nft sends it.
  const probe = b.probe ? [b.probe] : []
  const need = b.bytes + HEADERS + 32 + (b.probe ? 20 + ((b.probe.attrs.length + 3) & ~3) : 0)
  if (need > DIFF_BATCH_BYTES && sock.sendBuffer(need) < need) {
    forceSendBuffer(sock.port, need)
    const have = sock.sendBuffer()
    if (have < need) throw new UnsupportedElements(`${b.bytes} bytes of commands: the socket's send buffer is ${have} bytes (net.core.wmem_max, and SO_SNDBUFFORCE refused)`)
  }
  let genId: number | undefined
  let tableCreated = false
  let handles: Map<number, number> | undefined
  // A rule command's echo (its NLM_F_ECHO): the handle of the rule it added, by command index.
  const echoed = (m: NlMessage, i: number) => {
    const r = i >= probe.length ? decodeRuleHandle(m) : undefined
    if (r) (handles ??= new Map()).set(b.messages[i - probe.length]!.command, r.handle)
  }
  const sent = performance.now()
  try {
    const { errnos, batchErrno } = await sock.batch(
      [...probe, ...b.messages.map(({ m }) => m)].map((m) => ({ subsys: NFNL_SUBSYS.NFTABLES, msg: m.msg, family: m.family, flags: m.flags, attrs: m.attrs })),
      // Only the last request asks for an ACK (nfnetlink.ts batch ackLastOnly): a failing one is
      // answered anyway, and a policy create's ~16 ACKs cost the kernel and our event loop 0.1-0.4
      // ms (in process, alternated per sample); a full replace's thousands would overrun the buffer.
      // echo (on the probe): the commit's own generation id, one small message more.
      // The probe's own NEWTABLE comes back only when the probe made the table: it was missing.
      { resId: NFNL_SUBSYS.NFTABLES, timeoutMs: o.timeoutMs, ackLastOnly: true, echoFirst: !!b.probe, echo: (m: NlMessage, i: number) => { if (b.probe && i === 0) { genId = decodeGeneration(m) ?? genId; if (isNewTable(m)) tableCreated = true } else echoed(m, i) } },
    )
    // The probe's answer is not a command's.
    const [probeErrno = 0] = errnos.splice(0, probe.length)
    const what = o.what ?? 'nft run (netlink)'
    // A batch refused whole (EPERM, ENOMEM, a failed commit) is answered before any of its
    // requests, which then stay unanswered (-1): that is the batch's error, not the first command's.
    if (batchErrno !== 0) throw new NftError(what, `netlink: Error: Could not process rule: ${strerror(batchErrno)}`, b.text)
    const failed = errnos.findIndex((e) => e > 0)
    if (failed >= 0) throw commandError(what, b, b.messages[failed]!.command, errnos[failed]!)
    // The probe alone refused (nothing of the batch committed, then): the table's error.
    if (probeErrno > 0) throw new NftError(what, `netlink: Error: Could not process rule: ${strerror(probeErrno)}`, b.text)
    const kernelMs = performance.now() - sent
    return { genId, kernelMs, ...(tableCreated ? { tableCreated } : {}), ...(handles ? { handles } : {}) }
  } catch (err) {
    // An answer that never came, or a socket error: start the next batch on a fresh socket.
    if (!(err instanceof NftError)) dropSocket(sock)
    throw err
  }
}

// One socket per namespace, kept open. Closing a NETLINK_NETFILTER socket makes nf_tables flush
// its pending destroy work first (nft_rcv_nl_event -> nf_tables_trans_destroy_flush_work, which
// waits for an RCU grace period): 7-8 ms after any deletion, measured. A socket per batch (as
// libnftables' context per call, or the nft binary's exit) pays that on every element delete;
// a kept socket never waits for it (the kernel frees the elements in the background).
// A socket belongs to the namespace of the thread that opened it (lib/net README), so the key is
// the namespace itself (the nsfs inode behind the path), not its name, which may be reused; a
// kept socket keeps its namespace alive until it is dropped, so the cache is small.
const MAX_SOCKETS = 8
const sockets = new Map<string, NfnlSocket>()

/** The socket kept for `netns` (or this thread's namespace), opened if need be. */
export function socketFor(netns: string | undefined): NfnlSocket {
  let key = ''
  if (netns) {
    const st = statSync(netns)
    key = `${st.dev}:${st.ino}`
  }
  let sock = sockets.get(key)
  if (sock && !sock.closed) return sock
  // The rules a diff inserts by position come back with their handles (NLM_F_ECHO), all queued at
  // the commit: the largest buffer SO_RCVBUF gives (net.core.rmem_max, doubled: 425,984 bytes by
  // default, against 212,992, which 384 echoed rules of a pod chain's shape overflowed;
  // render/rule-edits.ts MAX_INSERTED keeps far below). Should it fill anyway, what does not fit
  // is dropped rather than reported as ENOBUFS (every NfnlSocket sets NETLINK_NO_ENOBUFS: nfnetlink.ts).
  const open = () => new NfnlSocket({ recvBufferSize: 1 << 20 })
  sock = netns ? withNetns(netns, open) : open()
  sockets.set(key, sock)
  for (const [k, old] of sockets) {
    if (sockets.size <= MAX_SOCKETS) break
    sockets.delete(k)
    old.close()
  }
  return sock
}

function dropSocket(sock: NfnlSocket): void {
  for (const [k, s] of sockets) if (s === sock) sockets.delete(k)
  sock.close()
}

/** nft's own report of a refused command: `line N:1-M: Error: Could not process rule: <strerror>`. */
function commandError(what: string, b: ElementBatch, command: number, errno: number): NftError {
  const line = b.text.split('\n')[command] ?? ''
  return new NftError(what, `line ${command + 1}:1-${line.length}: Error: Could not process rule: ${strerror(errno)}\n${line}`, b.text)
}

// glibc's strerror(3) text, as nft prints it (libuv's messages are lower case and would not match
// what errors.ts reads); the errnos nf_tables answers element commands with.
const STRERROR: Record<number, string> = {
  1: 'Operation not permitted', 2: 'No such file or directory', 7: 'Argument list too long', 11: 'Resource temporarily unavailable',
  12: 'Cannot allocate memory', 16: 'Device or resource busy', 17: 'File exists', 22: 'Invalid argument', 23: 'Too many open files in system', 28: 'No space left on device',
  34: 'Numerical result out of range', 40: 'Too many levels of symbolic links', 90: 'Message too long', 95: 'Operation not supported',
  105: 'No buffer space available',
}

function strerror(errno: number): string {
  if (STRERROR[errno]) return STRERROR[errno]
  try { return getSystemErrorName(-errno) } catch { return `errno ${errno}` }
}
