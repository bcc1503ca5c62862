// Config validation with ajv standalone validators compiled at build time (build/compile-schema.mjs).
// A schema failure becomes code 7 with the offending key spelled as an operator writes it:
// "ipam.ranges[0][0].subnet: must be string".
import { CniError, ErrorCode } from './errors.js'

interface AjvError {
  instancePath: string
  keyword: string
  message?: string
  params: Record<string, unknown>
}

export interface AjvValidateFn {
  (data: unknown): boolean
  errors?: AjvError[] | null
}

/** "/ranges/0/0/subnet" -> "ranges[0][0].subnet", under an optional prefix. */
export function jsonPointerToPath(pointer: string, prefix = ''): string {
  let path = prefix
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    path += /^\d+$/.test(seg) ? `[${seg}]` : path ? `.${seg}` : seg
  }
  return path
}

function describeAjvError(e: AjvError, prefix: string): string {
  if (e.keyword === 'required') {
    const key = jsonPointerToPath(`${e.instancePath}/${String(e.params.missingProperty)}`, prefix)
    return `${key}: is required`
  }
  const where = jsonPointerToPath(e.instancePath, prefix) || '(config)'
  if (e.keyword === 'enum' && Array.isArray(e.params.allowedValues)) {
    return `${where}: must be one of ${e.params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`
  }
  return `${where}: ${e.message ?? e.keyword}`
}

/**
 * Validates `raw` in place (ajv fills in schema defaults) and returns it typed, or throws code 7
 * naming every offending key.
 */
export function validateConfig<T>(validate: AjvValidateFn, raw: unknown, where = ''): T {
  if (validate(raw)) return raw as T
  const errors = validate.errors ?? []
  // anyOf/oneOf report every branch; the branch errors name the keys, the summary line does not.
  const specific = errors.filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf' && e.keyword !== 'if')
  const messages = [...new Set((specific.length ? specific : errors).map((e) => describeAjvError(e, where)))]
  throw new CniError(ErrorCode.InvalidConfig, `invalid network config: ${messages[0]}`, messages.join('; '))
}

/** For cross-field rules checked after the schema: code 7 with the key named first. */
export function invalidConfig(key: string, problem: string): CniError {
  return new CniError(ErrorCode.InvalidConfig, `invalid network config: ${key}: ${problem}`, `${key}: ${problem}`)
}
