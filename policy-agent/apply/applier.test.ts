// The applier: a diff that the kernel refuses is logged with nft's error and replaced by a full
// apply; every script it renders names only the owned tables (the guard NftTable.runText applies).
import { describe, expect, it } from 'vitest'
import { compile } from '../compile/index.js'
import { allLocal, clusterOf, policy } from '../../test/kit/policy-state.js'
import { renderDiff, renderFull, renderTeardown } from '../render/index.js'
import { tablesNamed } from '../../lib/nft/syntax.js'
import { NftError } from '../../lib/nft/index.js'
import { Applier } from './applier.js'

function ir(app: string) {
  const s = clusterOf({
    namespaces: { x: {} },
    pods: { 'x/a': { labels: { app }, ips: ['10.0.1.1'] }, 'x/b': { labels: { app: 'db' }, ips: ['10.0.1.2'] } },
    policies: [policy('x', 'p', { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }] }] })],
  })
  return compile(s, allLocal(s)).ir
}

describe('Applier', () => {
  it('logs why a diff failed, then replaces the tables whole', async () => {
    const runs: string[] = []
    const warnings: { obj: object; msg: string }[] = []
    const refused = new NftError('nft run on inet cinch', '/dev/stdin:1:1-3: Error: Could not process rule: No such file or directory\n', 'delete element inet cinch x { 1 }\n')
    const applier = new Applier({
      run: async (text) => {
        runs.push(text)
        if (runs.length === 2) throw refused // the diff
      },
      log: { warn: (obj, msg) => warnings.push({ obj, msg }) },
    })
    expect(await applier.apply(ir('web'))).toMatchObject({ mode: 'full' })
    expect(await applier.apply(ir('client'))).toMatchObject({ mode: 'full' })
    expect(runs).toHaveLength(3)
    expect(warnings).toEqual([{ obj: { err: refused, lines: expect.any(Number), via: 'nft' }, msg: 'diff apply failed; replacing the tables whole' }])
  })

  it('keeps the committed IR in memory: an unchanged IR sends nothing', async () => {
    const runs: string[] = []
    const applier = new Applier({ run: async (t) => void runs.push(t) })
    await applier.apply(ir('web'))
    expect(await applier.apply(ir('web'))).toEqual({ mode: 'none', lines: 0 })
    expect(runs).toHaveLength(1)
  })

  it('renders scripts that name only inet cinch and bridge cinch', () => {
    const named = [renderFull(ir('web')), renderDiff(ir('web'), ir('client')), renderTeardown()].flatMap(tablesNamed)
    expect(new Set(named.map((t) => `${t.family} ${t.name}`))).toEqual(new Set(['inet cinch', 'bridge cinch']))
  })
})
