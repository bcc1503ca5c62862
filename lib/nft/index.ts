// lib/nft: the only module that runs `nft`. Apply text as one transaction; read back as JSON.
export { runNft } from './run.js'
export { listTableJson, listCountersJson, countersOf } from './list.js'
export type { NftCounter } from './list.js'
