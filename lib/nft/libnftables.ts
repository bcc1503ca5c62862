// libnftables (the library behind the nft binary, Debian's `nftables` package ships
// libnftables.so.1) called in process through koffi: a script costs its parse and netlink round
// trips, not a process start. See libnftables(3).
//
// Namespaces: nft_ctx_new() opens the context's netlink socket (nftables 1.0.6,
// src/libnftables.c), and a socket belongs to the namespace of the thread that opened it (lib/net
// README). So a request with `netns` gets a fresh context (about 20 µs) inside withNetns, freed
// after the call. A request without `netns` (the process's own namespace: the agent's tables) uses
// ONE context kept for the process, because closing a context costs what the change does not:
// closing a NETLINK_NETFILTER socket makes nf_tables flush its destroy work, an RCU grace period
// (7-8 ms after any deletion), and a fresh context fetches nft's cache (every table, chain and
// set) before its first command, where a kept one reuses it while the ruleset's generation is its
// own. Measured at 30k policies (README "Backends"): a policy create 19 -> 7 ms, a delete 20 -> 4.
// The kept context is checked against the thread's namespace before each use (a process that
// moved itself gets a fresh context there, as before), and freed at exit.
//
// The script is handed over as a memfd read with nft_run_cmd_from_filename, not as a buffer: in
// buffer mode nft 1.0.6 prints every error against the FIRST line of the input and with no line
// number, where the file mode prints `name:line:col` and the failing line, as the binary does.
// A JSON (list) request is one command, run from a buffer as the binary runs its command line.
import { closeSync, statSync, writeSync } from 'node:fs'
import { createRequire } from 'node:module'
import { withNetns } from '../net/netns.js'
import type { NftBackend, NftOutput, NftRequest } from './backend.js'

// include/nftables/libnftables.h
const NFT_CTX_DEFAULT = 0
const NFT_CTX_OUTPUT_JSON = 1 << 4
const MFD_CLOEXEC = 1
/** Above this a script runs on a libuv pool thread (koffi async), so the event loop keeps serving. */
const ASYNC_ABOVE = 64 * 1024

type Ctx = object
interface AsyncFn<A extends unknown[], R> {
  (...args: A): R
  async(...args: [...A, (err: unknown, res: R) => void]): void
}
interface Lib {
  ctxNew: (flags: number) => Ctx | null
  ctxFree: (ctx: Ctx) => void
  bufferOutput: (ctx: Ctx) => number
  bufferError: (ctx: Ctx) => number
  outputBuffer: (ctx: Ctx) => string | null
  errorBuffer: (ctx: Ctx) => string | null
  setOutputFlags: (ctx: Ctx, flags: number) => void
  setDryRun: (ctx: Ctx, dry: boolean) => void
  runFile: AsyncFn<[Ctx, string], number>
  runBuffer: (ctx: Ctx, text: string) => number
  memfd: (name: string, flags: number) => number
  errno: () => number
}

function bind(): Lib {
  const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi')
  const nft = koffi.load('libnftables.so.1')
  const libc = koffi.load('libc.so.6')
  const P = koffi.pointer(koffi.opaque('nft_ctx'))
  return {
    ctxNew: nft.func('nft_ctx_new', P, ['uint32']) as Lib['ctxNew'],
    ctxFree: nft.func('nft_ctx_free', 'void', [P]) as Lib['ctxFree'],
    bufferOutput: nft.func('nft_ctx_buffer_output', 'int', [P]) as Lib['bufferOutput'],
    bufferError: nft.func('nft_ctx_buffer_error', 'int', [P]) as Lib['bufferError'],
    outputBuffer: nft.func('nft_ctx_get_output_buffer', 'const char *', [P]) as Lib['outputBuffer'],
    errorBuffer: nft.func('nft_ctx_get_error_buffer', 'const char *', [P]) as Lib['errorBuffer'],
    setOutputFlags: nft.func('nft_ctx_output_set_flags', 'void', [P, 'uint']) as Lib['setOutputFlags'],
    setDryRun: nft.func('nft_ctx_set_dry_run', 'void', [P, 'bool']) as Lib['setDryRun'],
    runFile: nft.func('nft_run_cmd_from_filename', 'int', [P, 'const char *']) as unknown as Lib['runFile'],
    runBuffer: nft.func('nft_run_cmd_from_buffer', 'int', [P, 'const char *']) as Lib['runBuffer'],
    memfd: libc.func('int memfd_create(const char *name, unsigned int flags)') as Lib['memfd'],
    errno: () => koffi.errno(),
  }
}

function openContext(lib: Lib, req: NftRequest): Ctx {
  const ctx = lib.ctxNew(NFT_CTX_DEFAULT)
  if (!ctx) throw new Error('nft_ctx_new failed')
  if (lib.bufferOutput(ctx) !== 0 || lib.bufferError(ctx) !== 0) {
    lib.ctxFree(ctx)
    throw new Error('nft_ctx_buffer_output/error failed')
  }
  lib.setOutputFlags(ctx, req.json ? NFT_CTX_OUTPUT_JSON : 0)
  lib.setDryRun(ctx, !!req.check)
  return ctx
}

function collect(lib: Lib, ctx: Ctx, rc: number, keep = false): NftOutput {
  try {
    // Reading a buffer rewinds it (libnftables.c get_buffer): the next call starts empty.
    return { ok: rc === 0, stdout: lib.outputBuffer(ctx) ?? '', stderr: lib.errorBuffer(ctx) ?? '' }
  } finally {
    if (!keep) lib.ctxFree(ctx)
  }
}

/** The process's own context (see the head of this file), bound to the namespace it was opened in. */
interface Kept { ctx: Ctx; ns: string }

/** The calling thread's network namespace, as its nsfs identity. */
function threadNetns(): string {
  const st = statSync('/proc/thread-self/ns/net')
  return `${st.dev}:${st.ino}`
}

let backend: NftBackend | undefined

/** The in-process backend; throws when koffi or libnftables.so.1 cannot be loaded. */
export function loadLibnftables(): NftBackend {
  if (backend) return backend
  const lib = bind()
  // One call at a time: calls are short, and libnftables makes no promise about two contexts
  // running on two threads at once.
  let queue: Promise<unknown> = Promise.resolve()
  let kept: Kept | undefined
  const dropKept = () => {
    if (kept) lib.ctxFree(kept.ctx)
    kept = undefined
  }
  process.once('exit', dropKept)
  // The context for a request in the process's own namespace: the kept one, with this request's
  // output flags and dry-run setting (both plain fields of the context, read per command).
  const ownContext = (req: NftRequest): Ctx => {
    const ns = threadNetns()
    if (kept && kept.ns !== ns) dropKept()
    if (!kept) {
      kept = { ctx: openContext(lib, req), ns }
    }
    lib.setOutputFlags(kept.ctx, req.json ? NFT_CTX_OUTPUT_JSON : 0)
    lib.setDryRun(kept.ctx, !!req.check)
    return kept.ctx
  }
  const runOne = async (req: NftRequest): Promise<NftOutput> => {
    if (req.json) {
      const command = req.text.trim()
      if (command.includes('\n')) throw new Error('nft -j: one command at a time')
      if (req.netns) return withNetns(req.netns, () => { const ctx = openContext(lib, req); return collect(lib, ctx, lib.runBuffer(ctx, command)) })
      const ctx = ownContext(req)
      return collect(lib, ctx, lib.runBuffer(ctx, command), true)
    }
    const fd = lib.memfd('nft', MFD_CLOEXEC)
    if (fd < 0) throw new Error(`memfd_create: errno ${lib.errno()}`)
    try {
      writeSync(fd, req.text)
      const path = `/proc/self/fd/${fd}`
      if (req.netns) return withNetns(req.netns, () => { const ctx = openContext(lib, req); return collect(lib, ctx, lib.runFile(ctx, path)) })
      const ctx = ownContext(req)
      if (req.text.length <= ASYNC_ABOVE) return collect(lib, ctx, lib.runFile(ctx, path), true)
      // On a pool thread: its namespace is the process's (withNetns only ever moves the main
      // thread, and only inside a synchronous body), so the kept socket is the right one there.
      const rc = await new Promise<number>((resolve, reject) => lib.runFile.async(ctx, path, (err, res) => (err ? reject(err) : resolve(res)))).catch((err: unknown) => {
        dropKept()
        throw err
      })
      return collect(lib, ctx, rc, true)
    } finally {
      closeSync(fd)
    }
  }
  backend = {
    name: 'libnftables',
    run(req: NftRequest): Promise<NftOutput> {
      const next = queue.then(() => runOne(req))
      queue = next.catch(() => {})
      return next
    },
  }
  return backend
}
