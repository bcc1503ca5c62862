// Helpers for the cinch-bridge integration tests: a "host" netns with pods, driven through
// cnictl (libcni) exactly as a runtime would, with every path in a temp dir.
import type { ExecutionContext } from 'ava'
import { execFile, execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { cleanupFor } from '../kit/cleanup.js'
import { makeNetns, tempDir as kitTempDir } from '../kit/netns.js'
import { cniBin, refBin } from '../kit/paths.js'

const pExecFile = promisify(execFile)
// CINCH_CNI_DIR: run against other plugin executables, e.g. those `cinch install` placed.
export const CINCH_CNI_DIR = process.env.CINCH_CNI_DIR ?? cniBin
export const CNI_PATH = `${CINCH_CNI_DIR}:${refBin}`

export function sh(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/** A netns `cinch-t-bridge-<role>-<random>`, removed with the test (the kit's Cleanup). */
export function makeNs(t: ExecutionContext, role: string): string {
  return makeNetns(cleanupFor(t), `cinch-t-bridge-${role}`)
}

export function tempDir(t: ExecutionContext): string {
  return kitTempDir(cleanupFor(t), 'cinch-t-bridge')
}

export interface Node {
  host: string
  dir: string
  conflist: string
  /** Runs cnictl in the host netns; resolves with exit code, stdout, stderr. */
  cnictl: (verb: string, netns: string, id: string, extra?: { env?: Record<string, string>; ifName?: string; capArgs?: object }) => Promise<{ code: number; out: string; err: string }>
}

export interface NodeOpts {
  cniVersion?: string
  bridge?: Record<string, unknown>
  ipam?: Record<string, unknown>
  /** Plugins chained after cinch-bridge. */
  chain?: Record<string, unknown>[]
}

/** A host netns and a conflist of cinch-bridge (+ host-local) whose state all lives in a temp dir. */
export function makeNode(t: ExecutionContext, o: NodeOpts = {}): Node {
  const host = makeNs(t, 'host')
  const dir = tempDir(t)
  const conf = {
    cniVersion: o.cniVersion ?? '1.0.0', // the reference plugins here (1.1.1) speak up to 1.0.0
    name: 'tnet',
    plugins: [
      {
        type: 'cinch-bridge', bridge: 'cinch0', isGateway: true, isDefaultGateway: true, ipMasq: true, hairpinMode: true,
        stateDir: join(dir, 'state'), agentSocket: join(dir, 'agent.sock'),
        ipam: {
          type: 'host-local', dataDir: join(dir, 'ipam'),
          ranges: [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:10:244:1::/64' }]],
          ...o.ipam,
        },
        ...o.bridge,
      },
      ...(o.chain ?? []),
    ],
  }
  const conflist = join(dir, 'conflist.json')
  writeFileSync(conflist, JSON.stringify(conf))
  const cnictl: Node['cnictl'] = async (verb, netns, id, extra = {}) => {
    const args = ['netns', 'exec', host, 'cnictl', verb, conflist, netns, id, extra.ifName ?? 'eth0', ...(extra.capArgs ? [JSON.stringify(extra.capArgs)] : [])]
    const env = { ...process.env, CNI_PATH, CNI_CACHE_DIR: join(dir, 'cache'), ...extra.env }
    try {
      const r = await pExecFile('ip', args, { env, encoding: 'utf8' })
      return { code: 0, out: r.stdout, err: r.stderr }
    } catch (e) {
      const x = e as { code?: number; stdout?: string; stderr?: string }
      return { code: typeof x.code === 'number' ? x.code : 1, out: x.stdout ?? '', err: x.stderr ?? '' }
    }
  }
  return { host, dir, conflist, cnictl }
}

export { nsPath } from '../kit/netns.js'

/** True when `ip` answers a ping from `fromNs`; one retry, since a first IPv6 packet can be lost to neighbour discovery under load. */
export function ping(fromNs: string, ip: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      sh('ip', 'netns', 'exec', fromNs, 'ping', '-c1', '-W2', ip)
      return true
    } catch {
      // try once more
    }
  }
  return false
}

export const bare = (cidr: string) => cidr.split('/')[0]

/** Runs the built cinch-bridge directly (no libcni), to see its exact error object. */
export async function runBridge(
  node: Node,
  o: {
    verb: string; conf: object | string; netns?: string; id?: string; ifName?: string
    /** More environment (CNI_ARGS, PATH, ...). */
    env?: Record<string, string>
    /** A command line the plugin runs under, e.g. an `unshare -m` that hides a binary. */
    wrap?: string[]
  },
): Promise<{ code: number; json: any; stderr: string }> {
  const env = {
    ...process.env, CNI_COMMAND: o.verb, CNI_CONTAINERID: o.id ?? '', CNI_NETNS: o.netns ?? '',
    CNI_IFNAME: o.ifName ?? 'eth0', CNI_PATH, ...o.env,
  }
  const argv = [...(o.wrap ?? []), 'ip', 'netns', 'exec', node.host, join(CINCH_CNI_DIR, 'cinch-bridge')]
  return new Promise((resolve) => {
    const child = execFile(argv[0], argv.slice(1), { env, encoding: 'utf8', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0
      let json: any
      try { json = stdout.trim() ? JSON.parse(stdout) : undefined } catch { json = { raw: stdout } }
      resolve({ code, json, stderr })
    })
    child.stdin!.on('error', () => {}) // a plugin that refuses a huge stdin exits before reading it all
    child.stdin!.end(typeof o.conf === 'string' ? o.conf : JSON.stringify(o.conf))
  })
}

/** The cinch-bridge plugin config inside a node's conflist, as a standalone config. */
export function pluginConf(node: Node, patch: Record<string, unknown> = {}): Record<string, any> {
  const list = JSON.parse(readFileSync(node.conflist, 'utf8'))
  return { cniVersion: list.cniVersion, name: list.name, ...list.plugins[0], ...patch }
}
