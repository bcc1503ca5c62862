// The runtime's environment variables (SPEC "Parameters"), checked per verb: which ones a verb
// needs is in SPEC "CNI operations" (ADD and CHECK need all four; DEL may lack CNI_NETNS; STATUS,
// GC and VERSION need none of the container's).
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

/** Parses CNI_ARGS ("K8S_POD_NAMESPACE=x;K8S_POD_NAME=y;IgnoreUnknown=1"). */
export function parseCniArgs(raw: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const pair of raw.split(';')) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    if (eq <= 0) {
      throw new CniError(ErrorCode.InvalidEnvironment, 'CNI_ARGS is malformed', `"${pair}" is not KEY=VALUE`)
    }
    out[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return out
}

/** Reads and checks the CNI_* variables for the verb in CNI_COMMAND. */
export function parseEnv(env: NodeJS.ProcessEnv): CniEnv {
  const command = env.CNI_COMMAND ?? ''
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new CniError(
      ErrorCode.InvalidEnvironment,
      command ? `unknown CNI_COMMAND ${command}` : 'CNI_COMMAND is not set',
      `CNI_COMMAND must be one of ${COMMANDS.join(', ')}`,
    )
  }
  const verb = command as CniCommand
  const missing = REQUIRED[verb].filter((k) => !env[k])
  if (missing.length > 0) {
    throw new CniError(ErrorCode.InvalidEnvironment, `required env variables missing for ${verb}`, missing.join(', '))
  }
  const ifName = env.CNI_IFNAME ?? ''
  // An interface name is at most IFNAMSIZ-1 = 15 bytes and cannot hold '/' or whitespace (SPEC, ADD).
  if (ifName && (ifName.length > 15 || /[\s/:]/.test(ifName) || ifName === '.' || ifName === '..')) {
    throw new CniError(ErrorCode.InvalidEnvironment, `CNI_IFNAME "${ifName}" is not a valid interface name`)
  }
  return {
    command: verb,
    containerId: env.CNI_CONTAINERID ?? '',
    netns: env.CNI_NETNS ?? '',
    ifName,
    args: parseCniArgs(env.CNI_ARGS ?? ''),
    path: (env.CNI_PATH ?? '').split(':').filter(Boolean),
  }
}
