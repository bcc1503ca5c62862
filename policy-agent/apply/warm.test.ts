import { describe, expect, it } from 'vitest'
import { warmUp } from './warm.js'
import { Compiler } from '../compile/index.js'
import { FlowCompiler } from '../flows/compiler.js'
import { FLOW_LOG_DEFAULTS } from '../flows/options.js'

describe('warmUp', () => {
  it('runs every kind of change through the compiler it is given, each one changing the IR', () => {
    for (const make of [() => new Compiler(), () => new FlowCompiler({ flowLogs: FLOW_LOG_DEFAULTS })]) {
      const irs: unknown[] = []
      const r = warmUp(() => {
        const c = make()
        return { compile: (s, l) => { const r = c.compile(s, l); irs.push(r.ir); return r } }
      })
      // the first compile and 3 rounds of 7 changes, every one a new IR (so each was diffed and encoded)
      expect(irs).toHaveLength(22)
      for (let i = 1; i < irs.length; i++) expect(irs[i]).not.toBe(irs[i - 1])
      // and every diff went through the netlink encoders (none fell back to nft text)
      expect(r.encoded).toBe(21)
    }
  })
})
