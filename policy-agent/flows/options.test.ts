// `--flow-logs=VALUE` (the DaemonSet's ConfigMap key flow-logs): "true", "false" and "" are read,
// anything else is refused by the CLI's real entry point before the agent starts.
import { describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { takeFlowLogsValue } from './options.js'

const repoRoot = join(import.meta.dirname, '../..')

describe('--flow-logs=VALUE', () => {
  it.each([
    ['true', true], ['false', false], ['', false],
  ])('%j is read as %s and taken out of the flags', (v, want) => {
    expect(takeFlowLogsValue(['--node', 'n1', `--flow-logs=${v}`, '--once'])).toEqual({ argv: ['--node', 'n1', '--once'], value: want })
  })
  it('leaves bare --flow-logs and everything after -- to the flag parser', () => {
    expect(takeFlowLogsValue(['--flow-logs', '--', '--flow-logs=yes'])).toEqual({ argv: ['--flow-logs', '--', '--flow-logs=yes'] })
  })
  it.each(['True', 'TRUE', 'yes', 'on', '1', ' true', 'true\n'])('refuses %j, naming the ConfigMap key', (v) => {
    expect(() => takeFlowLogsValue([`--flow-logs=${v}`])).toThrow(/--flow-logs=.*must be "true" or "false" \(the ConfigMap key flow-logs/)
  })
  it('cinch agent exits 2 on --flow-logs=True before it starts anything', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx/esm', join(repoRoot, 'cli/main.ts'), 'agent', '--flow-logs=True', '--manifests', '/nonexistent'], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 })
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(/^cinch agent: --flow-logs="True": must be "true" or "false"/)
  })
})
