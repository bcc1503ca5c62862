// The digest of what the applier commits: sha256 over a canonical walk of the PolicyIR and the
// render options, so that a restarted agent can tell whether the IR it is about to apply is the one
// its predecessor left in the kernel (adopt.ts) without reading the kernel back.
//
// Exact by construction, not by a list of fields: the render is a pure function of the IR, the
// render options and the agent's code (render/index.ts), so the walk takes EVERY own enumerable
// property of the IR, whatever it is named (chains and their rules, sets and their elements,
// counters, maps, veths, the flow-log limit, audit maps, fields added later), and the options;
// the code is bound by the agent build the record carries (adopt.ts). Two IRs with one digest
// render the same objects with the same contents. The walk sorts object keys: the compiler's
// incremental path and a fresh compile may insert a record's keys in other orders, and the order
// of named tables' sets, chains and map elements changes nothing in the kernel's verdicts
// (rules keep their array order, which does). A property holding `undefined` counts as absent,
// as it does for the renderer (it tests fields, never `in`); anything that is not plain data (a
// Map, a function, NaN) throws, so no digest means no adoption, never a wrong one.
import { createHash } from 'node:crypto'
import type { PolicyIR } from '../compile/ir.js'
import type { RenderOptions } from '../render/index.js'

const FORMAT = 'cinch-ir-digest/1'

/** sha256 (hex) of the IR and the render options, as committing them would render them. */
export function irDigest(ir: PolicyIR, opts: RenderOptions = {}): string {
  const out: string[] = [FORMAT, opts.failOpen === true ? 'failOpen' : 'failClosed']
  walk(ir, out)
  // One update over the whole text: an update per piece crosses into C++ 10^5 times at 30k/30k.
  return createHash('sha256').update(out.join('\n')).digest('hex')
}

function walk(v: unknown, out: string[]): void {
  switch (typeof v) {
    case 'string':
      out.push(JSON.stringify(v))
      return
    case 'number':
      if (!Number.isFinite(v)) throw new Error(`irDigest: ${v} is not plain data`)
      out.push(String(v))
      return
    case 'boolean':
      out.push(v ? 'true' : 'false')
      return
    case 'object':
      if (v === null) return void out.push('null')
      if (Array.isArray(v)) return walkArray(v, out)
      return walkObject(v as Record<string, unknown>, out)
    default:
      throw new Error(`irDigest: a ${typeof v} is not plain data`)
  }
}

function walkArray(a: unknown[], out: string[]): void {
  // A set's elements (most of the IR's bytes): one JSON.stringify for the whole list when it holds
  // only strings, which writes exactly what the walk would.
  let strings = true
  for (let i = 0; i < a.length; i++) if (typeof a[i] !== 'string') { strings = false; break }
  if (strings) return void out.push(JSON.stringify(a))
  out.push('[')
  for (let i = 0; i < a.length; i++) {
    // A hole or an undefined item is not data an IR holds (JSON would make it null).
    if (a[i] === undefined) throw new Error('irDigest: an undefined array item is not plain data')
    walk(a[i], out)
    out.push(',')
  }
  out.push(']')
}

function walkObject(o: Record<string, unknown>, out: string[]): void {
  const proto = Object.getPrototypeOf(o)
  if (proto !== Object.prototype && proto !== null) throw new Error('irDigest: only plain objects are data')
  out.push('{')
  for (const k of Object.keys(o).sort()) {
    const v = o[k]
    if (v === undefined) continue
    out.push(JSON.stringify(k), ':')
    walk(v, out)
    out.push(',')
  }
  out.push('}')
}
