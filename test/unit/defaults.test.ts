// One source of truth for where cinch-bridge and the agent meet (lib/state/defaults.ts): the
// plugin's schema.json carries the same defaults for ajv to fill in, and the CLI's usage shows them.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import * as defaults from '../../lib/state/defaults.js'
import { USAGE } from '../../cli/args.js'
import { parseConfig } from '../../plugins/cinch-bridge/config.js'

const schema = JSON.parse(readFileSync(new URL('../../plugins/cinch-bridge/schema.json', import.meta.url), 'utf8'))

describe('defaults', () => {
  it.each([
    ['stateDir', defaults.DEFAULT_STATE_DIR],
    ['agentSocket', defaults.DEFAULT_AGENT_SOCKET],
    ['policyTimeoutMs', defaults.DEFAULT_POLICY_TIMEOUT_MS],
  ])('cinch-bridge schema.json default of %s is lib/state/defaults.ts\'s', (key, value) => {
    expect(schema.properties[key].default).toBe(value)
  })

  it('the built validator fills them in', () => {
    const c = parseConfig({ cniVersion: '1.0.0', name: 'n', type: 'cinch-bridge' } as any)
    expect(c).toMatchObject({ stateDir: defaults.DEFAULT_STATE_DIR, agentSocket: defaults.DEFAULT_AGENT_SOCKET, policyTimeoutMs: defaults.DEFAULT_POLICY_TIMEOUT_MS })
  })

  it.each([
    ['--state-dir', defaults.DEFAULT_STATE_DIR],
    ['--socket', defaults.DEFAULT_AGENT_SOCKET],
    ['--metrics-addr', defaults.DEFAULT_METRICS_ADDR],
    ['--cni-bin-dir', defaults.DEFAULT_CNI_BIN_DIR],
    ['--cni-conf', `${defaults.DEFAULT_CNI_CONF_DIR}/${defaults.CONFLIST_FILE}`],
    ['--gc-grace', String(defaults.DEFAULT_GC_GRACE_MS / 1000)],
    ['--gc-interval', String(defaults.DEFAULT_GC_INTERVAL_MS / 1000)],
  ])('cinch agent --help states the default of %s', (flag, value) => {
    const line = USAGE.split('\n').find((l) => l.trimStart().startsWith(`${flag} `))
    expect(line).toContain(`(default ${value}`)
  })
})
