// lib/nft: the only module that drives nftables. An NftTable owns one table: typed transactions
// committed all or nothing, typed listings, isNotFound/isExists. See lib/nft/README.md.
export { NftTable, type NftTableOptions } from './table.js'
export { Transaction } from './transaction.js'
export type { ChainObject, ChainHook, ChainPriority, ChainType, ElementObject, NftObject, RuleObject, SetFlag, SetObject, TableObject, Verb } from './transaction.js'
export { NftError, isExists, isNotFound, isSetFull } from './errors.js'
export { defaultBackend, backendNamed, fallbackReason, type NftBackend, type NftOutput, type NftRequest } from './backend.js'
export { parseListing, parseElements, isDocument, isValue } from './json.js'
export type { ListedChain, ListedCounter, ListedElement, ListedRule, ListedSet, NftDocument, NftValue, TableListing } from './json.js'
export { COMMENT_MAX, FAMILIES, type NftFamily } from './syntax.js'
export { runNft } from './run.js'
export { listTableJson, listCounters, type NftCounter } from './list.js'
export { elementCommandText, UnsupportedElements, type ElementCommand, type KeyPart } from './elements.js'
export { commandText, isElementCommand, setCommandSpec, type ChainCommand, type CounterCommand, type LimitCommand, type NftCommand, type RuleCommand, type SetCommand, type TableCommand } from './commands.js'
