// The nft binary as a backend: `nft [-j] [-c] -f -` with the script on stdin.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { withNetns } from '../net/netns.js'
import type { NftBackend, NftOutput, NftRequest } from './backend.js'

// An absolute path, not a PATH lookup: under npm/npx, node_modules/.bin comes first on PATH and
// holds @vercel/nft's unrelated `nft` CLI. CINCH_NFT overrides for hosts that keep nft elsewhere.
export const NFT_BINARY =
  process.env.CINCH_NFT ??
  ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft', '/usr/local/sbin/nft'].find((p) => existsSync(p)) ??
  'nft'

export const execBackend: NftBackend = {
  name: 'nft',
  run(req: NftRequest): Promise<NftOutput> {
    // `nft -j -f -` tries the input as JSON first, which consumes stdin before the nft-syntax
    // parser reopens /dev/stdin (nftables 1.0.6 nft_run_cmd_from_filename): a JSON request (one
    // list command, built from checked names) goes on the command line instead.
    const command = req.text.trim()
    if (req.json && command.includes('\n')) throw new Error('nft -j: one command at a time')
    const args = [...(req.json ? ['-j'] : []), ...(req.check ? ['-c'] : []), ...(req.json ? command.split(/\s+/) : ['-f', '-'])]
    return new Promise((resolve, reject) => {
      const start = () => spawn(NFT_BINARY, args, { stdio: ['pipe', 'pipe', 'pipe'] })
      // libuv forks on the calling (main) thread, so a child spawned inside withNetns is born in
      // that namespace (lib/net/README.md "Child processes"); spawn itself is synchronous.
      let child: ChildProcess
      try {
        child = req.netns ? withNetns(req.netns, start) : start()
      } catch (err) {
        return reject(new Error(`exec ${NFT_BINARY}`, { cause: err }))
      }
      const out: Buffer[] = []
      const err: Buffer[] = []
      child.stdout!.on('data', (b: Buffer) => out.push(b))
      child.stderr!.on('data', (b: Buffer) => err.push(b))
      child.on('error', (e) => reject(new Error(`exec ${NFT_BINARY}`, { cause: e })))
      child.on('close', (code) =>
        resolve({ ok: code === 0, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }),
      )
      // EPIPE when nft exits early is reported through its exit code and stderr, not here.
      child.stdin!.on('error', () => {})
      child.stdin!.end(req.json ? '' : req.text)
    })
  },
}
