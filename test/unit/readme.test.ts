// The README is what operators read: its error table must list every code the plugins can print.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ErrorCode } from '../../lib/cni/errors.js'

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

describe('README', () => {
  it.each(Object.entries(ErrorCode))('documents error code %s (%i) in the error table', (_name, code) => {
    expect(readme).toMatch(new RegExp(`^\\| ${code} \\| \\S`, 'm'))
  })

  it('shows the test command and the demo command', () => {
    expect(readme).toContain('npm test')
    expect(readme).toContain('npm run demo')
  })
})
