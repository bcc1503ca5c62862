// Moved to test/kit/policy-state.ts; kept only for policy-agent/flows' tests until they import it from there.
export * from '../../test/kit/policy-state.js'
