// Where tests find the repository and what `npm run build` left in dist/.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../..')
/** CINCH_TEST_DIST: test another build (e.g. the one `cinch install` placed). */
export const distDir = process.env.CINCH_TEST_DIST ?? join(repoRoot, 'dist')
/** The built plugins, named by their type (usable as CNI_PATH). */
export const cniBin = join(distDir, 'cni')
/** The reference plugins (Debian's containernetworking-plugins). */
export const refBin = '/usr/lib/cni'
