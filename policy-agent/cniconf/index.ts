export { renderConflist, CONFLIST_DEFAULTS, type ConflistOptions } from './render.js'
export { ensureConflistFile, type WriteConflistOptions } from './write.js'
