// Moved to test/kit/cluster.ts (the one multi-node harness); this re-export goes once nothing imports it.
export * from '../test/kit/cluster.js'
