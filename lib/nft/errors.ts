// nft's failures as one error type, whichever backend ran it. nft reports each error as
// `<input>:<line>:<col>-<col>: Error: <message>`, then the input line and a caret line; the nft
// binary calls its input /dev/stdin, the in-process backend /proc/self/fd/N, so the location is
// rewritten to `line N:...` and both backends throw the same text. The errno predicates read only
// the first error line, as knftables' wrapError does (nft never calls setlocale: English always).

export class NftError extends Error {
  /** nft's error output, locations rewritten to `line N:col-col`. */
  readonly stderr: string
  /** The first failing line of the input (1-based) and its text, when nft located the error. */
  readonly line?: number
  readonly lineText?: string
  readonly errno?: 'ENOENT' | 'EEXIST' | 'ENFILE'

  constructor(what: string, stderr: string, input: string) {
    const text = normalizeStderr(stderr).trim()
    const first = /^line (\d+):\S*: Error: (.*)$/m.exec(text)
    const line = first ? Number(first[1]) : undefined
    const lineText = line !== undefined ? input.split('\n')[line - 1] : undefined
    const head = text.split('\n')[0] ?? ''
    const msg = first ? `${what}: line ${line}: ${first[2]}${lineText !== undefined ? `: ${lineText.trim().slice(0, 300)}` : ''}` : `${what}: ${head || 'failed'}`
    super(msg)
    this.name = 'NftError'
    this.stderr = text
    this.line = line
    this.lineText = lineText
    if (/No such file or directory/.test(head)) this.errno = 'ENOENT'
    else if (/File exists/.test(head)) this.errno = 'EEXIST'
    // nf_tables' answer to an element past a set's declared `size`.
    else if (/Too many open files in system/.test(head)) this.errno = 'ENFILE'
  }
}

/** `/dev/stdin:3:27-32: Error:` -> `line 3:27-32: Error:` */
export function normalizeStderr(s: string): string {
  return s.replace(/^[^\n]*?:(\d+):(\d+(?:-\d+)?): (?=Error|Warning)/gm, 'line $1:$2: ')
}

/** The object (table, chain, set, element, rule) a command named does not exist. */
export function isNotFound(err: unknown): boolean {
  return err instanceof NftError && err.errno === 'ENOENT'
}

/** A set already holds as many elements as the `size` it was created with. */
export function isSetFull(err: unknown): boolean {
  return err instanceof NftError && err.errno === 'ENFILE'
}

/** A `create` found the object already there. */
export function isExists(err: unknown): boolean {
  return err instanceof NftError && err.errno === 'EEXIST'
}
