// The netfilter netlink socket (NETLINK_NETFILTER): nfnetlink's framing and a socket that sends
// batches of requests, streams dumps, and hands unsolicited messages (events, nfnetlink_log
// packets) to a listener. The subsystems' own messages (conntrack: conntrack.ts) build on it.
//
// Framing (include/uapi/linux/netlink.h, include/uapi/linux/netfilter/nfnetlink.h):
//   struct nlmsghdr { u32 len; u16 type; u16 flags; u32 seq; u32 pid }   host byte order
//   struct nfgenmsg { u8 nfgen_family; u8 version (NFNETLINK_V0); be16 res_id }
//   type = subsystem << 8 | message; then attributes (tlv.ts), whose numbers nfnetlink sends
//   big-endian (ports, ids, status), unlike rtnetlink.
// The socket is the `netlink` package's RawNetlinkSocket (a plain AF_NETLINK socket of any
// protocol; its higher layer buffers a whole dump, which a 100k-entry table must not cost).
import { RawNetlinkSocket } from 'netlink/dist/raw.js'
import { readQueued, sendDatagram } from './netlink-sync.js'
import { setNetlinkFlags } from './sockopt.js'

export const NETLINK_NETFILTER = 12
export const NFNETLINK_V0 = 0
export const NFNL_SUBSYS = { CTNETLINK: 1, ULOG: 4, NFTABLES: 10 } as const
/** Batch delimiters (nfnetlink.h): the messages between them are committed as one transaction. */
export const NFNL_MSG_BATCH_BEGIN = 0x10
export const NFNL_MSG_BATCH_END = 0x11
export const NLM_F = { REQUEST: 0x1, MULTI: 0x2, ACK: 0x4, ECHO: 0x8, DUMP: 0x300 } as const
export const NLMSG_ERROR = 2
export const NLMSG_DONE = 3
const HDR = 16
const NFGEN = 4

export interface NfnlRequest {
  subsys: number
  msg: number
  family: number
  /** Extra nlmsghdr flags; REQUEST is always set (and ACK by request(), DUMP by dump()). */
  flags?: number
  resId?: number
  attrs?: Buffer
}

/** One received netlink message; `attrs` of nfnetlink messages follow their nfgenmsg. */
export interface NlMessage {
  type: number
  flags: number
  seq: number
  pid: number
  payload: Buffer
}

/** nlmsghdr + nfgenmsg + attributes, ready to send. */
export function encodeNfnl(r: NfnlRequest, seq: number, flags: number): Buffer {
  return encodeNfnlDatagram([r], [seq], [flags])
}

/**
 * Requests `reqs` (sequence numbers `seqs`, extra flags `flags`) as one datagram, each message
 * written once into one buffer at its NLMSG_ALIGN'ed offset. A full replace is ~2,700 messages and
 * 3.2 MB at 30k/30k: a zero-filled buffer per message and then their concatenation touched twice
 * that fresh, and framed it in 24-32 ms against 12-14 ms now, in process (bench/README.md phase 21).
 */
export function encodeNfnlDatagram(reqs: readonly NfnlRequest[], seqs: readonly number[], flags: readonly number[]): Buffer {
  let total = 0
  for (const r of reqs) total += align4(HDR + NFGEN + (r.attrs?.length ?? 0))
  const b = Buffer.allocUnsafe(total) // every byte is written below, the padding included
  let off = 0
  reqs.forEach((r, i) => {
    const len = HDR + NFGEN + (r.attrs?.length ?? 0)
    b.writeUInt32LE(len, off)
    b.writeUInt16LE(((r.subsys & 0xff) << 8) | (r.msg & 0xff), off + 4)
    b.writeUInt16LE(flags[i]! | (r.flags ?? 0) | NLM_F.REQUEST, off + 6)
    b.writeUInt32LE(seqs[i]! >>> 0, off + 8)
    b.writeUInt32LE(0, off + 12) // the kernel fills in our port
    b.writeUInt8(r.family, off + 16)
    b.writeUInt8(NFNETLINK_V0, off + 17)
    b.writeUInt16BE(r.resId ?? 0, off + 18)
    if (r.attrs) r.attrs.copy(b, off + HDR + NFGEN)
    b.fill(0, off + len, off + align4(len))
    off += align4(len)
  })
  return b
}

const align4 = (n: number) => (n + 3) & ~3

/** The messages of one datagram; stops at the first malformed length rather than read past it. */
export function parseMessages(buf: Buffer): NlMessage[] {
  const out: NlMessage[] = []
  let off = 0
  while (off + HDR <= buf.length) {
    const len = buf.readUInt32LE(off)
    if (len < HDR || off + len > buf.length) break
    out.push({ type: buf.readUInt16LE(off + 4), flags: buf.readUInt16LE(off + 6), seq: buf.readUInt32LE(off + 8), pid: buf.readUInt32LE(off + 12), payload: buf.subarray(off + HDR, off + len) })
    off += (len + 3) & ~3
  }
  return out
}

/** An nfnetlink message's nfgenmsg and attributes; undefined when too short to be one. */
export function parseNfgen(m: NlMessage): { subsys: number; msg: number; family: number; resId: number; attrs: Buffer } | undefined {
  if (m.payload.length < NFGEN) return undefined
  return { subsys: m.type >> 8, msg: m.type & 0xff, family: m.payload.readUInt8(0), resId: m.payload.readUInt16BE(2), attrs: m.payload.subarray(NFGEN) }
}

/** NLMSG_ERROR's error field as a positive errno (0: an ACK). */
export const ackErrno = (m: NlMessage): number => (m.payload.length >= 4 ? -m.payload.readInt32LE(0) : 0)

export class NetlinkError extends Error {
  constructor(readonly errno: number, step: string) {
    super(`${step}: errno ${errno}`)
  }
}

interface Pending {
  onMessage: (m: NlMessage) => void
  fail: (err: Error) => void
}

export interface NfnlSocketOptions {
  /** Messages that answer none of our requests: events, nfnetlink_log packets (multicast or unicast to our port). */
  onUnsolicited?: (m: NlMessage) => void
  /** SO_RCVBUF in bytes; the kernel caps it at net.core.rmem_max (and doubles it). */
  recvBufferSize?: number
  /**
   * Default true: a full receive buffer drops what does not fit (NETLINK_NO_ENOBUFS) instead of
   * failing the next read with ENOBUFS, which the `netlink` binding cannot report without aborting
   * the process (sockopt.ts NetlinkFlags). A dropped answer then fails its request by its timeout.
   * False only to show what it prevents (test/integration/nfnl-socket-options.test.ts).
   */
  noEnobufs?: boolean
  /**
   * Default true: an error answer carries the failed request's header, not the whole request
   * (NETLINK_CAP_ACK), so a refused batch of large requests fills the receive buffer far later.
   * Nothing here reads more of an error answer than its errno. False only as noEnobufs.
   */
  capAck?: boolean
  /**
   * An exception out of a message handler (ours or onUnsolicited), or a datagram that does not
   * parse: reported here and the datagram dropped, never thrown (see #receive). Default: ignored.
   */
  onReceiveError?: (err: Error) => void
}

/**
 * A NETLINK_NETFILTER socket in the CALLING THREAD's network namespace (see README: open it
 * inside withNetns, use it anywhere). Requests are matched to replies by sequence number.
 */
export class NfnlSocket {
  readonly #raw: RawNetlinkSocket
  readonly #pending = new Map<number, Pending>()
  #seq = (Math.random() * 0x7fffffff) >>> 0
  #closed = false
  /**
   * This socket's descriptor, when known for certain: requests and batches are sent on it, and
   * their answers read, in the caller's turn (netlink-sync.ts), not a turn or two of the event loop
   * later. Not on a socket that takes unsolicited messages (events, logged packets): their handler
   * would run inside whatever call sent the request. Set once, at the start: a socket sends
   * through one path only.
   */
  #fd: number | undefined
  #readNow: boolean

  constructor(private readonly o: NfnlSocketOptions = {}) {
    // 0 leaves the kernel's default (the package sets only non-zero sizes).
    this.#raw = new RawNetlinkSocket(NETLINK_NETFILTER, { recvBufferSize: o.recvBufferSize ?? 0, sendBufferSize: 0 })
    this.#raw.on('message', (buf) => this.#receive(buf))
    // A datagram larger than what the binding read: a dump we cannot trust any more.
    this.#raw.on('truncatedMessage', () => this.#guard(() => this.#failAll(new Error('netfilter netlink: truncated message'))))
    this.#raw.on('error', (err) => this.#guard(() => this.#failAll(err)))
    this.#raw.unref() // only requests in flight keep the process alive (ref'ed in #track)
    // Both in one walk of /proc/self/fd (sockopt.ts), the cost of finding the descriptor, which
    // the walk also finds: ours when it is the only one bound to our port.
    const flags = { noEnobufs: o.noEnobufs ?? true, capAck: o.capAck ?? true }
    const fds = setNetlinkFlags(this.port, flags)
    this.#fd = fds.length === 1 ? fds[0] : undefined
    this.#readNow = this.#fd !== undefined && !o.onUnsolicited
  }

  /** Joins a multicast group (e.g. NFNLGRP_CONNTRACK_DESTROY); its messages go to onUnsolicited. */
  subscribe(group: number): void {
    this.#raw.addMembership(group)
    // Its events would be read by (and handled inside) the next request's call: read them through
    // the binding's poll. Its sends keep to the path they took (see #fd).
    this.#readNow = false
  }

  /**
   * Sends the requests in ONE sendmsg, each with NLM_F_ACK, and resolves with each one's errno
   * (0: done). The caller bounds the batch: every answer is queued in our receive buffer at once,
   * and what does not fit is dropped (NETLINK_NO_ENOBUFS), so its request fails by `timeoutMs`.
   * An error answer carries only the request's header (NETLINK_CAP_ACK): ~840 bytes of buffer
   * each (the skb's overhead), whatever the request's size.
   */
  request(reqs: NfnlRequest[], o: { timeoutMs?: number; onReply?: (m: NlMessage, i: number) => void } = {}): Promise<number[]> {
    if (reqs.length === 0) return Promise.resolve([])
    return new Promise((resolve, reject) => {
      const results = new Array<number>(reqs.length).fill(-1)
      let left = reqs.length
      const seqs = reqs.map(() => this.#nextSeq())
      const timer = setTimeout(() => done(new Error(`netfilter netlink: no answer within ${o.timeoutMs ?? 10_000} ms`)), o.timeoutMs ?? 10_000)
      const done = (err?: Error) => {
        clearTimeout(timer)
        for (const s of seqs) this.#pending.delete(s)
        this.#unrefIfIdle()
        if (err) reject(err)
        else resolve(results)
      }
      seqs.forEach((seq, i) => this.#track(seq, {
        onMessage: (m) => {
          // A GET's answer (e.g. NFT_MSG_GETGEN's NEWGEN) comes before its ACK, with its sequence number.
          if (m.type !== NLMSG_ERROR) return void o.onReply?.(m, i)
          if (results[i] !== -1) return
          results[i] = ackErrno(m)
          if (--left === 0) done()
        },
        fail: done,
      }))
      this.#send([encodeNfnlDatagram(reqs, seqs, reqs.map(() => NLM_F.ACK))], done)
      this.#readAnswersNow()
    })
  }

  /**
   * Sends `reqs` as ONE nfnetlink batch of subsystem `resId` (BATCH_BEGIN, the requests, BATCH_END
   * in one sendmsg), which the subsystem commits or aborts whole (nf_tables: one transaction).
   * Resolves with each request's errno (0: accepted) and the batch's own errno: a non-zero one
   * (the commit failed, no CAP_NET_ADMIN, no such subsystem) means nothing was committed, as does
   * any non-zero request errno (the kernel aborts the batch and still reports every message).
   * A refused batch resolves at its FIRST request error, the others left -1 (not known): the
   * kernel queues all its answers at once, in request order, and those past our receive buffer
   * are dropped (NETLINK_NO_ENOBUFS), so waiting for them all (some 500 refused rules fill the
   * kept socket's 416 KiB) would end in the timeout instead of the refusal. The first one arrives
   * unless the buffer was full already: the kernel admits a message while it is not
   * (netlink_attachskb). The rest, read later, match no request any more.
   *
   * How the answers come (net/netfilter/nfnetlink.c, nfnetlink_rcv_batch): each request carries
   * NLM_F_ACK, so each gets exactly one answer, queued only after the whole batch was processed
   * and committed; a failure of the batch itself is acknowledged against BATCH_BEGIN's sequence
   * number before those. The delimiters carry no NLM_F_ACK: kernels before 6.5 never answer them.
   *
   * `echoFirst`: the FIRST request carries NLM_F_ECHO, and what the kernel sends back with its sequence
   * number that is not an error goes to `echo`. nf_tables answers so with the NEWGEN of the commit,
   * before the requests' answers: nf_tables_gen_notify reports to the sender when the batch skb's
   * first header asks for it (nlmsg_report(nlmsg_hdr(skb))), and that header is the first request,
   * not BEGIN (nfnetlink_rcv_skb_batch pulls BEGIN off the skb first). The first request's own
   * object is echoed too (each notification follows its own message's flags, so no other is): the
   * caller makes it one that changes nothing (lib/nft/elements-netlink.ts). A request that asks
   * for NLM_F_ECHO in its own `flags` has its object sent back too (a rule and the handle the
   * kernel gave it): `echo` gets it with the request's index.
   */
  batch(reqs: NfnlRequest[], o: { resId: number; timeoutMs?: number; ackLastOnly?: boolean; echoFirst?: boolean; echo?: (m: NlMessage, index: number) => void }): Promise<{ errnos: number[]; batchErrno: number }> {
    if (reqs.length === 0) return Promise.resolve({ errnos: [], batchErrno: 0 })
    return new Promise((resolve, reject) => {
      const errnos = new Array<number>(reqs.length).fill(-1)
      let left = reqs.length, batchErrno = 0
      const begin = this.#nextSeq()
      const seqs = reqs.map(() => this.#nextSeq())
      const end = this.#nextSeq()
      const timer = setTimeout(() => done(new Error(`netfilter netlink batch: no answer within ${o.timeoutMs ?? 10_000} ms`)), o.timeoutMs ?? 10_000)
      const done = (err?: Error) => {
        clearTimeout(timer)
        this.#pending.delete(begin)
        for (const s of seqs) this.#pending.delete(s)
        this.#unrefIfIdle()
        if (err) reject(err)
        else resolve({ errnos, batchErrno })
      }
      // Refused or failed whole: the requests' answers (if any) would say nothing more.
      this.#track(begin, { onMessage: (m) => { if (m.type === NLMSG_ERROR && (batchErrno = ackErrno(m)) !== 0) done() }, fail: done })
      // ackLastOnly (a batch of tens of thousands of messages, whose ACKs would overrun the
      // receive buffer): only the last request asks for an ACK; the kernel still answers every
      // request that fails (nfnetlink_rcv_batch goes on through the batch after an error), and all
      // answers come after the whole batch was processed, so the last one's ends the wait of an
      // accepted batch (a refused one ends at its first error). The others count as accepted (0).
      const last = reqs.length - 1
      if (o.ackLastOnly) left = 1
      seqs.forEach((seq, i) => this.#track(seq, {
        onMessage: (m) => {
          if (m.type !== NLMSG_ERROR) return void o.echo?.(m, i)
          if (errnos[i] !== -1) return
          errnos[i] = ackErrno(m)
          if (errnos[i] !== 0) return done() // refused: the first error says so (see above)
          if (o.ackLastOnly && i !== last) return
          if (--left === 0) {
            if (o.ackLastOnly) for (let k = 0; k < errnos.length; k++) if (errnos[k] === -1) errnos[k] = 0
            done()
          }
        },
        fail: done,
      }))
      const flags = (i: number) => (o.ackLastOnly && i !== last ? 0 : NLM_F.ACK) | (o.echoFirst && i === 0 ? NLM_F.ECHO : 0)
      const delimiter = (msg: number): NfnlRequest => ({ subsys: 0, msg, family: 0, resId: o.resId })
      // The batch as one datagram, written once (encodeNfnlDatagram): its delimiters and requests.
      this.#send([encodeNfnlDatagram(
        [delimiter(NFNL_MSG_BATCH_BEGIN), ...reqs, delimiter(NFNL_MSG_BATCH_END)],
        [begin, ...seqs, end],
        [0, ...reqs.map((_, i) => flags(i)), 0],
      )], done)
      this.#readAnswersNow()
    })
  }

  /**
   * Streams a dump: `onMessage` sees every reply until NLMSG_DONE; returning false stops early.
   * A dump stopped early (or aborted) CLOSES the socket: the kernel would go on filling it.
   * Resolves true when the dump completed.
   */
  dump(req: NfnlRequest, onMessage: (m: NlMessage) => boolean | void, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const seq = this.#nextSeq()
      const finish = (complete: boolean, err?: Error) => {
        this.#pending.delete(seq)
        signal?.removeEventListener('abort', onAbort)
        if (!complete) this.close()
        this.#unrefIfIdle()
        if (err) reject(err)
        else resolve(complete)
      }
      const onAbort = () => finish(false)
      if (signal?.aborted) return finish(false)
      signal?.addEventListener('abort', onAbort)
      this.#track(seq, {
        onMessage: (m) => {
          if (m.type === NLMSG_DONE) return finish(true)
          if (m.type === NLMSG_ERROR) return finish(false, new NetlinkError(ackErrno(m), 'netfilter netlink dump'))
          if (onMessage(m) === false) finish(false)
        },
        fail: (err) => finish(false, err),
      })
      this.#send([encodeNfnl(req, seq, NLM_F.DUMP)], (err) => finish(false, err))
    })
  }

  /**
   * SO_SNDBUF: a batch is one datagram, which must fit it (netlink_sendmsg: EMSGSIZE beyond
   * sk_sndbuf - 32). Asks for `bytes` (the kernel caps it at net.core.wmem_max, then doubles it)
   * and returns what is in effect. Without `bytes`, only reads it.
   */
  sendBuffer(bytes?: number): number {
    if (bytes !== undefined && this.#raw.getSendBufferSize() < bytes) this.#raw.setSendBufferSize(bytes)
    return this.#raw.getSendBufferSize()
  }

  /** The socket's netlink port id (nl_pid), which names it among the process's descriptors. */
  get port(): number {
    return this.#raw.address().port
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#raw.close()
    this.#failAll(new Error('netfilter netlink socket closed'))
  }

  get closed(): boolean {
    return this.#closed
  }

  #nextSeq(): number {
    this.#seq = (this.#seq % 0xfffffffe) + 1 // never 0: the kernel's own messages carry seq 0
    return this.#seq
  }

  #track(seq: number, p: Pending): void {
    if (this.#closed) return p.fail(new Error('netfilter netlink socket closed'))
    if (this.#pending.size === 0) this.#raw.ref()
    this.#pending.set(seq, p)
  }

  #unrefIfIdle(): void {
    if (this.#pending.size === 0 && !this.#closed) this.#raw.unref()
  }

  /**
   * The answers the kernel queued while our send ran, handled now (netlink-sync.ts): nf_tables and
   * conntrack answer inside the sendmsg. What comes later (a dump's parts) the binding's poll reads.
   */
  #readAnswersNow(): void {
    if (!this.#readNow || this.#fd === undefined || this.#closed) return
    try {
      readQueued(this.#fd, (datagram) => (this.#receive(datagram), !this.#closed))
    } catch (err) {
      // koffi unusable here: the binding's own reads still deliver everything.
      this.#readNow = false
      this.#receiveError(err)
    }
  }

  #send(msgs: Buffer[], onError: (err: Error) => void): void {
    if (this.#closed) return onError(new Error('netfilter netlink socket closed'))
    if (this.#fd !== undefined) {
      try {
        sendDatagram(this.#fd, msgs.length === 1 ? msgs[0]! : Buffer.concat(msgs))
      } catch (err) {
        onError(new Error(`netfilter netlink ${(err as Error).message}`))
      }
      return
    }
    this.#raw.send(msgs, { port: 0 }, (err) => err && onError(new Error(`netfilter netlink sendmsg: ${err.code ?? err.message}`)))
  }

  // Called from the netlink addon's native receive callback: an exception escaping from here is
  // not an uncaughtException but a C++ terminate (`Napi::Error ... Error in native callback`) that
  // aborts the agent. A kernel datagram under a flood, or a handler's bug, must cost that one
  // datagram, nothing more: nothing may throw out of this method.
  #receive(buf: Buffer): void {
    let messages: NlMessage[]
    try {
      messages = parseMessages(buf)
    } catch (err) {
      this.#receiveError(err)
      return
    }
    for (const m of messages) {
      try {
        const p = this.#pending.get(m.seq)
        if (p) p.onMessage(m)
        // The kernel's own messages (events, nfnetlink_log packets) carry seq 0; any other unknown
        // seq is the tail of a dump we stopped or an answer to a request that already failed.
        else if (m.seq === 0) this.o.onUnsolicited?.(m)
      } catch (err) {
        this.#receiveError(err)
      }
    }
  }

  /** For the addon's other native callbacks: a failing request's handler must not abort us either. */
  #guard(fn: () => void): void {
    try {
      fn()
    } catch (err) {
      this.#receiveError(err)
    }
  }

  #receiveError(err: unknown): void {
    try {
      this.o.onReceiveError?.(err instanceof Error ? err : new Error(String(err)))
    } catch {
      /* the reporter itself failed: still nothing may escape to the native callback */
    }
  }

  #failAll(err: Error): void {
    for (const p of [...this.#pending.values()]) p.fail(err)
    this.#pending.clear()
  }
}
