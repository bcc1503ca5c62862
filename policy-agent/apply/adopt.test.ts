// The commit record and the proof: a record is hostile input (every field checked, anything else
// refused with its reason); the proof holds only when boot, namespace, build, generation and digest
// all match, and names the first check that fails otherwise.
import { describe, expect, it } from 'vitest'
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import { compile } from '../compile/index.js'
import { allLocal, clusterOf, policy } from '../../test/kit/policy-state.js'
import { testTempDir } from '../../test/kit/temp-dir.js'
import { commitRecordPath, decodeCommitRecord, encodeCommitRecord, proveCommitted, recordAtStop, takeCommitRecord, type CommitRecord, type ProveOptions } from './adopt.js'
import { irDigest } from './digest.js'

function ir(port: number) {
  const s = clusterOf({
    namespaces: { x: {} },
    pods: { 'x/a': { labels: { app: 'web' }, ips: ['10.0.1.1'] } },
    policies: [policy('x', 'p', { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ ports: [{ port }] }] })],
  })
  return compile(s, allLocal(s)).ir
}

const here = { bootId: '846cb1c2-7766-488d-8054-82a04ced5650', netns: 'cookie:3' }
const record = (o: Partial<CommitRecord> = {}): CommitRecord => ({ genId: 41, digest: irDigest(ir(80)), ...here, agentVersion: 'v1 123.456', ...o })
const prove = (o: Partial<ProveOptions> = {}, target = ir(80)) =>
  proveCommitted(target, { record: record(), agentVersion: 'v1 123.456', here, render: {}, generation: async () => 41, ...o })

describe('commit record', () => {
  it('round-trips', () => {
    expect(decodeCommitRecord(Buffer.from(encodeCommitRecord(record())))).toEqual(record())
  })

  const bad: [string, unknown, RegExp][] = [
    ['genId a string', { genId: '41' }, /genId/],
    ['genId 0', { genId: 0 }, /genId/],
    ['genId past 32 bits', { genId: 2 ** 32 }, /genId/],
    ['genId a fraction', { genId: 4.5 }, /genId/],
    ['digest short', { digest: 'ab' }, /digest/],
    ['digest upper case', { digest: 'A'.repeat(64) }, /digest/],
    ['bootId a number', { bootId: 7 }, /bootId/],
    ['netns a path', { netns: '/proc/self/ns/net' }, /netns/],
    ['agentVersion empty', { agentVersion: '' }, /agentVersion/],
    ['agentVersion huge', { agentVersion: 'v'.repeat(300) }, /agentVersion/],
    ['another format', { format: 'cinch-commit-record/0' }, /format/],
  ]
  it.each(bad)('refuses %s', (_, change, reason) => {
    const r = { ...JSON.parse(encodeCommitRecord(record())), ...(change as object) }
    expect(() => decodeCommitRecord(Buffer.from(JSON.stringify(r)))).toThrow(reason)
  })
  it('refuses what is not an object', () => {
    for (const text of ['[]', 'null', '"x"', '{']) expect(() => decodeCommitRecord(Buffer.from(text))).toThrow(/not (an object|JSON)/)
  })

  it('is taken once, and written only for a known commit', () => {
    const dir = testTempDir('cinch-adopt-')
    const path = commitRecordPath(dir)
    expect(takeCommitRecord(path)).toEqual({ reason: expect.stringMatching(/no commit record/) })
    expect(recordAtStop({ stateDir: dir, agentVersion: 'v1', render: {}, committed: { ir: ir(80), genId: 9 } })).toEqual({ written: true, genId: 9 })
    const written = JSON.parse(readFileSync(path, 'utf8'))
    expect(written).toMatchObject({ genId: 9, digest: irDigest(ir(80)), agentVersion: 'v1' })
    expect(takeCommitRecord(path).record).toMatchObject({ genId: 9 })
    expect(existsSync(path)).toBe(false)
    writeFileSync(path, encodeCommitRecord(record()))
    expect(recordAtStop({ stateDir: dir, agentVersion: 'v1', render: {} })).toEqual({ written: false })
    expect(existsSync(path)).toBe(false) // a record of an earlier commit is not left behind
  })
})

describe('proveCommitted', () => {
  it('holds when everything matches', async () => {
    expect(await prove()).toEqual({ holds: true, genId: 41 })
  })
  const cases: [string, Partial<ProveOptions>, RegExp][] = [
    ['another boot', { here: { ...here, bootId: '00000000-0000-0000-0000-000000000000' } }, /rebooted/],
    ['another namespace', { here: { ...here, netns: 'cookie:4' } }, /another network namespace/],
    ['another build', { agentVersion: 'v1 123.457' }, /another agent build/],
    ['a commit since', { generation: async () => 42 }, /generation 42, recorded 41/],
    ['no generation', { generation: async () => { throw new Error('EPERM') } }, /generation id not read: EPERM/],
    ['other render options', { render: { failOpen: true } }, /differ/],
    ['the tables gone', { tablesExist: async () => false }, /tables are not there/],
    ['the tables not read', { tablesExist: async () => { throw new Error('EBUSY') } }, /tables not read: EBUSY/],
  ]
  it.each(cases)('does not hold with %s', async (_, o, reason) => {
    expect(await prove(o)).toEqual({ holds: false, reason: expect.stringMatching(reason) })
  })
  it('does not hold for other rules', async () => {
    expect(await prove({}, ir(81))).toEqual({ holds: false, reason: expect.stringMatching(/differ/) })
  })
})
