// Times plugin invocations for daemonset/README.md: `VERSION`, and a real ADD (+ DEL, untimed) of
// cinch-bridge with cinch-ipam into a pod netns, for each CNI bin directory given.
// Usage (root): node daemonset/measure/startup.mjs NAME=DIR [NAME=DIR ...]   [RUNS=30 env]
import { spawnSync, execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const runs = Number(process.env.RUNS ?? 30)
const variants = process.argv.slice(2).map((a) => a.split('='))
const tag = randomBytes(3).toString('hex')
const host = `cinch-t-install-mh-${tag}`
const pod = `cinch-t-install-mp-${tag}`
const dir = mkdtempSync(join(tmpdir(), 'cinch-t-install-measure-'))

function time(cmd, args, o = {}) {
  const t0 = process.hrtime.bigint()
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...o })
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stdout} ${r.stderr}`)
  return ms
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const stats = (xs) => `median ${median(xs).toFixed(1)} ms, min ${Math.min(...xs).toFixed(1)} ms`

try {
  execFileSync('ip', ['netns', 'add', host])
  execFileSync('ip', ['netns', 'add', pod])
  const inHost = (bin, env, stdin) => time('ip', ['netns', 'exec', host, bin], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...env }, input: stdin })
  const base = Array.from({ length: runs }, () => inHost('/bin/true', {}))
  console.log(`ip netns exec /bin/true (subtracted below): ${stats(base)}`)
  const b = median(base)
  const node = Array.from({ length: runs }, () => time(process.execPath, ['-e', '0']))
  console.log(`node -e 0 (no netns exec): ${stats(node)}`)
  for (const [name, cniDir] of variants) {
    const env = { CNI_PATH: cniDir, CINCH_NATIVE_CACHE: join(dir, 'native') }
    const version = Array.from({ length: runs }, () => inHost(join(cniDir, 'cinch-bridge'), { ...env, CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}') - b)
    const conf = JSON.stringify({
      cniVersion: '1.0.0', name: 'measure', type: 'cinch-bridge', bridge: 'cinchm0', isGateway: true,
      stateDir: join(dir, `state-${name}`), agentSocket: join(dir, 'none.sock'),
      ipam: { type: 'cinch-ipam', dataDir: join(dir, `ipam-${name}`), ranges: [[{ subnet: '10.99.0.0/24' }]] },
    })
    const add = []
    for (let i = 0; i < runs; i++) {
      const cni = { ...env, CNI_CONTAINERID: `m${i}`, CNI_NETNS: `/var/run/netns/${pod}`, CNI_IFNAME: 'eth0' }
      add.push(inHost(join(cniDir, 'cinch-bridge'), { ...cni, CNI_COMMAND: 'ADD' }, conf) - b)
      inHost(join(cniDir, 'cinch-bridge'), { ...cni, CNI_COMMAND: 'DEL' }, conf)
    }
    console.log(`${name}: VERSION ${stats(version)}; ADD ${stats(add)}`)
  }
} finally {
  for (const ns of [host, pod]) spawnSync('ip', ['netns', 'del', ns])
  rmSync(dir, { recursive: true, force: true })
}
