// Moved to test/kit/manifests.ts; this re-export goes once nothing imports it.
export * from '../test/kit/manifests.js'
