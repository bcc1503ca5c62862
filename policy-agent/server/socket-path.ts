// The agent socket's place in the file system. Only root (the runtime running cinch-bridge) may talk
// to the agent: the socket is 0600, and the directory 0700 when the agent creates it. A socket left
// by an agent that died is replaced; anything else at that path, or a live agent, is not.
import { connect } from 'node:net'
import { chmodSync } from 'node:fs'
import { lstat, mkdir, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'

/** Resolves true when something accepts connections on `path` (another agent), false when refused. */
function isListening(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const s = connect(path)
    const timer = setTimeout(() => (s.destroy(), resolve(true)), 1000) // accepted but slow: alive
    s.on('connect', () => (clearTimeout(timer), s.destroy(), resolve(true)))
    s.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') resolve(false)
      else reject(new Error(`probe socket ${path}`, { cause: err }))
    })
  })
}

/** Makes `path` free to listen on: creates its directory (0700), removes a stale socket there. */
export async function prepareSocketPath(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  let st
  try {
    st = await lstat(path) // lstat: a symlink is not followed, and is refused below
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw new Error(`stat ${path}`, { cause: err })
  }
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; refusing to remove it`)
  if (await isListening(path)) throw new Error(`another process is listening on ${path} (a second agent?)`)
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw new Error(`remove stale socket ${path}`, { cause: err })
  })
}

/**
 * Called right after listen() returned: Node binds a unix socket synchronously inside listen(), so
 * the file exists with the umask's mode (often 0755) and is tightened before any callback runs.
 */
export function restrictSocketFile(path: string): void {
  chmodSync(path, 0o600)
}
