// Flow logging and audit in the rules: golden text of the log rules (every verdict point, the
// limit and its counters, the audit pass). nft's parser on that text and renderDiff == renderFull
// in a real kernel across an operator's transitions: test/integration/flows-render-kernel.test.ts.
import { describe, expect, test } from 'vitest'
import { renderFull } from '../render/index.js'
import { audited, compileWith, dbFromApi, fresh, lockdown, state } from '../../test/kit/flow-states.js'
import { encodePrefix, refId } from './prefix.js'
import { RefTable, refSourceFromIR } from './refs.js'

describe('flow-log rules', () => {
  const ir = compileWith(fresh(), state({ logs: ['shop', 'lab'], policies: [dbFromApi, audited(lockdown)], cnp: true }))
  const text = renderFull(ir)

  test('golden text: log rules at each verdict point, the limit, the audit pass', async () => {
    await expect(text).toMatchFileSnapshot('./__golden__/flowlog.nft')
  })

  test('every prefix in the text decodes to something the id table of the same IR names', () => {
    const refs = new RefTable(refSourceFromIR(ir))
    const prefixes = [...text.matchAll(/prefix "([^"]+)"/g)].map((m) => m[1]!)
    expect(prefixes).toContain(encodePrefix({ direction: 'ingress', tier: 'networkpolicy', hit: 'rule', action: 'allow', id: refId('np', 'shop/db-from-api'), rule: 1 }))
    expect(prefixes).toContain(encodePrefix({ direction: 'ingress', tier: 'admin', hit: 'rule', action: 'pass', id: refId('cnp', 'adm'), rule: 1 }))
    for (const p of prefixes) {
      const [, letters, id] = p.split(':') as [string, string, string]
      const space = letters[2] === 'x' ? 'chain' : letters[1] === 'n' ? 'np' : 'cnp'
      expect(refs.resolve(space, id), p).toBeDefined()
    }
    // The audit chain of lab/box exists, and no audit policy is counted as if enforced.
    expect(Object.values(ir.chains).filter((c) => c.audit).map((c) => c.pod)).toEqual(['lab/box'])
    expect(Object.keys(ir.policyCounters)).not.toContain('lab/lockdown')
    expect(ir.auditMaps!['ingress-v4']['10.0.1.3']).toMatch(/^audit-ingress-lab-box/)
  })

  test('a namespace without the annotation gets no log rule; with none anywhere the text only gains the limit objects', () => {
    const quiet = renderFull(compileWith(fresh(), state()))
    expect(quiet).not.toMatch(/log group/)
    expect(quiet).toMatch(/limit flowlog \{/)
    expect(renderFull(compileWith(fresh(), state({ logs: ['web'] })))).not.toMatch(/log group/)
  })
})
