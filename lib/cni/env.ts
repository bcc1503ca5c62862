// The runtime's environment variables (SPEC "Parameters"), checked per verb: which ones a verb
// needs is in SPEC "CNI operations" (ADD and CHECK need all four; DEL may lack CNI_NETNS; STATUS,
// GC and VERSION need none of the container's). Every value is hostile until checked here: the
// container ID and interface name end up in file names, nft comments and lease files, so they are
// held to the reference skel's rules (containernetworking/cni pkg/utils) before any verb sees them.
import { CniError, ErrorCode } from './errors.js'
import type { CniCommand, CniEnv } from './types.js'

const COMMANDS: readonly CniCommand[] = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION']

const REQUIRED: Record<CniCommand, string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  STATUS: ['CNI_PATH'],
  GC: ['CNI_PATH'],
  VERSION: [],
}

/** SPEC "Parameters" / pkg/utils cniReg: the container ID and the network name share this pattern. */
export const CNI_NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/

/** IFNAMSIZ - 1: the kernel counts bytes, not characters (net/core/dev.c dev_valid_name). */
const MAX_IFNAME_BYTES = 15

/** Why `ifName` is not a usable interface name, or undefined (pkg/utils ValidateInterfaceName). */
export function interfaceNameProblem(ifName: string): string | undefined {
  if (ifName === '') return 'is empty'
  const bytes = Buffer.byteLength(ifName, 'utf8')
  if (bytes > MAX_IFNAME_BYTES) return `is ${bytes} bytes long, at most ${MAX_IFNAME_BYTES} are allowed`
  if (ifName === '.' || ifName === '..') return 'is . or ..'
  // \s covers what Go's unicode.IsSpace does (and a few more); control characters have no place either.
  if (/[/:\s\p{Cc}]/u.test(ifName)) return 'contains /, :, whitespace or a control character'
  return undefined
}

/** Parses CNI_ARGS ("K8S_POD_NAMESPACE=x;K8S_POD_NAME=y;IgnoreUnknown=1"). */
export function parseCniArgs(raw: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const pair of raw.split(';')) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    if (eq <= 0) {
      throw new CniError(ErrorCode.InvalidEnvironment, 'CNI_ARGS is malformed', `"${pair.slice(0, 100)}" is not KEY=VALUE`)
    }
    out[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return out
}

const quote = (s: string) => JSON.stringify(s.length > 100 ? `${s.slice(0, 100)}...` : s)

/** Reads and checks the CNI_* variables for the verb in CNI_COMMAND. */
export function parseEnv(env: NodeJS.ProcessEnv): CniEnv {
  const command = env.CNI_COMMAND ?? ''
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new CniError(
      ErrorCode.InvalidEnvironment,
      command ? `unknown CNI_COMMAND ${quote(command)}` : 'CNI_COMMAND is not set',
      `CNI_COMMAND must be one of ${COMMANDS.join(', ')}`,
    )
  }
  const verb = command as CniCommand
  const missing = REQUIRED[verb].filter((k) => !env[k])
  if (missing.length > 0) {
    throw new CniError(ErrorCode.InvalidEnvironment, `required env variables missing for ${verb}`, missing.join(', '))
  }
  const containerId = env.CNI_CONTAINERID ?? ''
  // pkg/skel checks it for every verb that carries one: it names files (lease, record) and nft comments.
  if (containerId && !CNI_NAME_PATTERN.test(containerId)) {
    throw new CniError(ErrorCode.InvalidEnvironment, 'invalid characters in CNI_CONTAINERID', `${quote(containerId)} must match ${CNI_NAME_PATTERN.source}`)
  }
  const ifName = env.CNI_IFNAME ?? ''
  const ifProblem = ifName ? interfaceNameProblem(ifName) : undefined
  if (ifProblem) {
    throw new CniError(ErrorCode.InvalidEnvironment, `CNI_IFNAME is not a valid interface name`, `${quote(ifName)} ${ifProblem}`)
  }
  const netns = env.CNI_NETNS ?? ''
  if (netns && !netns.startsWith('/')) {
    throw new CniError(ErrorCode.InvalidEnvironment, 'CNI_NETNS must be an absolute path', quote(netns))
  }
  return {
    command: verb,
    containerId,
    netns,
    ifName,
    args: parseCniArgs(env.CNI_ARGS ?? ''),
    path: (env.CNI_PATH ?? '').split(':').filter(Boolean),
  }
}
