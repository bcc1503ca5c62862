// nfnetlink_log (include/uapi/linux/netfilter/nfnetlink_log.h) over NfnlSocket: bind a log group
// to our socket, and read what nft `log group N` rules send it. Each logged packet arrives as one
// NFULNL_MSG_PACKET (seq 0, unicast to the port that bound the group) carrying the rule's prefix,
// interfaces, mark and the first `copy range` bytes of the packet from its network header, which
// parseHeaders turns into (src, dst, proto, sport, dport). nflog.test.ts holds the codec to bytes
// this kernel (6.18) sent for `log group N snaplen 128 prefix "..."` rules.
import { attr, parseAttrs, readStr } from './tlv.js'
import { ipString } from './ip.js'
import { NFNL_SUBSYS, NLMSG_DONE, NfnlSocket, parseNfgen, type NfnlRequest, type NlMessage } from './nfnetlink.js'
import { withNetns } from './netns.js'

export const NFULNL_MSG = { PACKET: 0, CONFIG: 1 } as const
export const NFULA = {
  PACKET_HDR: 1, MARK: 2, TIMESTAMP: 3, IFINDEX_INDEV: 4, IFINDEX_OUTDEV: 5, IFINDEX_PHYSINDEV: 6, IFINDEX_PHYSOUTDEV: 7,
  HWADDR: 8, PAYLOAD: 9, PREFIX: 10, UID: 11, SEQ: 12, SEQ_GLOBAL: 13, GID: 14, HWTYPE: 15, HWHEADER: 16, HWLEN: 17, CT: 18, CT_INFO: 19,
} as const
export const NFULA_CFG = { CMD: 1, MODE: 2, NLBUFSIZ: 3, TIMEOUT: 4, QTHRESH: 5, FLAGS: 6 } as const
export const NFULNL_CFG_CMD = { BIND: 1, UNBIND: 2, PF_BIND: 3, PF_UNBIND: 4 } as const
export const NFULNL_COPY = { NONE: 0, META: 1, PACKET: 2 } as const
/** NFULNL_CFG_F_*. CONNTRACK needs the kernel's nfnetlink glue: this kernel answers EOPNOTSUPP. */
export const NFULNL_CFG_F = { SEQ: 0x1, SEQ_GLOBAL: 0x2, CONNTRACK: 0x4 } as const

export interface NflogConfig {
  group: number
  /** Bytes of each packet copied from its network header (NFULNL_COPY_PACKET); 0: metadata only. */
  copyRange: number
  /** Packets the kernel queues before sending a datagram (1: each at once). */
  qthresh?: number
  /** Longest a queued packet waits for the datagram, in 1/100 s. */
  timeoutCs?: number
  /** NFULNL_CFG_F_* */
  flags?: number
}

const be16 = (v: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b }
const be32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(v >>> 0); return b }

function checkGroup(group: number): void {
  // res_id is a be16: group numbers are 0..65535.
  if (!Number.isInteger(group) || group < 0 || group > 0xffff) throw new Error(`nflog group ${group}: not 0..65535`)
}

/**
 * One CONFIG message binding `group` to the sending socket and setting its copy mode, queue and
 * flags. nfulnl_recv_config handles the command first (BIND creates the instance), then the
 * other attributes, so one message does what libnetfilter_log sends as several.
 */
export function nflogBindRequest(c: NflogConfig): NfnlRequest {
  checkGroup(c.group)
  if (!Number.isInteger(c.copyRange) || c.copyRange < 0 || c.copyRange > 0xffff) throw new Error(`nflog copy range ${c.copyRange}: not 0..65535`)
  const mode = Buffer.alloc(6) // struct nfulnl_msg_config_mode, packed: be32 copy_range, u8 copy_mode, u8 pad
  mode.writeUInt32BE(c.copyRange, 0)
  mode.writeUInt8(c.copyRange > 0 ? NFULNL_COPY.PACKET : NFULNL_COPY.META, 4)
  const attrs = [attr(NFULA_CFG.CMD, Buffer.from([NFULNL_CFG_CMD.BIND])), attr(NFULA_CFG.MODE, mode)]
  if (c.qthresh !== undefined) attrs.push(attr(NFULA_CFG.QTHRESH, be32(c.qthresh)))
  if (c.timeoutCs !== undefined) attrs.push(attr(NFULA_CFG.TIMEOUT, be32(c.timeoutCs)))
  if (c.flags !== undefined) attrs.push(attr(NFULA_CFG.FLAGS, be16(c.flags)))
  return { subsys: NFNL_SUBSYS.ULOG, msg: NFULNL_MSG.CONFIG, family: 0, resId: c.group, attrs: Buffer.concat(attrs) }
}

export function nflogUnbindRequest(group: number): NfnlRequest {
  checkGroup(group)
  return { subsys: NFNL_SUBSYS.ULOG, msg: NFULNL_MSG.CONFIG, family: 0, resId: group, attrs: attr(NFULA_CFG.CMD, Buffer.from([NFULNL_CFG_CMD.UNBIND])) }
}

/**
 * PF_BIND / PF_UNBIND make nfnetlink_log the netns's DEFAULT logger of a family (what a plain
 * `log` without `group`, and the kernel's own loginfo-less logging, go to: nf_log_bind_pf). ulogd
 * and the libnetfilter_log utilities send them out of habit; `log group N` rules do not need them
 * (nf_log_packet looks up loggers[pf][NF_LOG_TYPE_ULOG], registered for every family when the
 * module loads), and in the node's namespace they would take over the host firewall's logging.
 * NflogReader never sends them; the encoder is here so a test can show they are not needed.
 */
export function nflogPfRequest(cmd: typeof NFULNL_CFG_CMD.PF_BIND | typeof NFULNL_CFG_CMD.PF_UNBIND, family: number): NfnlRequest {
  return { subsys: NFNL_SUBSYS.ULOG, msg: NFULNL_MSG.CONFIG, family, attrs: attr(NFULA_CFG.CMD, Buffer.from([cmd])) }
}

export interface NflogPacket {
  /** nfgen_family: NFPROTO_IPV4 (2), NFPROTO_IPV6 (10), NFPROTO_BRIDGE (7), ... */
  family: number
  group: number
  /** hw_protocol (ethertype, e.g. 0x0800) and netfilter hook of NFULA_PACKET_HDR */
  hwProtocol: number
  hook: number
  /** the rule's `prefix`, without the NUL ('' when none) */
  prefix: string
  mark?: number
  indev?: number
  outdev?: number
  /** the bridge ports, for packets br_netfilter hands to the inet hooks */
  physindev?: number
  physoutdev?: number
  /** kernel receive time, when the skb carries one (not on locally sent packets) */
  timestamp?: { sec: number; usec: number }
  /** NFULA_SEQ: per-group sequence number (with NFULNL_CFG_F_SEQ); a gap means lost messages */
  seq?: number
  /** the first copyRange bytes from the network header */
  payload: Buffer
}

/** One NFULNL_MSG_PACKET; undefined for anything else (NLMSG_DONE after a batch) or a malformed one. */
export function parseNflogPacket(m: NlMessage): NflogPacket | undefined {
  if (m.type === NLMSG_DONE) return undefined
  const nf = parseNfgen(m)
  if (!nf || nf.subsys !== NFNL_SUBSYS.ULOG || nf.msg !== NFULNL_MSG.PACKET) return undefined
  const a = parseAttrs(nf.attrs)
  const hdr = a.get(NFULA.PACKET_HDR)
  if (hdr?.length !== 4) return undefined // the kernel always sends it first
  const u32 = (t: number) => { const b = a.get(t); return b?.length === 4 ? b.readUInt32BE(0) : undefined }
  const p: NflogPacket = {
    family: nf.family, group: nf.resId, hwProtocol: hdr.readUInt16BE(0), hook: hdr.readUInt8(2),
    prefix: readStr(a.get(NFULA.PREFIX) ?? Buffer.alloc(0)), payload: a.get(NFULA.PAYLOAD) ?? Buffer.alloc(0),
  }
  const opt = { mark: NFULA.MARK, indev: NFULA.IFINDEX_INDEV, outdev: NFULA.IFINDEX_OUTDEV, physindev: NFULA.IFINDEX_PHYSINDEV, physoutdev: NFULA.IFINDEX_PHYSOUTDEV, seq: NFULA.SEQ } as const
  for (const [k, t] of Object.entries(opt) as [keyof typeof opt, number][]) {
    const v = u32(t)
    if (v !== undefined) p[k] = v
  }
  const ts = a.get(NFULA.TIMESTAMP) // struct nfulnl_msg_packet_timestamp: be64 sec, be64 usec
  if (ts?.length === 16) p.timestamp = { sec: Number(ts.readBigUInt64BE(0)), usec: Number(ts.readBigUInt64BE(8)) }
  return p
}

export interface PacketHeaders {
  family: 4 | 6
  src: string
  dst: string
  /** the transport protocol number (after IPv6 extension headers) */
  proto: number
  /** TCP, UDP, UDP-Lite, SCTP, DCCP: the ports; ICMP/ICMPv6: type and code in icmp; 0 otherwise or when cut off */
  sport: number
  dport: number
  icmp?: { type: number; code: number }
}

const PORTS = new Set([6, 17, 33, 132, 136]) // TCP, UDP, DCCP, SCTP, UDP-Lite: ports in the first 4 bytes
const V6_EXT = new Set([0, 43, 60]) // hop-by-hop, routing, destination options: (next, len in 8-byte units)
const V6_FRAG = 44
const AH = 51

/**
 * The addresses, protocol and ports of an IP packet's first bytes. `ethertype` (hw_protocol) picks
 * the family when it is IPv4/IPv6; otherwise the version nibble does. Undefined when the network
 * header itself is cut off or not IP; ports stay 0 for a non-first fragment or a cut-off L4 header.
 */
export function parseHeaders(b: Buffer, ethertype?: number): PacketHeaders | undefined {
  const version = ethertype === 0x0800 ? 4 : ethertype === 0x86dd ? 6 : b.length > 0 ? b[0]! >> 4 : 0
  if (version === 4) {
    if (b.length < 20 || b[0]! >> 4 !== 4) return undefined
    const ihl = (b[0]! & 0x0f) * 4
    if (ihl < 20) return undefined
    const fragOffset = b.readUInt16BE(6) & 0x1fff
    const h: PacketHeaders = { family: 4, src: ipString(b.subarray(12, 16)), dst: ipString(b.subarray(16, 20)), proto: b[9]!, sport: 0, dport: 0 }
    return fragOffset === 0 ? withL4(h, b, ihl) : h
  }
  if (version === 6) {
    if (b.length < 40 || b[0]! >> 4 !== 6) return undefined
    const h: PacketHeaders = { family: 6, src: ipString(b.subarray(8, 24)), dst: ipString(b.subarray(24, 40)), proto: b[6]!, sport: 0, dport: 0 }
    let off = 40
    // Bounded walk: each header moves us forward by at least 8 bytes within the copied bytes.
    for (let i = 0; i < 8; i++) {
      if (V6_EXT.has(h.proto) || h.proto === AH) {
        if (off + 2 > b.length) return h
        const len = h.proto === AH ? (b[off + 1]! + 2) * 4 : (b[off + 1]! + 1) * 8
        h.proto = b[off]!
        off += len
      } else if (h.proto === V6_FRAG) {
        if (off + 8 > b.length) return h
        const fragOffset = b.readUInt16BE(off + 2) >> 3
        h.proto = b[off]!
        off += 8
        if (fragOffset !== 0) return h
      } else break
    }
    return withL4(h, b, off)
  }
  return undefined
}

function withL4(h: PacketHeaders, b: Buffer, off: number): PacketHeaders {
  if (PORTS.has(h.proto) && off + 4 <= b.length) {
    h.sport = b.readUInt16BE(off)
    h.dport = b.readUInt16BE(off + 2)
  } else if ((h.proto === 1 || h.proto === 58) && off + 2 <= b.length) {
    h.icmp = { type: b[off]!, code: b[off + 1]! }
  }
  return h
}

export interface NflogReaderOptions extends Omit<NflogConfig, 'flags'> {
  onPacket: (p: NflogPacket) => void
  /** Messages lost between the kernel and us (sequence gaps: a full socket buffer, ENOBUFS). */
  onLost?: (n: number) => void
  /** SO_RCVBUF in bytes (the kernel caps it at net.core.rmem_max). */
  recvBufferSize?: number
  /** A datagram that did not parse, or an exception out of onPacket: that packet is dropped, the reader goes on. */
  onError?: (err: Error) => void
}

/**
 * Binds a log group in the CALLING THREAD's network namespace (open it inside withNetns, or use
 * openNflogReader) and hands every logged packet to onPacket. Only one socket can hold a group
 * in a namespace (EPERM otherwise); the kernel frees it when the socket closes, so a crashed
 * agent never blocks its successor.
 */
export class NflogReader {
  readonly #sock: NfnlSocket
  readonly #o: NflogReaderOptions
  #nextSeq: number | undefined

  constructor(o: NflogReaderOptions) {
    this.#o = o
    // A full buffer drops packets, counted by their sequence gaps (onLost), never an ENOBUFS that
    // the netlink binding would answer by aborting the process (every NfnlSocket sets NETLINK_NO_ENOBUFS: nfnetlink.ts).
    this.#sock = new NfnlSocket({ recvBufferSize: o.recvBufferSize, onUnsolicited: (m) => this.#receive(m), onReceiveError: o.onError })
  }

  /** Binds the group (with NFULNL_CFG_F_SEQ, so lost messages are counted); rejects with the errno. */
  async start(): Promise<void> {
    const [errno] = await this.#sock.request([nflogBindRequest({ ...this.#o, flags: NFULNL_CFG_F.SEQ })])
    // EPERM (1): another socket of this namespace holds the group (nfulnl_recv_config compares
    // the instance's peer port with ours), or we lack CAP_NET_ADMIN.
    if (errno !== 0) {
      this.#sock.close()
      throw new Error(`nflog bind group ${this.#o.group}: errno ${errno}${errno === 1 ? ' (EPERM: another socket reads this group, or no CAP_NET_ADMIN)' : ''}`)
    }
    // Unsolicited packets alone do not keep the process alive (NfnlSocket unrefs when idle): the
    // agent has its own reasons to run, and a reader must never hold a CLI or test open.
  }

  /** Closes the socket; the kernel unbinds the group with it (NETLINK_URELEASE). */
  close(): void {
    this.#sock.close()
  }

  #receive(m: NlMessage): void {
    const p = parseNflogPacket(m)
    if (!p || p.group !== this.#o.group) return
    if (p.seq !== undefined) {
      if (this.#nextSeq !== undefined && p.seq !== this.#nextSeq) this.#o.onLost?.((p.seq - this.#nextSeq) >>> 0)
      this.#nextSeq = (p.seq + 1) >>> 0
    }
    this.#o.onPacket(p)
  }
}

/** An NflogReader bound in the namespace at `netnsPath` (undefined: the caller's). */
export async function openNflogReader(o: NflogReaderOptions, netnsPath?: string): Promise<NflogReader> {
  const r = netnsPath ? withNetns(netnsPath, () => new NflogReader(o)) : new NflogReader(o)
  await r.start()
  return r
}
