// Checks a manifest against the Kubernetes API's typed models, strictly: @kubernetes/client-node's
// models are generated from the API's OpenAPI document, and each carries its fields with their
// types (`V1DaemonSetSpec.getAttributeTypeMap()`: name, JSON name, type, format). A field the model
// does not have is an error (kubectl apply --validate=strict refuses it too, and a typo such as
// `hostNetwrk` would otherwise be dropped by the API server without a word), and so is a value
// of the wrong type. Required fields and enum values are not in the type maps: the tests beside
// this file check the ones cinch depends on.
import * as k8s from '@kubernetes/client-node'

interface Attribute { name: string; baseName: string; type: string; format: string }
type Model = { getAttributeTypeMap(): Attribute[] }

/** apiVersion of each kind the manifests use, and its model. */
export const KINDS: Record<string, { apiVersion: string; model: string }> = {
  Namespace: { apiVersion: 'v1', model: 'V1Namespace' },
  ServiceAccount: { apiVersion: 'v1', model: 'V1ServiceAccount' },
  ConfigMap: { apiVersion: 'v1', model: 'V1ConfigMap' },
  DaemonSet: { apiVersion: 'apps/v1', model: 'V1DaemonSet' },
  ClusterRole: { apiVersion: 'rbac.authorization.k8s.io/v1', model: 'V1ClusterRole' },
  ClusterRoleBinding: { apiVersion: 'rbac.authorization.k8s.io/v1', model: 'V1ClusterRoleBinding' },
}

const models = k8s as unknown as Record<string, Model | undefined>
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function checkValue(value: unknown, type: string, format: string, path: string, errors: string[]): void {
  const arr = /^Array<(.+)>$/.exec(type)
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type)
  if (arr) {
    if (!Array.isArray(value)) return void errors.push(`${path}: expected an array (${type})`)
    value.forEach((v, i) => checkValue(v, arr[1]!, '', `${path}[${i}]`, errors))
  } else if (map) {
    if (!isObject(value)) return void errors.push(`${path}: expected a map (${type})`)
    for (const [k, v] of Object.entries(value)) checkValue(v, map[1]!, '', `${path}.${k}`, errors)
  } else if (type === 'string') {
    if (typeof value !== 'string') errors.push(`${path}: expected a string, got ${JSON.stringify(value)}`)
  } else if (type === 'number') {
    if (typeof value !== 'number' || (format.startsWith('int') && !Number.isInteger(value))) errors.push(`${path}: expected ${format || 'a number'}, got ${JSON.stringify(value)}`)
  } else if (type === 'boolean') {
    if (typeof value !== 'boolean') errors.push(`${path}: expected a boolean, got ${JSON.stringify(value)}`)
  } else if (type === 'IntOrString') {
    if (typeof value !== 'string' && !Number.isInteger(value)) errors.push(`${path}: expected an integer or a string, got ${JSON.stringify(value)}`)
  } else if (type === 'Date') {
    if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) errors.push(`${path}: expected a timestamp`)
  } else if (type === 'any' || type === 'object') {
    // Free-form in the API (e.g. RawExtension): nothing to check.
  } else {
    const model = models[type]
    if (!model?.getAttributeTypeMap) return void errors.push(`${path}: no model ${type} in @kubernetes/client-node`)
    if (!isObject(value)) return void errors.push(`${path}: expected an object (${type})`)
    const attrs = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a]))
    for (const [key, v] of Object.entries(value)) {
      const a = attrs.get(key)
      if (!a) errors.push(`${path}.${key}: unknown field in ${type}`)
      else if (v !== null) checkValue(v, a.type, a.format, `${path}.${key}`, errors)
    }
  }
}

/** Every problem of `obj` against its kind's model; empty when it conforms. */
export function checkManifest(obj: unknown): string[] {
  if (!isObject(obj)) return ['document: not an object']
  const kind = KINDS[String(obj.kind)]
  if (!kind) return [`kind ${JSON.stringify(obj.kind)}: not one cinch's manifests use (${Object.keys(KINDS).join(', ')})`]
  const errors: string[] = []
  if (obj.apiVersion !== kind.apiVersion) errors.push(`apiVersion: ${obj.kind} is served as ${kind.apiVersion}, not ${JSON.stringify(obj.apiVersion)}`)
  checkValue(obj, kind.model, '', String(obj.kind), errors)
  return errors
}
