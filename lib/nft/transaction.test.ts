import { describe, expect, it } from 'vitest'
import { Transaction, type NftObject } from './transaction.js'
import { tablesNamed } from './syntax.js'
import { NftError, isExists, isNotFound, normalizeStderr } from './errors.js'
import { parseListing } from './json.js'

const tx = () => new Transaction('inet', 'cinch-nat')

describe('Transaction renders nft text', () => {
  const cases: [string, (t: Transaction) => Transaction, string][] = [
    ['table', (t) => t.add({ kind: 'table' }), 'add table inet cinch-nat\n'],
    ['table with comment', (t) => t.create({ kind: 'table', comment: 'cinch' }), 'create table inet cinch-nat { comment "cinch"; }\n'],
    ['base chain', (t) => t.add({ kind: 'chain', name: 'postrouting', type: 'nat', hook: 'postrouting', priority: 'srcnat', policy: 'accept' }),
      'add chain inet cinch-nat postrouting { type nat hook postrouting priority srcnat; policy accept; }\n'],
    ['regular chain, numeric priority ignored without hook', (t) => t.add({ kind: 'chain', name: 'c' }).flush({ kind: 'chain', name: 'c' }), 'add chain inet cinch-nat c\nflush chain inet cinch-nat c\n'],
    ['set with concatenated type and flags', (t) => t.add({ kind: 'set', name: 'local4', type: ['ipv4_addr', 'ipv4_addr'], flags: ['interval'] }),
      'add set inet cinch-nat local4 { type ipv4_addr . ipv4_addr; flags interval; }\n'],
    ['map', (t) => t.add({ kind: 'map', name: 'm', type: ['ipv4_addr'], valueType: 'verdict', comment: 'x' }), 'add map inet cinch-nat m { type ipv4_addr : verdict; comment "x"; }\n'],
    ['rule with comment and index', (t) => t.insert({ kind: 'rule', chain: 'c', rule: 'ip daddr { 10.0.0.1, 10.0.0.2 } counter name "x" accept', comment: 'why', index: 0 }),
      'insert rule inet cinch-nat c index 0 ip daddr { 10.0.0.1, 10.0.0.2 } counter name "x" accept comment "why"\n'],
    ['delete rule by handle', (t) => t.delete({ kind: 'rule', chain: 'c', rule: 'x', handle: 7 }), 'delete rule inet cinch-nat c handle 7\n'],
    ['elements of one set merge; a comment stays on add and leaves delete', (t) => t
      .add({ kind: 'element', set: 'pods4', key: ['10.0.0.1'], comment: 'net/cid/eth0' })
      .add({ kind: 'element', set: 'pods4', key: ['10.0.0.2'] })
      .delete({ kind: 'element', set: 'pods4', key: ['10.0.0.1'], comment: 'net/cid/eth0' })
      .add({ kind: 'element', set: 'local4', key: ['10.0.0.1', '10.0.0.0/24'] }),
      'add element inet cinch-nat pods4 { 10.0.0.1 comment "net/cid/eth0", 10.0.0.2 }\n' +
      'delete element inet cinch-nat pods4 { 10.0.0.1 }\n' +
      'add element inet cinch-nat local4 { 10.0.0.1 . 10.0.0.0/24 }\n'],
    ['map element with a verdict, quoted key', (t) => t.add({ kind: 'element', set: 'm', key: ['"cinchxa"', '10.0.0.1'], value: ['jump pod-ingress-a'] }),
      'add element inet cinch-nat m { "cinchxa" . 10.0.0.1 : jump pod-ingress-a }\n'],
  ]
  for (const [name, build, want] of cases) it(name, () => expect(build(tx()).render()).toBe(want))
})

describe('Transaction refuses hostile names and values (throws, never interpolates)', () => {
  const long = 'x'.repeat(129)
  const cases: [string, NftObject, RegExp][] = [
    ['chain name with a newline', { kind: 'chain', name: 'c\nflush ruleset' }, /not a valid name/],
    ['chain name with a brace', { kind: 'chain', name: 'c }' }, /not a valid name/],
    ['set name starting with a digit', { kind: 'set', name: '1s', type: ['ipv4_addr'] }, /not a valid name/],
    ['set type with a semicolon', { kind: 'set', name: 's', type: ['ipv4_addr; flags x'] }, /not a data type/],
    ['comment with a quote', { kind: 'set', name: 's', type: ['ipv4_addr'], comment: 'a" } flush ruleset #' }, /cannot take in a comment/],
    ['comment with a newline', { kind: 'chain', name: 'c', comment: 'a\nflush ruleset' }, /cannot take in a comment/],
    ['comment over 128 bytes', { kind: 'element', set: 's', key: ['10.0.0.1'], comment: long }, /129 bytes, more than 128/],
    ['multibyte comment', { kind: 'element', set: 's', key: ['10.0.0.1'], comment: 'é' }, /cannot take in a comment/],
    ['element key with a space', { kind: 'element', set: 's', key: ['10.0.0.1 } ; flush ruleset'] }, /not a valid value/],
    ['element key with an open quote', { kind: 'element', set: 's', key: ['"cinch'] }, /not a valid value/],
    ['map value that is not a verdict', { kind: 'element', set: 'm', key: ['1.1.1.1'], value: ['jump a; flush ruleset'] }, /not a valid value/],
    ['rule with a semicolon', { kind: 'rule', chain: 'c', rule: 'accept; flush ruleset' }, /would end the command/],
    ['rule with a newline', { kind: 'rule', chain: 'c', rule: 'accept\nflush ruleset' }, /line break/],
    ['rule with a comment sign', { kind: 'rule', chain: 'c', rule: 'accept # x' }, /would end the command/],
    ['rule closing a brace', { kind: 'rule', chain: 'c', rule: 'accept }' }, /did not open/],
    ['rule leaving a quote open', { kind: 'rule', chain: 'c', rule: 'counter name "x accept' }, /unterminated/],
    ['empty rule', { kind: 'rule', chain: 'c', rule: ' ' }, /empty/],
  ]
  for (const [name, obj, err] of cases) it(name, () => expect(() => tx().add(obj)).toThrow(err))
  it('a table name is checked too', () => expect(() => new Transaction('inet', 'cinch;x')).toThrow(/not a valid name/))
  it('verbs that do not apply throw', () => {
    expect(() => tx().flush({ kind: 'element', set: 's', key: ['1.1.1.1'] } as never)).toThrow(/not a verb/)
    expect(() => tx().replace({ kind: 'rule', chain: 'c', rule: 'accept' })).toThrow(/needs a handle/)
    expect(() => tx().add({ kind: 'chain', name: 'c', hook: 'input' })).toThrow(/go together/)
  })
})

describe('tablesNamed: the tables a generated script touches', () => {
  it('reads blocks and commands, with and without family', () => {
    const text = 'table inet cinch\ndelete table inet cinch\ntable inet cinch {\n\tchain x {\n\t\tcomment "a; b }"\n\t}\n}\nadd table bridge cinch\nadd element foo s { 1.1.1.1 }\nlist counters table inet cinch\n'
    expect(tablesNamed(text)).toEqual([
      { family: 'inet', name: 'cinch' }, { family: 'inet', name: 'cinch' }, { family: 'inet', name: 'cinch' },
      { family: 'bridge', name: 'cinch' }, { family: 'ip', name: 'foo' }, { family: 'inet', name: 'cinch' },
    ])
  })
  for (const bad of ['flush ruleset', 'include "/etc/nftables.conf"', 'define x = 1', 'add rule inet cinch c accept }', 'table inet cinch {']) {
    it(`refuses ${JSON.stringify(bad)}`, () => expect(() => tablesNamed(bad + '\n')).toThrow())
  }
})

describe('errors', () => {
  it('rewrites the input name so both backends read alike, and keeps the failing line', () => {
    const input = 'add table inet t\nadd chain inet t c\nadd rule inet t c jump nosuch\n'
    const a = new NftError('nft run', '/dev/stdin:3:25-30: Error: Could not process rule: No such file or directory\nadd rule inet t c jump nosuch\n                        ^^^^^^\n', input)
    const b = new NftError('nft run', '/proc/self/fd/21:3:25-30: Error: Could not process rule: No such file or directory\nadd rule inet t c jump nosuch\n                        ^^^^^^\n', input)
    expect(a.stderr).toBe(b.stderr)
    expect(a.message).toBe('nft run: line 3: Could not process rule: No such file or directory: add rule inet t c jump nosuch')
    expect([a.line, a.lineText, isNotFound(a), isExists(a)]).toEqual([3, 'add rule inet t c jump nosuch', true, false])
  })
  it('isExists on "File exists"; neither for other errors', () => {
    expect(isExists(new NftError('x', 'Error: Could not process rule: File exists\n', ''))).toBe(true)
    expect(isNotFound(new NftError('x', 'line 1:1-3: Error: syntax error\n', ''))).toBe(false)
    expect(isNotFound(new Error('No such file or directory'))).toBe(false)
  })
  it('normalizeStderr leaves addresses in echoed input lines alone', () => {
    expect(normalizeStderr('add element inet t s { fd00::1:2: }')).toBe('add element inet t s { fd00::1:2: }')
  })
})

describe('parseListing', () => {
  it('keeps what has the expected shape, skips the rest, and only this table', () => {
    const doc = { nftables: [
      { metainfo: { version: '1.0.6' } },
      { table: { family: 'inet', name: 't', handle: 1 } },
      { chain: { family: 'inet', table: 't', name: 'c', handle: 2, type: 'filter', hook: 'input', prio: 0, policy: 'accept' } },
      { chain: { family: 'inet', table: 'other', name: 'x', handle: 3 } },
      { chain: { family: 'inet', table: 't', name: 42, handle: 3 } },
      { set: { family: 'inet', table: 't', name: 's', type: ['ipv4_addr', 'ipv4_addr'], flags: ['interval'],
        elem: ['10.0.0.1', { elem: { val: { concat: ['10.0.0.1', { prefix: { addr: '10.0.0.0', len: 24 } }] }, comment: 'c' } }, { bogus: 1 }] } },
      { map: { family: 'inet', table: 't', name: 'm', type: 'ipv4_addr', map: 'verdict', elem: [['10.0.0.2', { jump: { target: 'c' } }]] } },
      { rule: { family: 'inet', table: 't', chain: 'c', handle: 4, expr: [{ accept: null }] } },
      { counter: { family: 'inet', table: 't', name: 'n', packets: 3, bytes: 180 } },
    ] }
    const l = parseListing(doc, 'inet', 't')
    expect(l.chains).toEqual([{ name: 'c', handle: 2, type: 'filter', hook: 'input', prio: 0, policy: 'accept' }])
    expect(l.sets).toEqual([
      { kind: 'set', name: 's', type: ['ipv4_addr', 'ipv4_addr'], flags: ['interval'], elements: [
        { key: '10.0.0.1' }, { key: { concat: ['10.0.0.1', { prefix: { addr: '10.0.0.0', len: 24 } }] }, comment: 'c' }] },
      { kind: 'map', name: 'm', type: ['ipv4_addr'], flags: [], elements: [{ key: '10.0.0.2', value: { jump: { target: 'c' } } }] },
    ])
    expect(l.rules).toEqual([{ chain: 'c', handle: 4, expr: [{ accept: null }] }])
    expect(l.counters).toEqual([{ name: 'n', packets: 3, bytes: 180 }])
  })
  it('throws on what is not an nft document', () => {
    expect(() => parseListing({ nftables: {} }, 'inet', 't')).toThrow(/not a/)
    expect(() => parseListing(null, 'inet', 't')).toThrow(/not a/)
  })
})
