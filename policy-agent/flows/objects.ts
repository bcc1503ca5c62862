// The names of flow logging's nft objects in `inet cinch`: the node's limit and its two counters.
// Apart from nft.ts so that compile/ir.ts (which lists every counter of an IR) does not load the
// prefix encoder and node:crypto with them.
export const FLOWLOG_LIMIT = 'flowlog'
export const FLOWLOG_SEEN_COUNTER = 'flowlog-seen'
export const FLOWLOG_LOGGED_COUNTER = 'flowlog-logged'
