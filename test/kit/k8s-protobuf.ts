// Encodes Kubernetes objects, given as the JSON the fake API server serves, into the protobuf
// kube-apiserver writes for `Accept: application/vnd.kubernetes.protobuf` (the "k8s\0" + runtime.Unknown
// envelope around a PodList, NamespaceList, NodeList or NetworkPolicyList). Every field of the
// objects the tests and benches create is encoded (managedFields, annotations, probes, volumes,
// statuses), so a protobuf list is as large as a real one; a JSON field this table does not know
// throws rather than vanishing from the bytes. Field numbers: k8s.io/api core/v1 and networking/v1
// generated.proto, k8s.io/apimachinery pkg/apis/meta/v1, pkg/runtime, pkg/util/intstr and
// pkg/api/resource generated.proto. JSON-inlined Go structs (a Probe's ProbeHandler, a Volume's
// VolumeSource, a LocalObjectReference) are their own message in protobuf: `inline` below.
import protobuf from 'protobufjs/minimal.js'

type Writer = protobuf.Writer
const MAGIC = Buffer.from('k8s\0', 'latin1')
type Scalar = 'string' | 'bool' | 'int32' | 'int64' | 'strings' | 'map' | 'quantities' | 'time' | 'fieldsV1' | 'intOrString' | 'bytes'
type F = { no: number; t: Scalar } | { no: number; t: 'message'; schema: S; many?: boolean }
interface S { fields: Record<string, F>; inline?: { no: number; schema: S }[] }

const str = (no: number): F => ({ no, t: 'string' })
const bool = (no: number): F => ({ no, t: 'bool' })
const i32 = (no: number): F => ({ no, t: 'int32' })
const i64 = (no: number): F => ({ no, t: 'int64' })
const strs = (no: number): F => ({ no, t: 'strings' })
const map = (no: number): F => ({ no, t: 'map' })
const time = (no: number): F => ({ no, t: 'time' })
const msg = (no: number, schema: S, many = false): F => ({ no, t: 'message', schema, many })
const S = (fields: Record<string, F>, inline?: { no: number; schema: S }[]): S => ({ fields, ...(inline ? { inline } : {}) })

// meta/v1
const OWNER_REF = S({ kind: str(1), name: str(3), uid: str(4), apiVersion: str(5), controller: bool(6), blockOwnerDeletion: bool(7) })
const MANAGED_FIELDS = S({ manager: str(1), operation: str(2), apiVersion: str(3), time: time(4), fieldsType: str(6), fieldsV1: { no: 7, t: 'fieldsV1' }, subresource: str(8) })
const OBJECT_META = S({
  name: str(1), generateName: str(2), namespace: str(3), selfLink: str(4), uid: str(5), resourceVersion: str(6), generation: i64(7),
  creationTimestamp: time(8), deletionTimestamp: time(9), deletionGracePeriodSeconds: i64(10), labels: map(11), annotations: map(12),
  ownerReferences: msg(13, OWNER_REF, true), finalizers: strs(14), managedFields: msg(17, MANAGED_FIELDS, true),
})
const LIST_META = S({ selfLink: str(1), resourceVersion: str(2), continue: str(3), remainingItemCount: i64(4) })
const SELECTOR = S({ matchLabels: map(1), matchExpressions: msg(2, S({ key: str(1), operator: str(2), values: strs(3) }), true) })
const STATUS = S({ metadata: msg(1, LIST_META), status: str(2), message: str(3), reason: str(4), code: i32(6) })

// core/v1
const LOCAL_REF = S({ name: str(1) })
const KEY_TO_PATH = S({ key: str(1), path: str(2), mode: i32(3) })
const CONFIG_MAP_VOLUME = S({ items: msg(2, KEY_TO_PATH, true), defaultMode: i32(3), optional: bool(4) }, [{ no: 1, schema: LOCAL_REF }])
const SECRET_VOLUME = S({ secretName: str(1), items: msg(2, KEY_TO_PATH, true), defaultMode: i32(3), optional: bool(4) })
const PROJECTION = S({
  configMap: msg(3, S({ items: msg(2, KEY_TO_PATH, true), optional: bool(4) }, [{ no: 1, schema: LOCAL_REF }])),
  serviceAccountToken: msg(4, S({ audience: str(1), expirationSeconds: i64(2), path: str(3) })),
})
const VOLUME_SOURCE = S({
  hostPath: msg(1, S({ path: str(1), type: str(2) })), emptyDir: msg(2, S({ medium: str(1) })), secret: msg(6, SECRET_VOLUME),
  configMap: msg(19, CONFIG_MAP_VOLUME), projected: msg(26, S({ sources: msg(1, PROJECTION, true), defaultMode: i32(2) })),
})
const VOLUME = S({ name: str(1) }, [{ no: 2, schema: VOLUME_SOURCE }])
const HTTP_GET = S({ path: str(1), port: { no: 2, t: 'intOrString' }, host: str(3), scheme: str(4) })
const PROBE_HANDLER = S({ exec: msg(1, S({ command: strs(1) })), httpGet: msg(2, HTTP_GET), tcpSocket: msg(3, S({ port: { no: 1, t: 'intOrString' }, host: str(2) })) })
const PROBE = S({ initialDelaySeconds: i32(2), timeoutSeconds: i32(3), periodSeconds: i32(4), successThreshold: i32(5), failureThreshold: i32(6), terminationGracePeriodSeconds: i64(7) }, [{ no: 1, schema: PROBE_HANDLER }])
const CONTAINER_PORT = S({ name: str(1), hostPort: i32(2), containerPort: i32(3), protocol: str(4), hostIP: str(5) })
const ENV_VAR = S({ name: str(1), value: str(2), valueFrom: msg(3, S({ fieldRef: msg(1, S({ apiVersion: str(1), fieldPath: str(2) })) })) })
const RESOURCES = S({ limits: { no: 1, t: 'quantities' }, requests: { no: 2, t: 'quantities' } })
const VOLUME_MOUNT = S({ name: str(1), readOnly: bool(2), mountPath: str(3), subPath: str(4), mountPropagation: str(5) })
const CONTAINER = S({
  name: str(1), image: str(2), command: strs(3), args: strs(4), workingDir: str(5), ports: msg(6, CONTAINER_PORT, true), env: msg(7, ENV_VAR, true),
  resources: msg(8, RESOURCES), volumeMounts: msg(9, VOLUME_MOUNT, true), livenessProbe: msg(10, PROBE), readinessProbe: msg(11, PROBE),
  terminationMessagePath: str(13), imagePullPolicy: str(14), terminationMessagePolicy: str(20), startupProbe: msg(22, PROBE),
})
const TOLERATION = S({ key: str(1), operator: str(2), value: str(3), effect: str(4), tolerationSeconds: i64(5) })
const POD_SPEC = S({
  volumes: msg(1, VOLUME, true), containers: msg(2, CONTAINER, true), restartPolicy: str(3), terminationGracePeriodSeconds: i64(4),
  activeDeadlineSeconds: i64(5), dnsPolicy: str(6), nodeSelector: map(7), serviceAccountName: str(8), serviceAccount: str(9), nodeName: str(10),
  hostNetwork: bool(11), hostPID: bool(12), hostIPC: bool(13), securityContext: msg(14, S({ runAsUser: i64(2), runAsNonRoot: bool(3), fsGroup: i64(5) })),
  hostname: str(16), subdomain: str(17), schedulerName: str(19), initContainers: msg(20, CONTAINER, true), automountServiceAccountToken: bool(21),
  tolerations: msg(22, TOLERATION, true), priorityClassName: str(24), priority: i32(25), enableServiceLinks: bool(30), preemptionPolicy: str(31),
})
const CONTAINER_STATE = S({
  waiting: msg(1, S({ reason: str(1), message: str(2) })), running: msg(2, S({ startedAt: time(1) })),
  terminated: msg(3, S({ exitCode: i32(1), signal: i32(2), reason: str(3), message: str(4), startedAt: time(5), finishedAt: time(6), containerID: str(7) })),
})
const CONTAINER_STATUS = S({
  name: str(1), state: msg(2, CONTAINER_STATE), lastState: msg(3, CONTAINER_STATE), ready: bool(4), restartCount: i32(5), image: str(6), imageID: str(7),
  containerID: str(8), started: bool(9),
})
const POD_STATUS = S({
  phase: str(1), conditions: msg(2, S({ type: str(1), status: str(2), lastProbeTime: time(3), lastTransitionTime: time(4), reason: str(5), message: str(6) }), true),
  message: str(3), reason: str(4), hostIP: str(5), podIP: str(6), startTime: time(7), containerStatuses: msg(8, CONTAINER_STATUS, true), qosClass: str(9),
  initContainerStatuses: msg(10, CONTAINER_STATUS, true), nominatedNodeName: str(11), podIPs: msg(12, S({ ip: str(1) }), true), hostIPs: msg(16, S({ ip: str(1) }), true),
})
const POD = S({ metadata: msg(1, OBJECT_META), spec: msg(2, POD_SPEC), status: msg(3, POD_STATUS) })
const NAMESPACE = S({ metadata: msg(1, OBJECT_META), spec: msg(2, S({ finalizers: strs(1) })), status: msg(3, S({ phase: str(1) })) })
const NODE = S({
  metadata: msg(1, OBJECT_META),
  spec: msg(2, S({ podCIDR: str(1), providerID: str(3), unschedulable: bool(4), podCIDRs: strs(7) })),
  status: msg(3, S({ capacity: { no: 1, t: 'quantities' }, allocatable: { no: 2, t: 'quantities' }, phase: str(3), addresses: msg(5, S({ type: str(1), address: str(2) }), true) })),
})

// networking/v1
const POLICY_PORT = S({ protocol: str(1), port: { no: 2, t: 'intOrString' }, endPort: i32(3) })
const PEER = S({ podSelector: msg(1, SELECTOR), namespaceSelector: msg(2, SELECTOR), ipBlock: msg(3, S({ cidr: str(1), except: strs(2) })) })
const NETWORK_POLICY = S({
  metadata: msg(1, OBJECT_META),
  spec: msg(2, S({
    podSelector: msg(1, SELECTOR), ingress: msg(2, S({ ports: msg(1, POLICY_PORT, true), from: msg(2, PEER, true) }), true),
    egress: msg(3, S({ ports: msg(1, POLICY_PORT, true), to: msg(2, PEER, true) }), true), policyTypes: strs(4),
  })),
})

const KINDS: Record<string, S> = { Pod: POD, Namespace: NAMESPACE, Node: NODE, NetworkPolicy: NETWORK_POLICY }
/** The kinds this file encodes (the built-in kinds the fake serves). */
export const protobufKinds = new Set(Object.keys(KINDS))

/** One object of `kind` (its JSON, kind and apiVersion ignored) as its message bytes, without envelope. */
export function encodeObject(kind: string, o: Record<string, unknown>): Uint8Array {
  const schema = KINDS[kind]
  if (!schema) throw new Error(`the fake cannot encode ${kind} as protobuf`)
  const { kind: _k, apiVersion: _a, ...rest } = o
  const w = protobuf.Writer.create()
  message(w, rest, schema, kind)
  return w.finish()
}

/** A list: the envelope around { metadata = 1 (ListMeta), items = 2 } of already encoded items. */
export function encodeList(apiVersion: string, listKind: string, metadata: Record<string, unknown>, items: Uint8Array[]): Buffer {
  return Buffer.concat(listParts(apiVersion, listKind, metadata, items))
}

/**
 * The same list as the pieces to write one after the other: the items' own bytes and a few small
 * headers, nothing copied. A 2 MB page assembled (through a growing protobufjs Writer, copied ~8
 * times; even one Buffer.concat) cost the bench's process, on the same 2 cores, more than the
 * agent's decoding: fresh external memory made its ~2 GB heap collect again and again.
 */
export function listParts(apiVersion: string, listKind: string, metadata: Record<string, unknown>, items: Uint8Array[]): Uint8Array[] {
  const meta = protobuf.Writer.create()
  meta.uint32((1 << 3) | 2).fork()
  message(meta, metadata, LIST_META, 'metadata')
  meta.ldelim()
  const parts: Uint8Array[] = [meta.finish()]
  for (const item of items) parts.push(protobuf.Writer.create().uint32((2 << 3) | 2).uint32(item.length).finish(), item)
  const rawLength = parts.reduce((n, p) => n + p.length, 0)
  const head = protobuf.Writer.create()
  head.uint32((1 << 3) | 2).fork().uint32((1 << 3) | 2).string(apiVersion).uint32((2 << 3) | 2).string(listKind).ldelim()
  head.uint32((2 << 3) | 2).uint32(rawLength)
  // Go writes the empty contentEncoding and contentType too (non-pointer strings).
  return [MAGIC, head.finish(), ...parts, TAIL]
}
const TAIL = Uint8Array.from([(3 << 3) | 2, 0, (4 << 3) | 2, 0])

/** A metav1.Status (an error response). */
export function encodeStatus(status: Record<string, unknown>): Buffer {
  const { kind: _k, apiVersion: _a, ...rest } = status
  const w = protobuf.Writer.create()
  message(w, rest, STATUS, 'Status')
  return envelope('v1', 'Status', w.finish())
}

/** "k8s\0" + runtime.Unknown { typeMeta = 1 { apiVersion = 1, kind = 2 }, raw = 2, contentEncoding = 3, contentType = 4 }. */
export function envelope(apiVersion: string, kind: string, raw: Uint8Array): Buffer {
  const w = protobuf.Writer.create()
  w.uint32((1 << 3) | 2).fork().uint32((1 << 3) | 2).string(apiVersion).uint32((2 << 3) | 2).string(kind).ldelim()
  w.uint32((2 << 3) | 2).bytes(raw)
  // Go writes the empty contentEncoding and contentType too (non-pointer strings).
  w.uint32((3 << 3) | 2).string('').uint32((4 << 3) | 2).string('')
  return Buffer.concat([MAGIC, w.finish()])
}

function message(w: Writer, o: Record<string, unknown>, schema: S, path: string): void {
  const inlined = new Map<number, Record<string, unknown>>()
  for (const [k, v] of Object.entries(o)) {
    if (v === null || v === undefined) continue
    const f = schema.fields[k]
    if (f) {
      field(w, f, v, `${path}.${k}`)
      continue
    }
    const inl = schema.inline?.find((x) => x.schema.fields[k])
    if (!inl) throw new Error(`the fake cannot encode ${path}.${k} as protobuf (add it to test/kit/k8s-protobuf.ts)`)
    let bag = inlined.get(inl.no)
    if (!bag) inlined.set(inl.no, (bag = {}))
    bag[k] = v
  }
  for (const inl of schema.inline ?? []) {
    // A non-pointer embedded struct: Go writes it even when empty.
    w.uint32((inl.no << 3) | 2).fork()
    message(w, inlined.get(inl.no) ?? {}, inl.schema, path)
    w.ldelim()
  }
}

function field(w: Writer, f: F, v: unknown, path: string): void {
  const len = (f.no << 3) | 2
  const varint = f.no << 3
  const want = (ok: boolean, what: string) => {
    if (!ok) throw new Error(`${path}: expected ${what}, got ${JSON.stringify(v)}`)
  }
  switch (f.t) {
    case 'string': want(typeof v === 'string', 'a string'); w.uint32(len).string(v as string); break
    case 'bytes': w.uint32(len).bytes(v as Uint8Array); break
    case 'bool': want(typeof v === 'boolean', 'a boolean'); w.uint32(varint).bool(v as boolean); break
    case 'int32': want(Number.isInteger(v), 'an integer'); w.uint32(varint).int32(v as number); break
    case 'int64': want(Number.isInteger(v), 'an integer'); w.uint32(varint).int64(v as number); break
    case 'strings': want(Array.isArray(v), 'a list'); for (const x of v as string[]) w.uint32(len).string(x); break
    case 'map': case 'quantities':
      want(typeof v === 'object' && !Array.isArray(v), 'a map')
      for (const [k, x] of Object.entries(v as object)) {
        w.uint32(len).fork().uint32((1 << 3) | 2).string(k)
        // Quantity { string = 1 }
        if (f.t === 'quantities') w.uint32((2 << 3) | 2).fork().uint32((1 << 3) | 2).string(String(x)).ldelim()
        else w.uint32((2 << 3) | 2).string(x as string)
        w.ldelim()
      }
      break
    case 'time': {
      // meta/v1 Time { seconds = 1, nanos = 2 }
      const ms = Date.parse(v as string)
      want(Number.isFinite(ms), 'an RFC 3339 time')
      w.uint32(len).fork().uint32(1 << 3).int64(Math.floor(ms / 1000)).uint32(2 << 3).int32((ms % 1000) * 1e6).ldelim()
      break
    }
    // meta/v1 FieldsV1 { Raw = 1 }: the JSON of the field set, as bytes.
    case 'fieldsV1': w.uint32(len).fork().uint32((1 << 3) | 2).bytes(Buffer.from(JSON.stringify(v))).ldelim(); break
    case 'intOrString':
      // util/intstr IntOrString { type = 1 (0 int, 1 string), intVal = 2, strVal = 3 }
      if (typeof v === 'string') w.uint32(len).fork().uint32(1 << 3).int64(1).uint32(2 << 3).int32(0).uint32((3 << 3) | 2).string(v).ldelim()
      else (want(Number.isInteger(v), 'an integer or a string'), w.uint32(len).fork().uint32(1 << 3).int64(0).uint32(2 << 3).int32(v as number).uint32((3 << 3) | 2).string('').ldelim())
      break
    case 'message':
      if (f.many) {
        want(Array.isArray(v), 'a list')
        ;(v as Record<string, unknown>[]).forEach((x, i) => (w.uint32(len).fork(), message(w, x, f.schema, `${path}[${i}]`), w.ldelim()))
      } else {
        want(typeof v === 'object' && !Array.isArray(v), 'an object')
        w.uint32(len).fork()
        message(w, v as Record<string, unknown>, f.schema, path)
        w.ldelim()
      }
      break
  }
}
