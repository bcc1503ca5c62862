// Reads the Kubernetes API's protobuf lists (`Accept: application/vnd.kubernetes.protobuf`, which
// kube-apiserver serves for built-in kinds) into exactly the raw JSON shape convert.ts reads, so
// there stays one converter with one set of checks, whatever the wire format. Only the fields the
// converter reads are built; everything else (managedFields, most annotations, most of a pod's spec
// and status: about 95 % of a real Pod's bytes) is skipped by its length prefix, unread.
//
// The envelope (k8s.io/apimachinery/pkg/runtime/serializer/protobuf): the 4 bytes "k8s\0", then a
// runtime.Unknown { typeMeta = 1 (TypeMeta { apiVersion = 1, kind = 2 }), raw = 2 (the object's
// bytes), contentEncoding = 3, contentType = 4 } (apimachinery pkg/runtime/generated.proto).
//
// Field numbers, from the generated.proto files of k8s.io/api and k8s.io/apimachinery:
//   meta/v1 ListMeta { resourceVersion = 2, continue = 3 }
//   meta/v1 ObjectMeta { name = 1, namespace = 3, labels = 11 (map), annotations = 12 (map) }
//   meta/v1 LabelSelector { matchLabels = 1 (map), matchExpressions = 2 }
//   meta/v1 LabelSelectorRequirement { key = 1, operator = 2, values = 3 }
//   meta/v1 Status { status = 2, message = 3, reason = 4, code = 6 }
//   util/intstr IntOrString { type = 1 (0 int, 1 string), intVal = 2, strVal = 3 }
//   core/v1 PodList / NamespaceList / NodeList, networking/v1 NetworkPolicyList
//     { metadata = 1 (ListMeta), items = 2 }; Pod / Namespace / Node / NetworkPolicy { metadata = 1, spec = 2, status = 3 }
//   core/v1 PodSpec { containers = 2, nodeName = 10, hostNetwork = 11, initContainers = 20 }
//   core/v1 Container { ports = 6 }; ContainerPort { name = 1, containerPort = 3, protocol = 4 }
//   core/v1 PodStatus { phase = 1, podIP = 6, podIPs = 12 }; PodIP { ip = 1 }
//   core/v1 NodeSpec { podCIDR = 1, podCIDRs = 7 }; NodeStatus { addresses = 5 }; NodeAddress { type = 1, address = 2 }
//   networking/v1 NetworkPolicySpec { podSelector = 1, ingress = 2, egress = 3, policyTypes = 4 }
//   networking/v1 NetworkPolicyIngressRule { ports = 1, from = 2 }; NetworkPolicyEgressRule { ports = 1, to = 2 }
//   networking/v1 NetworkPolicyPeer { podSelector = 1, namespaceSelector = 2, ipBlock = 3 }
//   networking/v1 IPBlock { cidr = 1, except = 2 }; NetworkPolicyPort { protocol = 1, port = 2, endPort = 3 }
// Proto2 as Go writes it: a non-pointer field is always written, so an empty string is what JSON's
// `omitempty` leaves out, and is left out here too; the fields JSON writes even when empty
// (`json:"key"`: a selector requirement's key and operator, IPBlock.cidr, PodIP.ip, NodeAddress's
// type and address) and pointers (NetworkPolicyPort.protocol) keep "" (`keep`). A message that is
// present but empty (a `podSelector: {}`) is an empty object, as in JSON.
//
// Every length is checked against its enclosing message, wire types against the field's type:
// a truncated, garbled or hostile body throws (the reflector retries the list like a bad JSON
// one), never yields a half-read list. Varints, bounds and UTF-8 are protobufjs's Reader.
import protobuf from 'protobufjs/minimal.js'
import type { Kind } from './convert.js'
import { CINCH_PREFIX } from './convert.js'

export const PROTOBUF_TYPE = 'application/vnd.kubernetes.protobuf'
const MAGIC = Buffer.from('k8s\0', 'latin1')

/** The list kinds this file reads (the API serves ClusterNetworkPolicy, a CRD, as JSON only). */
export const PROTOBUF_KINDS: ReadonlySet<Kind> = new Set<Kind>(['Pod', 'Namespace', 'NetworkPolicy', 'Node'])

type Reader = protobuf.Reader
type Obj = Record<string, unknown>
const WIRE_VARINT = 0
const WIRE_LEN = 2

/** How one field is read; `schema` is a nested message (repeated with `many`). */
type Field =
  | { name: string; t: 'string'; keep?: boolean; shared?: boolean }
  | { name: string; t: 'bool' | 'int32' | 'int64' | 'strings' | 'labels' | 'cinchAnnotations' | 'intOrString' }
  | { name: string; t: 'message'; schema: Schema; many?: boolean; paths?: Map<string, string> }
type Schema = Record<number, Field>

const s = (name: string, keep = false): Field => ({ name, t: 'string', keep })
/** A string field whose values repeat across objects (see `shared`). */
const sh = (name: string, keep = false): Field => ({ name, t: 'string', keep, shared: true })
const m = (name: string, schema: Schema, many = false): Field => ({ name, t: 'message', schema, many })

const OBJECT_META: Schema = { 1: s('name'), 3: sh('namespace'), 11: { name: 'labels', t: 'labels' }, 12: { name: 'annotations', t: 'cinchAnnotations' } }
const LIST_META: Schema = { 2: s('resourceVersion'), 3: s('continue'), 4: { name: 'remainingItemCount', t: 'int64' } }

const CONTAINER: Schema = { 6: m('ports', { 1: sh('name'), 3: { name: 'containerPort', t: 'int32' }, 4: sh('protocol') }, true) }
const POD: Schema = {
  1: m('metadata', OBJECT_META),
  2: m('spec', { 2: m('containers', CONTAINER, true), 10: sh('nodeName'), 11: { name: 'hostNetwork', t: 'bool' }, 20: m('initContainers', CONTAINER, true) }),
  3: m('status', { 1: sh('phase'), 6: s('podIP'), 12: m('podIPs', { 1: s('ip', true) }, true) }),
}
const NAMESPACE: Schema = { 1: m('metadata', OBJECT_META) }
const NODE: Schema = {
  1: m('metadata', OBJECT_META),
  2: m('spec', { 1: s('podCIDR'), 7: { name: 'podCIDRs', t: 'strings' } }),
  3: m('status', { 5: m('addresses', { 1: s('type', true), 2: s('address', true) }, true) }),
}
const SELECTOR: Schema = {
  1: { name: 'matchLabels', t: 'labels' },
  2: m('matchExpressions', { 1: sh('key', true), 2: sh('operator', true), 3: { name: 'values', t: 'strings' } }, true),
}
const POLICY_PORT: Schema = { 1: sh('protocol', true), 2: { name: 'port', t: 'intOrString' }, 3: { name: 'endPort', t: 'int32' } }
const PEER: Schema = { 1: m('podSelector', SELECTOR), 2: m('namespaceSelector', SELECTOR), 3: m('ipBlock', { 1: s('cidr', true), 2: { name: 'except', t: 'strings' } }) }
const NETWORK_POLICY: Schema = {
  1: m('metadata', OBJECT_META),
  2: m('spec', {
    1: m('podSelector', SELECTOR),
    2: m('ingress', { 1: m('ports', POLICY_PORT, true), 2: m('from', PEER, true) }, true),
    3: m('egress', { 1: m('ports', POLICY_PORT, true), 2: m('to', PEER, true) }, true),
    4: { name: 'policyTypes', t: 'strings' },
  }),
}
const ITEM: Record<string, Schema> = { Pod: POD, Namespace: NAMESPACE, Node: NODE, NetworkPolicy: NETWORK_POLICY }
const STATUS: Schema = { 2: s('status'), 3: s('message'), 4: s('reason'), 6: { name: 'code', t: 'int32' } }

export interface DecodedList {
  items: Obj[]
  resourceVersion?: string
  continue?: string
  remainingItemCount?: number
}

/** A protobuf list body of `kind` (e.g. Pod for a PodList) as the JSON list's items and metadata. */
export function decodeList(body: Buffer, kind: Kind): DecodedList {
  const schema = ITEM[kind]
  if (!schema) throw new Error(`no protobuf decoder for ${kind} lists`)
  sharedStrings = new Map()
  try {
    return decodeItems(body, kind, schema)
  } finally {
    sharedStrings = undefined
  }
}

function decodeItems(body: Buffer, kind: Kind, schema: Schema): DecodedList {
  return envelope(body, `${kind}List`, (r, end) => {
    const out: DecodedList = { items: [] }
    while (r.pos < end) {
      const t = tag(r), field = t >>> 3, wire = t & 7
      if (field === 1 && wire === WIRE_LEN) {
        const meta = message(r, within(r, end, 'metadata'), LIST_META, 'metadata')
        if (typeof meta.resourceVersion === 'string') out.resourceVersion = meta.resourceVersion
        if (typeof meta.continue === 'string') out.continue = meta.continue
        if (typeof meta.remainingItemCount === 'number') out.remainingItemCount = meta.remainingItemCount
      } else if (field === 2 && wire === WIRE_LEN) {
        const i = out.items.length
        try {
          out.items.push(message(r, within(r, end, ITEM_PATH), schema, ITEM_PATH))
        } catch (err) {
          throw withIndex(err, i)
        }
      } else skip(r, field, wire, end, 'list')
    }
    return out
  })
}

// An item's fields are read under a path without its index, so that the paths of nested messages
// are a few strings built once (`childPath`), not one per message of every item; an error gets the
// index put back (`items[3].spec...`), the same text as if it had been there all along.
const ITEM_PATH = 'items[]'
function withIndex(err: unknown, i: number): unknown {
  const msg = (err as Error)?.message
  return typeof msg === 'string' && msg.startsWith(ITEM_PATH) ? new Error(`items[${i}]${msg.slice(ITEM_PATH.length)}`) : err
}

/** A protobuf metav1.Status (an error response) as its JSON fields. */
export function decodeStatus(body: Buffer): { message?: string; reason?: string; code?: number } {
  return envelope(body, 'Status', (r, end) => message(r, end, STATUS, 'Status'))
}

export function isProtobuf(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase() === PROTOBUF_TYPE
}

function envelope<T>(body: Buffer, kind: string, read: (r: Reader, end: number) => T): T {
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error(`protobuf ${kind}: no "k8s\\0" prefix`)
  const r = protobuf.Reader.create(body)
  r.pos = MAGIC.length
  try {
    let typeKind: string | undefined
    let raw: [number, number] | undefined
    let encoding = ''
    while (r.pos < r.len) {
      const t = tag(r), field = t >>> 3, wire = t & 7
      if (field === 1 && wire === WIRE_LEN) {
        const tm = message(r, within(r, r.len, 'typeMeta'), { 2: s('kind') }, 'typeMeta')
        typeKind = tm.kind as string | undefined
      } else if (field === 2 && wire === WIRE_LEN) {
        const end = within(r, r.len, 'raw')
        raw = [r.pos, end]
        r.pos = end
      } else if (field === 3 && wire === WIRE_LEN) {
        encoding = r.string()
      } else skip(r, field, wire, r.len, 'envelope')
    }
    if (typeKind !== kind) throw new Error(`expected a ${kind}, got ${JSON.stringify(typeKind ?? null)}`)
    // The server never compresses the inner object (contentEncoding is for a future use).
    if (encoding) throw new Error(`unsupported contentEncoding ${JSON.stringify(encoding.slice(0, 50))}`)
    if (!raw) throw new Error('no raw object')
    r.pos = raw[0]
    const out = read(r, raw[1])
    if (r.pos !== raw[1]) throw new Error('the object overruns its length')
    return out
  } catch (err) {
    throw new Error(`protobuf ${kind}: ${(err as Error).message} (at byte ${r.pos} of ${body.length})`, { cause: err })
  }
}

/**
 * One copy of each repeated string of a page: label keys and values, namespaces, node names, port
 * names and protocols, selector keys and operators. The converted objects keep these, and 30k pods'
 * labels alone were ~240k strings of a few dozen distinct ones, each copied by the scavenger and
 * marked by every full GC for as long as the agent runs. Per page, so the table never outlives it.
 */
let sharedStrings: Map<string, string> | undefined
function shared(v: string): string {
  if (!sharedStrings) return v
  const known = sharedStrings.get(v)
  if (known !== undefined) return known
  sharedStrings.set(v, v)
  return v
}

/** The reader's buffer is the body, a Buffer (Reader.create of a Buffer keeps it). */
const text = (r: Reader, start: number, end: number) => (r.buf as Buffer).toString('utf8', start, end)

/** The next tag (field number << 3 | wire type); a number, not an object: this runs ~100 times a pod. */
function tag(r: Reader): number {
  const t = r.uint32()
  if (t >>> 3 === 0) throw new Error('field number 0')
  return t
}

/**
 * Reads a length prefix; the end of the value it announces, which must lie within `end`. The path
 * of a field is `path` + `.name`, joined only for an error: a pod has ~100 fields, and 30k pods'
 * paths built as they were read were 3 million strings (~12 % of decoding them).
 */
function within(r: Reader, end: number, path: string, name?: string): number {
  const len = r.uint32()
  const valueEnd = r.pos + len
  if (valueEnd > end) throw new Error(`${join(path, name)}: length ${len} runs past its message`)
  return valueEnd
}

const join = (path: string, name: string | undefined) => (name === undefined ? path : `${path}.${name}`)

/** Skips a field not read; groups (wire types 3, 4), which the API never writes, are refused. */
function skip(r: Reader, field: number, wire: number, end: number, path: string): void {
  if (wire === WIRE_LEN) {
    // within(), inlined: the path is joined only for an error (most of a pod's bytes are skipped).
    const len = r.uint32()
    const valueEnd = r.pos + len
    if (valueEnd > end) throw new Error(`${path} field ${field}: length ${len} runs past its message`)
    r.pos = valueEnd
  }
  else if (wire === WIRE_VARINT || wire === 1 || wire === 5) r.skipType(wire)
  else throw new Error(`${path} field ${field}: wire type ${wire}`)
}

function message(r: Reader, end: number, schema: Schema, path: string, into: Obj = {}): Obj {
  while (r.pos < end) {
    const t = tag(r), field = t >>> 3, wire = t & 7
    const f = schema[field]
    if (!f) {
      skip(r, field, wire, end, path)
      continue
    }
    const want = f.t === 'bool' || f.t === 'int32' || f.t === 'int64' ? WIRE_VARINT : WIRE_LEN
    if (wire !== want) throw new Error(`${join(path, f.name)}: wire type ${wire}, expected ${want}`)
    switch (f.t) {
      case 'string': {
        const e = within(r, end, path, f.name)
        if (e > r.pos || f.keep) into[f.name] = f.shared ? shared(text(r, r.pos, e)) : text(r, r.pos, e)
        else delete into[f.name] // the last occurrence wins, an empty one as absent
        r.pos = e
        break
      }
      case 'bool': if (r.bool()) into[f.name] = true; else delete into[f.name]; break // omitempty
      case 'int32': into[f.name] = r.int32(); break
      // As a number (protobufjs gives a Long where the long package is installed): exact below 2^53.
      case 'int64': { const v = r.int64() as unknown; into[f.name] = typeof v === 'number' ? v : (v as { toNumber(): number }).toNumber(); break }
      case 'strings': {
        const e = within(r, end, path, f.name)
        append(into, f.name, shared(text(r, r.pos, e)))
        r.pos = e
        break
      }
      case 'labels': case 'cinchAnnotations': {
        entry(r, within(r, end, path, f.name), path, f.name)
        // Of the annotations only cinch.dev/ keys are read: the others (a pod's last-applied
        // configuration, prometheus.io/...) are not even made strings. An ASCII prefix in the bytes
        // is the same prefix in the text (UTF-8 decodes ASCII bytes alone, and to nothing else).
        if (f.t === 'cinchAnnotations' && !hasPrefix(r, entryAt.key0, entryAt.key1, CINCH_PREFIX_BYTES)) break
        const key = shared(text(r, entryAt.key0, entryAt.key1))
        const map = (into[f.name] ??= {}) as Obj
        const value = shared(text(r, entryAt.value0, entryAt.value1))
        // A key such as `__proto__` stays an ordinary entry, as JSON.parse makes it.
        if (key === '__proto__') Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true })
        else map[key] = value
        break
      }
      case 'intOrString': into[f.name] = intOrString(r, within(r, end, path, f.name), path, f.name); break
      case 'message': {
        const e = within(r, end, path, f.name)
        const p = childPath(f, path)
        if (f.many) append(into, f.name, message(r, e, f.schema, p))
        // A message field seen twice merges, as protobuf's decoders do.
        else into[f.name] = message(r, e, f.schema, p, (into[f.name] as Obj | undefined) ?? {})
        break
      }
    }
  }
  if (r.pos !== end) throw new Error(`${path}: a field overruns its message`)
  return into
}

/**
 * Adds `v` to the repeated field `name`. Most repeated fields hold one to three values (containers,
 * ports, peers, podIPs), and push on a short array grows its store to 17 slots or more: the first
 * three are array literals of exactly their values (these arrays live only until conversion, but
 * 400k of them were a third of what decoding allocated).
 */
function append(into: Obj, name: string, v: unknown): void {
  const cur = into[name] as unknown[] | undefined
  if (cur === undefined) into[name] = [v]
  else if (cur.length === 1) into[name] = [cur[0], v]
  else if (cur.length === 2) into[name] = [cur[0], cur[1], v]
  else cur.push(v)
}

/** `path.name` for a message field, built once per field and parent path (both from a fixed set). */
function childPath(f: Field & { t: 'message' }, path: string): string {
  const paths = (f.paths ??= new Map())
  let p = paths.get(path)
  if (p === undefined) paths.set(path, (p = `${path}.${f.name}`))
  return p
}

/**
 * Where the last entry() found its key and value (byte ranges of the body): a map entry is read ~350k
 * times for 30k pods and policies, and an object and an array returned per entry were ~10 % of
 * everything the lists allocated. Read by the caller before the next entry().
 */
const entryAt = { key0: 0, key1: 0, value0: 0, value1: 0 }
const CINCH_PREFIX_BYTES = Buffer.from(CINCH_PREFIX, 'utf8')

/**
 * One map<string, string> entry { key = 1, value = 2 }: where its key and its value lie, in
 * `entryAt` (decoded by the caller only if kept: of the annotations, only cinch.dev/ ones, which
 * convert.ts reads). An absent key or value is empty; the last occurrence wins.
 */
function entry(r: Reader, end: number, path: string, name: string): void {
  entryAt.key0 = entryAt.key1 = entryAt.value0 = entryAt.value1 = 0
  while (r.pos < end) {
    const t = tag(r), field = t >>> 3, wire = t & 7
    if ((field === 1 || field === 2) && wire === WIRE_LEN) {
      const e = within(r, end, path, name)
      if (field === 1) (entryAt.key0 = r.pos, entryAt.key1 = e)
      else (entryAt.value0 = r.pos, entryAt.value1 = e)
      r.pos = e
    } else skip(r, field, wire, end, join(path, name))
  }
  if (r.pos !== end) throw new Error(`${join(path, name)}: an entry overruns its length`)
}

/** Whether the bytes start..end of the body begin with `prefix`. */
function hasPrefix(r: Reader, start: number, end: number, prefix: Buffer): boolean {
  if (end - start < prefix.length) return false
  const buf = r.buf
  for (let i = 0; i < prefix.length; i++) if (buf[start + i] !== prefix[i]) return false
  return true
}

/** IntOrString as JSON writes it: a number (type 0) or a string (type 1). */
function intOrString(r: Reader, end: number, path: string, name: string): number | string {
  let type = 0
  let intVal = 0
  let strVal = ''
  while (r.pos < end) {
    const t = tag(r), field = t >>> 3, wire = t & 7
    if (field === 1 && wire === WIRE_VARINT) type = r.int64() as unknown as number
    else if (field === 2 && wire === WIRE_VARINT) intVal = r.int32()
    else if (field === 3 && wire === WIRE_LEN) {
      const e = within(r, end, path, name)
      strVal = text(r, r.pos, e)
      r.pos = e
    } else skip(r, field, wire, end, join(path, name))
  }
  if (r.pos !== end) throw new Error(`${join(path, name)}: a field overruns its message`)
  // int64 reads as a Long when the `long` package is present, a number otherwise.
  const t = Number(typeof type === 'object' && type !== null ? (type as { toNumber(): number }).toNumber() : type)
  if (t === 0) return intVal
  if (t === 1) return strVal
  throw new Error(`${join(path, name)}: IntOrString type ${t}`)
}
