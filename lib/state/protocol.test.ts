import { describe, expect, it } from 'vitest'
import {
  decodeReply, decodeRequest, encodeReply, encodeRequest, LineReader, MAX_ERROR_CHARS, MAX_LINE_BYTES, ProtocolError,
  type AgentRequest,
} from './protocol.js'

const add: AgentRequest = { op: 'add', containerId: 'c-1', ifName: 'eth0', podNamespace: 'x', podName: 'web-0.a', ips: ['10.244.1.5/24', 'fd00::5/64'] }
const del: AgentRequest = { op: 'del', containerId: 'c-1', ifName: 'eth0' }
const line = (o: unknown) => JSON.stringify(o)

describe('requests', () => {
  it.each([['add', add], ['del', del], ['add without pod names or addresses', { ...add, podNamespace: '', podName: '', ips: [] }]])('round-trip: %s', (_n, r) => {
    const text = encodeRequest(r as AgentRequest)
    expect(text.endsWith('\n')).toBe(true)
    expect(decodeRequest(text.slice(0, -1))).toEqual(r)
  })

  it.each<[string, string, RegExp]>([
    ['null', 'null', /JSON object/],
    ['an array', '[]', /JSON object/],
    ['a number', '5', /JSON object/],
    ['a string', '"add"', /JSON object/],
    ['not JSON', '{"op":', /not JSON/],
    ['no op', line({ containerId: 'c', ifName: 'eth0' }), /^op:/],
    ['an unknown op', line({ ...del, op: 'gc' }), /^op:/],
    ['an unknown key', line({ ...add, hostVeth: 'x' }), /^hostVeth: unknown key/],
    ['__proto__', '{"op":"del","containerId":"c","ifName":"eth0","__proto__":{"x":1}}', /^__proto__: unknown key/],
    ['an add key on del', line({ ...del, ips: [] }), /^ips: unknown key/],
    ['a missing field', line({ op: 'add', containerId: 'c', ifName: 'eth0', podNamespace: '', podName: '' }), /^ips:/],
    ['a numeric containerId', line({ ...del, containerId: 5 }), /^containerId: expected a string, got number/],
    ['a null ifName', line({ ...del, ifName: null }), /^ifName: expected a string, got null/],
    ['a path in containerId', line({ ...del, containerId: '../../victim' }), /^containerId/],
    ['a newline in containerId', line({ ...del, containerId: 'a\nb' }), /^containerId/],
    ['an empty containerId', line({ ...del, containerId: '' }), /^containerId/],
    ['a long containerId', line({ ...del, containerId: 'a'.repeat(257) }), /^containerId/],
    ['an empty ifName', line({ ...del, ifName: '' }), /^ifName/],
    ['a 16-byte ifName', line({ ...del, ifName: 'e'.repeat(16) }), /^ifName/],
    ['an ifName of 8 characters and 16 bytes', line({ ...del, ifName: 'éééééééé' }), /^ifName/],
    ['a slash in ifName', line({ ...del, ifName: 'a/b' }), /^ifName/],
    ['ifName ..', line({ ...del, ifName: '..' }), /^ifName/],
    ['a pod name with braces', line({ ...add, podName: 'evil { }' }), /^podName/],
    ['an upper-case namespace', line({ ...add, podNamespace: 'X' }), /^podNamespace/],
    ['a dotted namespace', line({ ...add, podNamespace: 'a.b' }), /^podNamespace/],
    ['ips not an array', line({ ...add, ips: '10.0.0.1/32' }), /^ips:/],
    ['a number in ips', line({ ...add, ips: [5] }), /^ips\[0\]/],
    ['an address without prefix', line({ ...add, ips: ['10.0.0.1'] }), /^ips\[0\]/],
    ['a v4 prefix over 32', line({ ...add, ips: ['10.0.0.1/33'] }), /^ips\[0\]/],
    ['a v6 prefix over 128', line({ ...add, ips: ['fd00::1/129'] }), /^ips\[0\]/],
    ['a bad address', line({ ...add, ips: ['10.0.0.256/24'] }), /^ips\[0\]/],
    ['nft text in ips', line({ ...add, ips: ['10.0.0.1/24 } ; flush ruleset'] }), /^ips\[0\]/],
    ['too many ips', line({ ...add, ips: Array(17).fill('10.0.0.1/32') }), /^ips:/],
  ])('refuses %s', (_n, text, msg) => {
    expect(() => decodeRequest(text)).toThrow(ProtocolError)
    expect(() => decodeRequest(text)).toThrow(msg)
  })

  it('encodeRequest refuses what decodeRequest would', () => {
    expect(() => encodeRequest({ ...add, podName: 'evil { }' } as AgentRequest)).toThrow(/^podName/)
    expect(() => encodeRequest({ ...del, extra: 1 } as unknown as AgentRequest)).toThrow(/^extra: unknown key/)
  })
})

describe('replies', () => {
  it.each([[{ ok: true }], [{ ok: false, error: 'no record' }]])('round-trip %j', (r) => {
    expect(decodeReply(encodeReply(r as any).slice(0, -1))).toEqual(r)
  })

  it('cuts an over-long error to fit', () => {
    const text = encodeReply({ ok: false, error: 'x'.repeat(100_000) })
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_LINE_BYTES)
    expect((decodeReply(text.slice(0, -1)) as { error: string }).error).toHaveLength(MAX_ERROR_CHARS)
  })

  it.each([['null'], ['{}'], ['{"ok":"yes"}'], ['{"ok":false}'], ['{"ok":true,"more":1}'], ['{"ok":false,"error":5}']])('refuses %s', (text) => {
    expect(() => decodeReply(text)).toThrow(ProtocolError)
  })
})

describe('LineReader', () => {
  it('joins chunks up to the newline and ignores what follows', () => {
    const r = new LineReader()
    expect(r.push(Buffer.from('{"ok":'))).toBeUndefined()
    expect(r.push(Buffer.from('true}\n{"next"'))).toBe('{"ok":true}')
  })

  it('decodes a multi-byte character split across chunks', () => {
    const r = new LineReader()
    const bytes = Buffer.from('"é"\n')
    expect(r.push(bytes.subarray(0, 2))).toBeUndefined()
    expect(r.push(bytes.subarray(2))).toBe('"é"')
  })

  it('refuses a line longer than the bound, newline included, before holding it', () => {
    const exact = new LineReader()
    expect(exact.push(Buffer.concat([Buffer.alloc(MAX_LINE_BYTES - 1, 0x61), Buffer.from('\n')]))).toHaveLength(MAX_LINE_BYTES - 1)
    const over = new LineReader()
    over.push(Buffer.alloc(MAX_LINE_BYTES - 1, 0x61))
    expect(() => over.push(Buffer.from('a'))).toThrow(/longer than 4096 bytes/)
    expect(() => new LineReader().push(Buffer.alloc(10 << 20, 0x61))).toThrow(ProtocolError)
  })

  it('refuses bytes that are not UTF-8', () => {
    expect(() => new LineReader().push(Buffer.from([0xff, 0xfe, 0x22, 0x0a]))).toThrow(/not UTF-8/)
  })
})
