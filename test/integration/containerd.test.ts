// A real runtime: containerd (Debian's package) starts two busybox containers with
// `ctr run --cni` on the conflist the agent writes; each gets its address and reaches the other.
//
// ctr runs the CNI plugins itself (go-cni) from the fixed paths /opt/cni/bin and /etc/cni/net.d.
// So that nothing on the real host changes, ctr runs inside a throwaway "host" netns whose mount
// namespace (made by `ip netns exec`) has temp dirs bind-mounted over those two paths; the
// containerd daemon gets its own root, state and socket.
import test from 'ava'
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync, rmdirSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cleanupFor } from '../kit/cleanup.js'
import { makeNetns } from '../kit/netns.js'
import { repoRoot } from '../kit/paths.js'
import { killChild, run } from '../kit/proc.js'
import { waitFor } from '../kit/wait.js'
import { renderNodeConflist } from '../../policy-agent/overlay/node-setup.js'

const image = 'cinch.test/busybox:1'

/** The conflist the agent writes (its own function), pointed at temp state; no agent runs here. */
function conflist(tmp: string) {
  const c = JSON.parse(renderNodeConflist({
    podCIDRs: ['10.244.7.0/24', 'fd00:10:244:7::/64'], mtu: 1500, portmap: true,
    stateDir: join(tmp, 'state'), agentSocket: join(tmp, 'agent.sock'), dataDir: join(tmp, 'ipam'),
  }))
  delete c.plugins[0].policyRequired // no agent: bridge-agent.test.ts covers that contract
  return c
}

test('containerd starts two containers on cinch and they reach each other', async (t) => {
  // Undone in reverse: the containers, the host netns, the daemon, then the dirs and mounts.
  const cleanup = cleanupFor(t)
  const tmp = mkdtempSync(join(tmpdir(), 'cinch-ctr-'))
  const sock = join(tmp, 'containerd.sock')
  const bin = join(tmp, 'bin')
  const netd = join(tmp, 'net.d')
  const made: string[] = []
  cleanup.add(async () => {
    // Only the mount points this test created, and only when still empty.
    for (const dir of made.reverse()) if (existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir)
    await run('umount', ['-R', join(tmp, 'root')]).catch(() => {})
    rmSync(tmp, { recursive: true, force: true })
  })

  for (const dir of ['/opt/cni', '/opt/cni/bin', '/etc/cni', '/etc/cni/net.d']) {
    if (!existsSync(dir)) {
      mkdirSync(dir)
      made.push(dir)
    }
  }
  mkdirSync(bin)
  mkdirSync(netd)
  for (const p of ['cinch-bridge', 'cinch-ipam']) await run('ln', ['-s', join(repoRoot, 'dist/cni', p), join(bin, p)])
  for (const p of ['portmap', 'loopback']) await run('ln', ['-s', join('/usr/lib/cni', p), join(bin, p)])
  writeFileSync(join(netd, '10-cinch.conflist'), JSON.stringify(conflist(tmp)))
  writeFileSync(
    join(tmp, 'config.toml'),
    [
      'version = 2',
      `root = "${join(tmp, 'root')}"`,
      `state = "${join(tmp, 'state-ctrd')}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${sock}"`,
    ].join('\n'),
  )
  const daemon = spawn('containerd', ['--config', join(tmp, 'config.toml')], { stdio: 'ignore' })
  cleanup.add(() => killChild(daemon, 'SIGTERM'))
  await waitFor('containerd socket', () => existsSync(sock), { timeoutMs: 10_000 })
  await run('python3', [join(repoRoot, 'test/tools/mkimage.py'), join(tmp, 'img.tar'), image])
  await run('ctr', ['-a', sock, 'images', 'import', join(tmp, 'img.tar')])

  const hostNs = makeNetns(cleanup, 'cinch-t-ctr')
  cleanup.add(async () => {
    for (const id of ['ctr-a', 'ctr-b']) await run('ctr', ['-a', sock, 'task', 'kill', '-s', 'KILL', id]).catch(() => {})
    await waitFor('the tasks to stop', async () => !/RUNNING/.test(await run('ctr', ['-a', sock, 'task', 'ls']).catch(() => '')), { timeoutMs: 10_000 }).catch(() => {})
    for (const id of ['ctr-a', 'ctr-b']) {
      await run('ctr', ['-a', sock, 'task', 'rm', '-f', id]).catch(() => {})
      await run('ctr', ['-a', sock, 'container', 'rm', id]).catch(() => {})
    }
  })
  // ctr with the CNI paths bound over the temp dirs, in the host netns.
  const ctr = (args: string[]) =>
    run('ip', ['netns', 'exec', hostNs, 'sh', '-c',
      `mount --bind ${bin} /opt/cni/bin && mount --bind ${netd} /etc/cni/net.d && exec ctr -a ${sock} "$@"`, 'ctr', ...args])

  for (const id of ['ctr-a', 'ctr-b']) await ctr(['run', '-d', '--cni', image, id])
  const addrOf = async (id: string, family: '-4' | '-6') => {
    const out = await run('ctr', ['-a', sock, 'task', 'exec', '--exec-id', `addr-${id}${family}`, id, 'ip', family, '-o', 'addr', 'show', 'eth0'])
    const m = /inet6? ([0-9a-f.:]+)\/\d+ .*scope global/.exec(out)
    if (!m) throw new Error(`no global ${family} address on ${id}: ${out}`)
    return m[1]
  }
  const a4 = await addrOf('ctr-a', '-4')
  const b4 = await addrOf('ctr-b', '-4')
  const b6 = await addrOf('ctr-b', '-6')
  t.regex(a4, /^10\.244\.7\./)
  t.not(a4, b4)
  const ping = (id: string, target: string, n: number) =>
    run('ctr', ['-a', sock, 'task', 'exec', '--exec-id', `ping-${n}`, id, 'ping', '-c', '1', '-W', '2', target])
  await t.notThrowsAsync(ping('ctr-a', b4, 1), 'ctr-a reaches ctr-b over IPv4')
  await t.notThrowsAsync(ping('ctr-b', a4, 2), 'ctr-b reaches ctr-a over IPv4')
  await t.notThrowsAsync(ping('ctr-a', b6, 3), 'ctr-a reaches ctr-b over IPv6')
  await t.notThrowsAsync(ping('ctr-a', '10.244.7.1', 4), 'ctr-a reaches its gateway')
})
