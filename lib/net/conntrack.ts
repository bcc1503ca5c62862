// Conntrack over nfnetlink (ctnetlink, include/uapi/linux/netfilter/nfnetlink_conntrack.h): list
// the table as a streamed dump, delete entries by tuple in batches, in process. conntrack(8) does
// the same per invocation (one process and one dump per flow); these messages are byte for byte
// what it sends and receives (conntrack.test.ts holds them to strace captures of conntrack 1.4.7).
import { AF_INET, AF_INET6 } from './rtnl.js'
import { attr, nested, parseAttrs } from './tlv.js'
import { ipBytes, ipString } from './ip.js'
import { NFNL_SUBSYS, type NfnlRequest, type NfnlSocket, type NlMessage, parseNfgen } from './nfnetlink.js'

export const IPCTNL_MSG = { NEW: 0, GET: 1, DELETE: 2 } as const
export const CTA = { TUPLE_ORIG: 1, TUPLE_REPLY: 2, STATUS: 3, PROTOINFO: 4, TIMEOUT: 7, ID: 12, ZONE: 18 } as const
const CTA_TUPLE = { IP: 1, PROTO: 2 } as const
const CTA_IP = { V4_SRC: 1, V4_DST: 2, V6_SRC: 3, V6_DST: 4 } as const
const CTA_PROTO = { NUM: 1, SRC_PORT: 2, DST_PORT: 3 } as const
const CTA_PROTOINFO = { TCP: 1, SCTP: 3 } as const
const PROTOINFO_STATE = 1 // CTA_PROTOINFO_TCP_STATE, CTA_PROTOINFO_SCTP_STATE

export const IPPROTO = { TCP: 6, UDP: 17, SCTP: 132 } as const
/** enum tcp_conntrack (include/uapi/linux/netfilter/nf_conntrack_tcp.h). */
export const TCP_CONNTRACK = { NONE: 0, SYN_SENT: 1, SYN_RECV: 2, ESTABLISHED: 3, FIN_WAIT: 4, CLOSE_WAIT: 5, LAST_ACK: 6, TIME_WAIT: 7, CLOSE: 8, SYN_SENT2: 9 } as const
/** enum sctp_conntrack (include/uapi/linux/netfilter/nf_conntrack_sctp.h). */
export const SCTP_CONNTRACK = { NONE: 0, CLOSED: 1 } as const
/** enum ip_conntrack_status bits (include/uapi/linux/netfilter/nf_conntrack_common.h). */
export const IPS = { SEEN_REPLY: 1 << 1, ASSURED: 1 << 2, DYING: 1 << 9 } as const

export interface CtTuple {
  src: string
  dst: string
  proto: number
  /** Ports (TCP, UDP, SCTP); 0 for protocols without them. */
  sport: number
  dport: number
}

export interface CtEntry {
  family: 4 | 6
  orig: CtTuple
  /** The reply direction: after DNAT, reply.src is where the connection really goes. */
  reply: CtTuple
  status: number
  /** TCP_CONNTRACK / SCTP_CONNTRACK state, for those protocols. */
  state?: number
  /** The entry's id: a delete carrying it removes this entry only, never a newer one on the same tuple. */
  id?: number
  zone?: number
}

const be16 = (v: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b }
const be32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(v >>> 0); return b }

/** The dump request for one family (AF_INET, AF_INET6) or both (0, AF_UNSPEC). */
export const ctDumpRequest = (family = 0): NfnlRequest => ({ subsys: NFNL_SUBSYS.CTNETLINK, msg: IPCTNL_MSG.GET, family })

/** CTA_TUPLE_ORIG / CTA_TUPLE_REPLY of a tuple, nested as libnetfilter_conntrack nests it. */
export function encodeTuple(type: number, family: 4 | 6, t: CtTuple): Buffer {
  const [src, dst] = family === 4 ? [CTA_IP.V4_SRC, CTA_IP.V4_DST] : [CTA_IP.V6_SRC, CTA_IP.V6_DST]
  const proto = [attr(CTA_PROTO.NUM, Buffer.from([t.proto]))]
  if (t.proto === IPPROTO.TCP || t.proto === IPPROTO.UDP || t.proto === IPPROTO.SCTP) proto.push(attr(CTA_PROTO.SRC_PORT, be16(t.sport)), attr(CTA_PROTO.DST_PORT, be16(t.dport)))
  return nested(type, nested(CTA_TUPLE.IP, attr(src, ipBytes(t.src)), attr(dst, ipBytes(t.dst))), nested(CTA_TUPLE.PROTO, ...proto))
}

/** The delete of one entry: by its original tuple, its id (when known) and its zone. */
export function ctDeleteRequest(e: CtEntry): NfnlRequest {
  const attrs = [encodeTuple(CTA.TUPLE_ORIG, e.family, e.orig)]
  if (e.id !== undefined) attrs.push(attr(CTA.ID, be32(e.id)))
  if (e.zone !== undefined) attrs.push(attr(CTA.ZONE, be16(e.zone)))
  return { subsys: NFNL_SUBSYS.CTNETLINK, msg: IPCTNL_MSG.DELETE, family: e.family === 4 ? AF_INET : AF_INET6, attrs: Buffer.concat(attrs) }
}

function parseTuple(buf: Buffer | undefined, family: 4 | 6): CtTuple | undefined {
  if (!buf) return undefined
  const t = parseAttrs(buf)
  const ip = t.get(CTA_TUPLE.IP)
  const proto = t.get(CTA_TUPLE.PROTO)
  if (!ip || !proto) return undefined
  const a = parseAttrs(ip)
  const [s, d] = family === 4 ? [a.get(CTA_IP.V4_SRC), a.get(CTA_IP.V4_DST)] : [a.get(CTA_IP.V6_SRC), a.get(CTA_IP.V6_DST)]
  const len = family === 4 ? 4 : 16
  if (s?.length !== len || d?.length !== len) return undefined
  const p = parseAttrs(proto)
  const num = p.get(CTA_PROTO.NUM)
  const port = (b?: Buffer) => (b?.length === 2 ? b.readUInt16BE(0) : 0)
  if (num?.length !== 1) return undefined
  return { src: ipString(s), dst: ipString(d), proto: num[0]!, sport: port(p.get(CTA_PROTO.SRC_PORT)), dport: port(p.get(CTA_PROTO.DST_PORT)) }
}

/** One entry of a dump (IPCTNL_MSG_CT_NEW); undefined for anything else or a malformed one. */
export function parseCtEntry(m: NlMessage): CtEntry | undefined {
  const nf = parseNfgen(m)
  if (!nf || nf.subsys !== NFNL_SUBSYS.CTNETLINK || nf.msg !== IPCTNL_MSG.NEW) return undefined
  const family = nf.family === AF_INET ? 4 : nf.family === AF_INET6 ? 6 : undefined
  if (!family) return undefined
  const a = parseAttrs(nf.attrs)
  const orig = parseTuple(a.get(CTA.TUPLE_ORIG), family)
  const reply = parseTuple(a.get(CTA.TUPLE_REPLY), family)
  if (!orig || !reply) return undefined
  const u32 = (b?: Buffer) => (b?.length === 4 ? b.readUInt32BE(0) : undefined)
  const e: CtEntry = { family, orig, reply, status: u32(a.get(CTA.STATUS)) ?? 0 }
  const id = u32(a.get(CTA.ID))
  if (id !== undefined) e.id = id
  const zone = a.get(CTA.ZONE)
  if (zone?.length === 2) e.zone = zone.readUInt16BE(0)
  const protoinfo = a.get(CTA.PROTOINFO)
  const which = orig.proto === IPPROTO.TCP ? CTA_PROTOINFO.TCP : orig.proto === IPPROTO.SCTP ? CTA_PROTOINFO.SCTP : undefined
  const state = protoinfo && which && parseAttrs(parseAttrs(protoinfo).get(which) ?? Buffer.alloc(0)).get(PROTOINFO_STATE)
  if (state?.length === 1) e.state = state[0]
  return e
}

/**
 * Streams the conntrack table of the socket's namespace (both families) into `onEntry`, which
 * returns false to stop (that closes the socket, see NfnlSocket.dump). Resolves true when complete.
 */
export function dumpConntrack(sock: NfnlSocket, onEntry: (e: CtEntry) => boolean | void, signal?: AbortSignal): Promise<boolean> {
  return sock.dump(ctDumpRequest(0), (m) => {
    const e = parseCtEntry(m)
    return e ? onEntry(e) : undefined
  }, signal)
}

export interface DeleteOutcome {
  deleted: number
  /** Already gone (ENOENT): ended by itself, or its id changed. */
  gone: number
  failed: number
  /** errno of the first failure, for the log. */
  firstErrno?: number
}

const ENOENT = 2

/** Deletes `entries` in one sendmsg (the caller bounds the batch: every ack queues at once). */
export async function deleteConntrack(sock: NfnlSocket, entries: CtEntry[]): Promise<DeleteOutcome> {
  const errnos = await sock.request(entries.map((e) => ctDeleteRequest(e)))
  const out: DeleteOutcome = { deleted: 0, gone: 0, failed: 0 }
  for (const errno of errnos) {
    if (errno === 0) out.deleted++
    else if (errno === ENOENT) out.gone++
    else {
      out.failed++
      out.firstErrno ??= errno
    }
  }
  return out
}
