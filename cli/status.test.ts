// `cinch status` as an operator reads it: the node's policy cost beside its bound, and the pods
// that fail closed with why.
import { describe, expect, test } from 'vitest'
import { statusText } from './status.js'
import type { AgentStatus } from '../policy-agent/server/http.js'

const base: AgentStatus = { ready: true, node: 'n1', localPods: [], invalidPolicies: [], sourceProblems: [] }

describe('cinch status', () => {
  test('shows what the node\'s pods\' policies add up to beside --max-node-policy-cost, and each closed pod with why', () => {
    const text = statusText({
      ...base,
      nodePolicyCost: { used: 99_000, max: 100_000 },
      failedClosed: [{ pod: 'x/a', direction: 'ingress', chain: 'pod-ingress-x-a', reason: 'over the limit of 100000 for a node (agent flag --max-node-policy-cost)' }],
    })
    expect(text).toContain('policy cost: 99000 of 100000 for this node\'s pods (--max-node-policy-cost)\n')
    expect(text).toContain('pods failed closed: 1\n  x/a ingress: over the limit of 100000 for a node (agent flag --max-node-policy-cost)\n')
  })

  test('an agent that does not report the figure (an older build) prints no cost line', () => {
    expect(statusText(base)).not.toContain('policy cost')
  })
})
