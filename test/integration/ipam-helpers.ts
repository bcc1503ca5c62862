// Drives the built cinch-ipam (and the reference host-local) as a runtime does: CNI_* env, the net
// conf on stdin, one JSON document on stdout. IPAM needs no network namespace: only a dataDir,
// which each test makes under /tmp and removes in teardown.
import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { cleanupFor, type Teardown } from '../kit/cleanup.js'
import { tempDir } from '../kit/netns.js'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))
export const CINCH_IPAM = process.env.CINCH_IPAM_BIN ?? join(root, 'dist/cni/cinch-ipam')
export const HOST_LOCAL = '/usr/lib/cni/host-local'

export interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  out: any
  stdout: string
  stderr: string
}

export interface Invocation {
  command: 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC'
  conf: object
  containerId?: string
  ifName?: string
  args?: string
  plugin?: string
}

export function start(inv: Invocation): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(inv.plugin ?? CINCH_IPAM, [], {
    env: {
      PATH: process.env.PATH,
      CNI_COMMAND: inv.command,
      CNI_CONTAINERID: inv.containerId ?? '',
      CNI_NETNS: '/var/run/netns/cinch-t-ipam-unused',
      CNI_IFNAME: inv.ifName ?? 'eth0',
      CNI_PATH: '/usr/lib/cni',
      CNI_ARGS: inv.args ?? '',
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d) => (stdout += d))
  child.stderr!.on('data', (d) => (stderr += d))
  child.stdin!.on('error', () => {}) // a killed child closes its stdin early
  child.stdin!.end(JSON.stringify(inv.conf))
  const done = new Promise<Run>((resolve) =>
    child.on('close', (code, signal) => {
      let out: any
      try {
        out = stdout.trim() ? JSON.parse(stdout) : undefined
      } catch {
        out = stdout
      }
      resolve({ code, signal, out, stdout, stderr })
    }),
  )
  return { child, done }
}

export const run = (inv: Invocation): Promise<Run> => start(inv).done

/** A dataDir under /tmp, removed with the test (the kit's Cleanup). */
export function makeDataDir(t: Teardown): string {
  return tempDir(cleanupFor(t), 'cinch-t-ipam')
}

export function ipamConf(dataDir: string, ipam: object, extra: object = {}): object {
  return { cniVersion: '1.1.0', name: 'ipamtest', type: 'cinch-bridge', ipam: { type: 'cinch-ipam', dataDir, ...ipam }, ...extra }
}

export interface StoreView {
  /** address -> raw file content */
  files: Map<string, string>
  temps: string[]
  others: string[]
}

/** What the store directory holds: address files (named by an address), temp files, the rest. */
export function readStore(dataDir: string, network = 'ipamtest'): StoreView {
  const dir = join(dataDir, network)
  const view: StoreView = { files: new Map(), temps: [], others: [] }
  let names: string[] = []
  try {
    names = readdirSync(dir)
  } catch {
    return view
  }
  for (const name of names) {
    if (name.startsWith('.')) view.temps.push(name)
    else if (/^[0-9a-f.:]+$/.test(name) && (name.includes('.') || name.includes(':')) && !name.startsWith('last_')) {
      view.files.set(name, readFileSync(join(dir, name), 'utf8'))
    } else view.others.push(name)
  }
  return view
}
