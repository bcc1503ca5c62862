// Moved to test/kit/nft-kernel.ts; kept only for policy-agent/flows' tests until they import it from there.
export * from '../../test/kit/nft-kernel.js'
