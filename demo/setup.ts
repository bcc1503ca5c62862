// Where the demo finds the built cinch, and what it needs from the machine. A missing piece is
// reported with the command that provides it.
import { execFileSync } from 'node:child_process'
import { existsSync, realpathSync } from 'node:fs'
import { dirname, join } from 'node:path'

export interface Install {
  /** argv running the cinch CLI (the agents, `cinch status`). */
  cinch: string[]
  /** The same as a command line to paste. */
  cinchCommand: string
  /** dist/cni first (cinch-bridge, cinch-ipam), then the reference plugins (portmap). */
  cniPath: string
  examples: string
}

const REFERENCE_CNI_DIRS = ['/usr/lib/cni', '/opt/cni/bin']

/** Finds dist/ (bin/cinch + cni/) from the running CLI: the bundle itself, or a checkout's source. */
export function findInstall(): Install {
  const start = dirname(realpathSync(process.argv[1] ?? '.'))
  for (let d = start, i = 0; i < 4; d = dirname(d), i++) {
    for (const dist of [d, join(d, 'dist')]) {
      const bin = join(dist, 'bin/cinch')
      if (existsSync(bin) && existsSync(join(dist, 'cni/cinch-bridge'))) {
        const root = dirname(dist)
        const cniPath = [join(dist, 'cni'), ...REFERENCE_CNI_DIRS.filter((p) => existsSync(p))].join(':')
        return { cinch: [process.execPath, bin], cinchCommand: bin, cniPath, examples: join(root, 'examples') }
      }
    }
  }
  throw new Error('cannot find the built plugins (dist/cni/cinch-bridge, dist/bin/cinch): run `npm run build` (or `npm run demo`, which runs scripts/setup.sh first)')
}

const onPath = (cmd: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Throws naming everything missing, and how to get it. */
export function preflight(install: Install): void {
  const missing: string[] = []
  if (process.getuid?.() !== 0) missing.push('root: the demo creates network namespaces (run it with sudo)')
  if (!onPath('cnictl')) missing.push('cnictl: the libcni driver the demo uses as a container runtime would; `bash scripts/setup.sh` builds it into /usr/local/bin')
  for (const [cmd, pkg] of [['ip', 'iproute2'], ['ss', 'iproute2'], ['nft', 'nftables'], ['socat', 'socat']] as const) {
    if (!onPath(cmd)) missing.push(`${cmd}: apt-get install ${pkg} (or bash scripts/setup.sh)`)
  }
  if (!install.cniPath.split(':').some((d) => existsSync(join(d, 'portmap')))) {
    missing.push(`portmap (the conflist chains it): apt-get install containernetworking-plugins (looked in ${REFERENCE_CNI_DIRS.join(', ')})`)
  }
  if (!existsSync(install.examples)) missing.push(`the example policies: ${install.examples} is missing`)
  if (missing.length) throw new Error(`the demo cannot run here:\n  - ${missing.join('\n  - ')}`)
}
