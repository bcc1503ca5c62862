// esbuild emits CommonJS bundles; this gives modules that read import.meta.url a value there.
export const __importMetaUrl = require('node:url').pathToFileURL(__filename).href
