// The one place cinch runs the `nft` binary. Kept tiny: everything above it deals in ruleset text or
// parsed JSON, so it can be tested without a kernel.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'

// An absolute path, not a PATH lookup: under npm/npx, node_modules/.bin comes first on PATH and
// holds @vercel/nft's unrelated `nft` CLI. CINCH_NFT overrides for hosts that keep nft elsewhere.
const NFT =
  process.env.CINCH_NFT ??
  ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft', '/usr/local/sbin/nft'].find((p) => existsSync(p)) ??
  'nft'

export interface NftOutput {
  stdout: string
  stderr: string
  code: number
}

/** Runs nft with args, feeding stdin when given; resolves with its output whatever the exit code. */
export function execNft(args: string[], stdin?: string): Promise<NftOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(NFT, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.stderr.on('data', (b: Buffer) => err.push(b))
    child.on('error', (e) => reject(new Error(`exec ${NFT}`, { cause: e })))
    child.on('close', (code) =>
      resolve({ stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), code: code ?? 1 }),
    )
    // EPIPE when nft exits early is reported through its exit code and stderr, not here.
    child.stdin.on('error', () => {})
    child.stdin.end(stdin ?? '')
  })
}
