// The agent socket's protocol, the one definition both sides import: cinch-bridge
// (plugins/cinch-bridge/agent.ts) asks, the agent (policy-agent/server/socket.ts) answers.
// lib/state/README.md describes it in prose; this module is what is enforced.
//
// One request per connection: the client sends one line of UTF-8 JSON ending in "\n", the agent
// answers one line and closes. A line is at most MAX_LINE_BYTES, newline included. Every field is
// checked (type, pattern, length) and unknown keys are refused, on decode and on encode alike, so a
// mistake on either side fails loudly at its source. Loaded by cinch-bridge on every ADD: it
// imports only what the plugin has loaded already (lib/ip, node:buffer) and compiles nothing.
// (Not node:net's isIP: its IPv6 regex costs 2.7 ms on first use, 0.6 ms after, measured.)
import { isUtf8 } from 'node:buffer'
import { KERNEL, parseCidr } from '../ip/index.js'

/** Longest line either side accepts, "\n" included. A real ADD line is about 250 bytes. */
export const MAX_LINE_BYTES = 4096
/** Longest `error` in a reply; longer ones are cut by encodeReply. */
export const MAX_ERROR_CHARS = 1024
/** More addresses than any IPAM hands one interface (one per range set; two for dual stack). */
export const MAX_IPS = 16

/** ADD: the record is written; answer once the pod's rules are in the kernel. */
export interface AddRequest {
  op: 'add'
  containerId: string
  ifName: string
  /** K8S_POD_NAMESPACE / K8S_POD_NAME from CNI_ARGS; "" when the runtime gave none. */
  podNamespace: string
  podName: string
  /** CIDR addresses as in the attachment record, e.g. "10.244.1.5/24". */
  ips: string[]
}

/** DEL: the record is gone; answer once the rules no longer name the pod. */
export interface DelRequest {
  op: 'del'
  containerId: string
  ifName: string
}

export type AgentRequest = AddRequest | DelRequest
export type AgentReply = { ok: true } | { ok: false; error: string }

/** A line that breaks the protocol; the message names the field. */
export class ProtocolError extends Error {}

const fail = (msg: string): never => {
  throw new ProtocolError(msg)
}

// SPEC "Parameters" (CNI_CONTAINERID): the reference skel's pattern (pkg/utils cniReg).
const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/
const MAX_CONTAINER_ID = 256
// RFC 1123 label (namespace) and subdomain (pod name), as the API server validates them.
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

function str(o: Record<string, unknown>, key: string): string {
  const v = o[key]
  return typeof v === 'string' ? v : fail(`${key}: expected a string, got ${v === null ? 'null' : typeof v}`)
}

function containerId(o: Record<string, unknown>): string {
  const v = str(o, 'containerId')
  if (v.length > MAX_CONTAINER_ID || !CONTAINER_ID.test(v)) fail(`containerId: expected ${CONTAINER_ID.source}, at most ${MAX_CONTAINER_ID} characters`)
  return v
}

// IFNAMSIZ-1 bytes; no "/", ":", whitespace or control characters (Unicode Cc); not "." or "..".
function ifName(o: Record<string, unknown>): string {
  const v = str(o, 'ifName')
  const bytes = Buffer.byteLength(v)
  if (bytes < 1 || bytes > 15 || v === '.' || v === '..' || /[/:\s\x00-\x1f\x7f-\x9f]/.test(v)) fail('ifName: expected an interface name of 1 to 15 bytes')
  return v
}

function k8sName(o: Record<string, unknown>, key: string, pattern: RegExp, max: number): string {
  const v = str(o, key)
  if (v !== '' && (v.length > max || !pattern.test(v))) fail(`${key}: expected "" or a Kubernetes name (RFC 1123, at most ${max} characters)`)
  return v
}

function cidr(v: unknown, at: string): string {
  // KERNEL: the family as written (::ffff:a.b.c.d stays IPv6), as the plugin gave it to the kernel.
  if (typeof v !== 'string' || !v.includes('/') || !parseCidr(v, KERNEL)) fail(`${at}: expected an address with prefix length, e.g. 10.244.1.5/24`)
  return v as string
}

function ips(o: Record<string, unknown>): string[] {
  const v = o.ips
  if (!Array.isArray(v) || v.length > MAX_IPS) return fail(`ips: expected an array of at most ${MAX_IPS} addresses`)
  return v.map((ip, i) => cidr(ip, `ips[${i}]`))
}

function onlyKeys(o: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k in o) if (!allowed.includes(k)) fail(`${k.slice(0, 40)}: unknown key`)
}

function object(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`expected a JSON object as the ${what}`)
  return v as Record<string, unknown>
}

const ADD_KEYS = ['op', 'containerId', 'ifName', 'podNamespace', 'podName', 'ips'] as const
const DEL_KEYS = ['op', 'containerId', 'ifName'] as const

/** Checks a parsed request field by field; returns a fresh object holding only known keys. */
export function validateRequest(v: unknown): AgentRequest {
  const o = object(v, 'request')
  if (o.op === 'add') {
    onlyKeys(o, ADD_KEYS)
    return {
      op: 'add', containerId: containerId(o), ifName: ifName(o),
      podNamespace: k8sName(o, 'podNamespace', LABEL, 63), podName: k8sName(o, 'podName', SUBDOMAIN, 253), ips: ips(o),
    }
  }
  if (o.op === 'del') {
    onlyKeys(o, DEL_KEYS)
    return { op: 'del', containerId: containerId(o), ifName: ifName(o) }
  }
  return fail('op: expected "add" or "del"')
}

/** Checks a parsed reply. */
export function validateReply(v: unknown): AgentReply {
  const o = object(v, 'reply')
  if (o.ok === true) {
    onlyKeys(o, ['ok'])
    return { ok: true }
  }
  if (o.ok === false) {
    onlyKeys(o, ['ok', 'error'])
    const error = str(o, 'error')
    if (error.length > MAX_ERROR_CHARS) fail(`error: longer than ${MAX_ERROR_CHARS} characters`)
    return { ok: false, error }
  }
  return fail('ok: expected true or false')
}

function parse(line: string): unknown {
  try {
    return JSON.parse(line)
  } catch {
    return fail('not JSON')
  }
}

function frame(v: object): string {
  const line = JSON.stringify(v) + '\n'
  if (Buffer.byteLength(line) > MAX_LINE_BYTES) fail(`line longer than ${MAX_LINE_BYTES} bytes`)
  return line
}

/** The request as one line, "\n" included; throws ProtocolError for an invalid one. */
export const encodeRequest = (r: AgentRequest): string => frame(validateRequest(r))
/** One line (without "\n") as a request; throws ProtocolError naming what is wrong. */
export const decodeRequest = (line: string): AgentRequest => validateRequest(parse(line))

/** The reply as one line, "\n" included; an over-long error is cut, not refused. */
export function encodeReply(r: AgentReply): string {
  if (r.ok) return frame({ ok: true })
  const error = r.error.length > MAX_ERROR_CHARS ? `${r.error.slice(0, MAX_ERROR_CHARS - 3)}...` : r.error
  return frame(validateReply({ ok: false, error }))
}
/** One line (without "\n") as a reply; throws ProtocolError naming what is wrong. */
export const decodeReply = (line: string): AgentReply => validateReply(parse(line))

/**
 * Reads one line from a byte stream, holding at most MAX_LINE_BYTES: the framing both sides use.
 * push() returns the line (UTF-8, without "\n") once it is complete, undefined while it is not, and
 * throws ProtocolError when the line is too long or not UTF-8. Bytes after the newline are ignored:
 * there is one message per connection.
 */
export class LineReader {
  #chunks: Buffer[] = []
  #size = 0

  push(chunk: Buffer): string | undefined {
    const nl = chunk.indexOf(0x0a)
    const take = nl === -1 ? chunk : chunk.subarray(0, nl)
    // Counted before it is kept: a client never makes us hold more than the bound.
    if (this.#size + take.length + 1 > MAX_LINE_BYTES) fail(`line longer than ${MAX_LINE_BYTES} bytes`)
    this.#chunks.push(take)
    this.#size += take.length
    if (nl === -1) return undefined
    const bytes = Buffer.concat(this.#chunks, this.#size)
    this.#chunks = []
    if (!isUtf8(bytes)) fail('line is not UTF-8')
    return bytes.toString('utf8')
  }
}
