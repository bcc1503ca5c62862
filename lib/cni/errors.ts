// The CNI error object and the catalog of codes (SPEC "Error": codes 1-99 are reserved by the spec,
// 100+ are the plugin's own). The README's error table is checked against this catalog by a test.

export const ErrorCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodingFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  NotAvailable: 50,
  LimitedConnectivity: 51,
  Internal: 999,
} as const

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode]

/** What each code means to an operator reading the error; the README's table mirrors it. */
export const errorCodeMeaning: Record<ErrorCodeValue, string> = {
  1: 'Incompatible CNI version: the config asks for a version this plugin does not speak, or a verb that version lacks',
  2: 'Unsupported field in the network configuration',
  3: 'Container unknown or does not exist',
  4: 'Invalid necessary environment variables (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_PATH, CNI_ARGS): missing, or a value the plugin refuses',
  5: 'I/O failure (reading the state directory, writing the IPAM store)',
  6: 'Failed to decode content (stdin is not JSON or over 1 MiB, prevResult malformed)',
  7: 'Invalid network config: a key has a wrong type or value (GC: cni.dev/valid-attachments missing); details names the key',
  11: 'Try again later: a transient condition (the agent did not confirm the pod\'s policy in time, the IPAM store is busy)',
  50: 'STATUS: the plugin is not available, ADD would fail',
  51: 'STATUS: the plugin is available but with limited connectivity',
  999: 'Internal error: details carries the chain of causes',
}

/** An error that reaches the runtime as the spec's error object with its code. */
export class CniError extends Error {
  readonly code: number
  readonly msg: string
  readonly details?: string

  constructor(code: number, msg: string, details?: string, options?: { cause?: unknown }) {
    super(details ? `${msg}: ${details}` : msg, options)
    this.name = 'CniError'
    this.code = code
    this.msg = msg
    this.details = details
  }
}

/** Joins an error's message with those of its causes, for `details` and logs. */
export function describeError(err: unknown): string {
  const parts: string[] = []
  let cur: unknown = err
  for (let depth = 0; cur !== undefined && cur !== null && depth < 8; depth++) {
    if (cur instanceof AggregateError) {
      parts.push(`${cur.message} [${cur.errors.map(describeError).join('; ')}]`)
      break
    }
    parts.push(cur instanceof Error ? cur.message : String(cur))
    cur = cur instanceof Error ? cur.cause : undefined
  }
  return parts.join(': ')
}

/** Any error as a CniError: CniErrors pass through, the rest become code 999 with their cause chain. */
export function toCniError(err: unknown): CniError {
  if (err instanceof CniError) return err
  const first = err instanceof Error ? err.message : String(err)
  return new CniError(ErrorCode.Internal, first, describeError(err))
}
