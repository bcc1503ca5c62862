// The exec wrappers `cinch install` places in the CNI bin dir (and <prefix>/bin/cinch): POSIX sh, so
// the host needs no Node of its own. Two things they must get right:
//
// - One version per exec. `current` is resolved ONCE (`cd -P` in a subshell prints the physical
//   directory), and both the runtime and the bundle are taken from that directory. Naming
//   `current/node` and `current/lib/X.cjs` separately resolved the link twice: an install flipping
//   it between the two lookups ran one version's runtime with the other's bundle.
// - The host's environment does not configure cinch's runtime. kubelet's runtime passes its own
//   environment to plugins (CNI SPEC "Parameters": the plugin inherits the runtime's env), so a host
//   NODE_OPTIONS=--require=... meant for some other program would run inside every ADD. The
//   variables the runtime reads are unset first (a sh builtin: no extra exec per call).

/**
 * Every environment variable Node 24 (and its OpenSSL) reads at start-up that changes what runs or
 * how: `node --help` "Environment variables", plus the undocumented ones the binary reads
 * (NODE_CHANNEL_FD, NODE_UNIQUE_ID...). wrapper.test.ts holds this list to the pinned runtime's help.
 */
export const NODE_ENV_VARS = [
  'NODE_OPTIONS', 'NODE_PATH', 'NODE_EXTRA_CA_CERTS', 'NODE_ICU_DATA', 'NODE_USE_SYSTEM_CA', 'NODE_USE_ENV_PROXY',
  'NODE_COMPILE_CACHE', 'NODE_COMPILE_CACHE_PORTABLE', 'NODE_DISABLE_COMPILE_CACHE',
  'NODE_CHANNEL_FD', 'NODE_CHANNEL_SERIALIZATION_MODE', 'NODE_UNIQUE_ID', 'NODE_CLUSTER_SCHED_POLICY',
  'NODE_DEBUG', 'NODE_DEBUG_NATIVE', 'NODE_DISABLE_COLORS', 'NODE_NO_WARNINGS', 'NODE_PENDING_DEPRECATION',
  'NODE_PENDING_PIPE_INSTANCES', 'NODE_PRESERVE_SYMLINKS', 'NODE_PRESERVE_SYMLINKS_MAIN', 'NODE_REDIRECT_WARNINGS',
  'NODE_REPL_EXTERNAL_MODULE', 'NODE_REPL_HISTORY', 'NODE_SKIP_PLATFORM_CHECK', 'NODE_TLS_REJECT_UNAUTHORIZED',
  'NODE_V8_COVERAGE', 'NODE_SEA_BLOB', 'UV_THREADPOOL_SIZE',
  'OPENSSL_CONF', 'OPENSSL_ENGINES', 'OPENSSL_MODULES', 'SSL_CERT_FILE', 'SSL_CERT_DIR',
] as const

/** `s` as one sh word. */
const shQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

/** The names the CNI runtime execs: they answer a missing installation with a CNI error object. */
const CNI_COMMANDS = new Set(['cinch-bridge', 'cinch-ipam'])

export function wrapperScript(prefix: string, command: string): string {
  if (!/^[\w.-]+$/.test(command)) throw new Error(`wrapper for "${command}": not a command name`)
  const current = shQuote(`${prefix}/current`)
  // SPEC "Error": code 5 (I/O) is what a runtime shows for a plugin that cannot read its files.
  const missing = CNI_COMMANDS.has(command)
    ? `{ printf '%s\\n' '{"cniVersion":"1.0.0","code":5,"msg":"cinch is not installed","details":"${prefix.replace(/["'\\]/g, '_')}/current is missing: run cinch install"}'; exit 1; }`
    : `{ echo "cinch: ${prefix.replace(/["'\\$`]/g, '_')}/current is missing: run cinch install" >&2; exit 1; }`
  return [
    '#!/bin/sh',
    '# placed by cinch install; removed by cinch uninstall',
    `unset ${NODE_ENV_VARS.join(' ')}`,
    `d=$(cd -P ${current} 2>/dev/null && pwd) || ${missing}`,
    // `exec` replaces the shell: the runtime's signals and exit code reach node directly.
    `exec "$d/node" "$d/lib/${command}.cjs" "$@"`,
    '',
  ].join('\n')
}
