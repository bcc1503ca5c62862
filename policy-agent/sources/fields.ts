// Typed readers for Kubernetes objects as JSON: each returns the value with its static type or
// throws naming the field's path, so a field of an unexpected type makes its object invalid instead
// of reading as absent (an `ingress[0].from` that is not a list must never mean "from anywhere").
// Absent means `undefined` or `null`: the API server omits empty fields, YAML writes `null`.

export type Json = unknown
type Obj = Record<string, Json>

const typeOf = (v: Json) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v)
const fail = (path: string, want: string, v: Json): never => {
  throw new Error(`${path}: expected ${want}, got ${typeOf(v)}${typeof v === 'string' || typeof v === 'number' ? ` ${JSON.stringify(v)}` : ''}`)
}
const absent = (v: Json): v is undefined | null => v === undefined || v === null

// Paths are joined only to explain an error. A converter's run inside `explained` builds none (a
// field's path is its parent's): 30k policies' item and field paths were ~3 million strings,
// ~15 % of everything the lists allocated. If that run throws, it is run again with every path
// built, and that run's error (the same failure: conversion reads only its input) is thrown.
let lazyPaths = false

/** `path` + `key` (`.field`), or just `path` while paths are not needed. */
export const at = (path: string, key: string): string => (lazyPaths ? path : path + key)

/** `convert()` without building paths; on an error, again with them, for the error's text. */
export function explained<T>(convert: () => T): T {
  if (lazyPaths) return convert()
  lazyPaths = true
  try {
    return convert()
  } catch (first) {
    lazyPaths = false
    convert() // throws the same failure, with its path
    throw first // not reached while conversion is pure; never swallow the first error
  } finally {
    lazyPaths = false
  }
}

export function obj(v: Json, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'an object', v)
  return v as Obj
}
export const optObj = (v: Json, path: string): Obj | undefined => (absent(v) ? undefined : obj(v, path))

export function str(v: Json, path: string): string {
  if (typeof v !== 'string') fail(path, 'a string', v)
  return v as string
}
export const optStr = (v: Json, path: string): string | undefined => (absent(v) ? undefined : str(v, path))

export function optBool(v: Json, path: string): boolean | undefined {
  if (absent(v)) return undefined
  if (typeof v !== 'boolean') fail(path, 'a boolean', v)
  return v as boolean
}

export function int(v: Json, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail(path, 'an integer', v)
  return v as number
}
export const optInt = (v: Json, path: string): number | undefined => (absent(v) ? undefined : int(v, path))

/** IntOrString (a port number or a port name), as the API types it. */
export function optIntOrStr(v: Json, path: string): number | string | undefined {
  if (absent(v)) return undefined
  if (typeof v === 'string') return v
  return int(v, path)
}

/** A list read item by item with `item(value, path)`; absent reads as undefined. */
export function optList<T>(v: Json, path: string, item: (x: Json, path: string) => T): T[] | undefined {
  if (absent(v)) return undefined
  if (!Array.isArray(v)) fail(path, 'a list', v)
  // A loop, not map() with a closure per call (~360k lists at 30k policies and pods).
  // A copy overwritten in place: exactly as long, and packed as its input (new Array(n) is holey).
  const a = v as Json[]
  const out = a.slice() as unknown[] as T[]
  for (let i = 0; i < a.length; i++) out[i] = item(a[i], lazyPaths ? path : `${path}[${i}]`)
  return out
}
export const list = <T>(v: Json, path: string, item: (x: Json, path: string) => T): T[] => optList(v, path, item) ?? []

/** A map of strings (labels, matchLabels); absent reads as {}. */
export function strMap(v: Json, path: string): Record<string, string> {
  const o = optObj(v, path)
  const out: Record<string, string> = {}
  if (!o) return out
  for (const k of Object.keys(o)) {
    const x = o[k]
    if (typeof x !== 'string') str(x, `${path}.${k}`) // throws, naming the label
    // defineProperty: `__proto__` stays an ordinary label instead of a prototype. Only for it: an
    // object built by defineProperty for every key (30k pods' labels, selectors' matchLabels) is
    // slower to build and to read than one built by assignment, which means the same for any other key.
    if (k === '__proto__') Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true })
    else out[k] = x as string
  }
  return out
}
