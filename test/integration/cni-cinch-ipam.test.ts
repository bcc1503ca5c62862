// cinch-bridge and cinch-ipam together through libcni, and each with the other's reference twin:
// concurrency and crashes must leave the IPAM store exact and nothing leaked on the host.
import test from 'ava'
import { execFile, spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { bare, makeNode, makeNs, nsPath, ping, sh, CNI_PATH, type Node } from './bridge-helpers.js'

const cinchIpam = (dir: string) => ({ type: 'cinch-ipam', dataDir: join(dir, 'ipam') })

/** Address files in the store (what is allocated), mapped to their owner line. */
function storeEntries(node: Node): Map<string, string> {
  const dir = join(node.dir, 'ipam', 'tnet')
  const out = new Map<string, string>()
  if (!existsSync(dir)) return out
  for (const f of readdirSync(dir)) {
    if (f === 'lock' || f.startsWith('last_reserved_ip')) continue
    out.set(f, readFileSync(join(dir, f), 'utf8').split(/\r?\n/)[0])
  }
  return out
}

function hostVeths(node: Node): string[] {
  return sh('ip', '-n', node.host, '-o', 'link', 'show')
    .split('\n')
    .map((l) => l.split(': ')[1]?.split('@')[0])
    .filter((n): n is string => Boolean(n && n.startsWith('cinch') && n !== 'cinch0'))
}

test('cinch-bridge with cinch-ipam: two pods reach each other and the gateway, v4 and v6', async (t) => {
  const node = makeNode(t)
  const conf = JSON.parse(readFileSync(node.conflist, 'utf8'))
  conf.plugins[0].ipam = { ...conf.plugins[0].ipam, ...cinchIpam(node.dir) }
  const { writeFileSync } = await import('node:fs')
  writeFileSync(node.conflist, JSON.stringify(conf))
  const pods = [makeNs(t, 'pa'), makeNs(t, 'pb')]
  const results = []
  for (const [i, p] of pods.entries()) {
    const r = await node.cnictl('add', nsPath(p), `ctr-${i}`)
    t.is(r.code, 0, r.err)
    results.push(JSON.parse(r.out))
  }
  const [a, b] = results.map((r) => r.ips.map((ip: { address: string }) => bare(ip.address)))
  t.true(ping(pods[0], b[0]), 'pod a reaches pod b over IPv4')
  t.true(ping(pods[0], b[1]), 'pod a reaches pod b over IPv6')
  t.true(ping(pods[1], '10.244.1.1'), 'pod b reaches its IPv4 gateway')
  t.true(ping(pods[1], 'fd00:10:244:1::1'), 'pod b reaches its IPv6 gateway')
  t.is((await node.cnictl('check', nsPath(pods[1]), 'ctr-1')).code, 0)
  t.deepEqual([...storeEntries(node).keys()].sort(), [...a, ...b].sort())
  for (const [i, p] of pods.entries()) t.is((await node.cnictl('del', nsPath(p), `ctr-${i}`)).code, 0)
  t.is(storeEntries(node).size, 0, 'DEL released every address')
})

test('the reference bridge plugin works with cinch-ipam', async (t) => {
  const node = makeNode(t)
  const conf = JSON.parse(readFileSync(node.conflist, 'utf8'))
  conf.plugins[0] = { type: 'bridge', bridge: 'refbr0', isGateway: true, ipMasq: true, ipam: { ...conf.plugins[0].ipam, ...cinchIpam(node.dir) } }
  const { writeFileSync } = await import('node:fs')
  writeFileSync(node.conflist, JSON.stringify(conf))
  const pods = [makeNs(t, 'ra'), makeNs(t, 'rb')]
  const addrs: string[] = []
  for (const [i, p] of pods.entries()) {
    const r = await node.cnictl('add', nsPath(p), `ref-${i}`)
    t.is(r.code, 0, r.err)
    addrs.push(bare(JSON.parse(r.out).ips[0].address))
  }
  t.true(ping(pods[0], addrs[1]), 'pods of the reference bridge reach each other on cinch-ipam addresses')
  t.is((await node.cnictl('check', nsPath(pods[0]), 'ref-0')).code, 0)
  for (const [i, p] of pods.entries()) t.is((await node.cnictl('del', nsPath(p), `ref-${i}`)).code, 0)
  t.is(storeEntries(node).size, 0)
})

test('32 concurrent ADDs through libcni get 32 distinct addresses; DEL leaves nothing', async (t) => {
  const node = makeNode(t, { ipam: cinchIpam('') })
  const conf = JSON.parse(readFileSync(node.conflist, 'utf8'))
  conf.plugins[0].ipam.dataDir = join(node.dir, 'ipam')
  const { writeFileSync } = await import('node:fs')
  writeFileSync(node.conflist, JSON.stringify(conf))
  const pods = Array.from({ length: 32 }, (_, i) => makeNs(t, `c${i}`))
  const adds = await Promise.all(pods.map((p, i) => node.cnictl('add', nsPath(p), `con-${i}`)))
  adds.forEach((r, i) => t.is(r.code, 0, `ADD ${i}: ${r.err}`))
  const v4 = adds.map((r) => bare(JSON.parse(r.out).ips[0].address))
  t.is(new Set(v4).size, 32, 'every pod has its own IPv4 address')
  const store = storeEntries(node)
  t.is(store.size, 64, 'one file per address, v4 and v6')
  t.is(new Set(store.values()).size, 32, 'each container owns exactly its two addresses')
  t.is(hostVeths(node).length, 32)
  const dels = await Promise.all(pods.map((p, i) => node.cnictl('del', nsPath(p), `con-${i}`)))
  dels.forEach((r, i) => t.is(r.code, 0, `DEL ${i}: ${r.err}`))
  t.is(storeEntries(node).size, 0)
  t.deepEqual(hostVeths(node), [])
})

test('cinch-bridge killed mid-ADD, then DEL as the runtime does: nothing leaked or duplicated', async (t) => {
  const node = makeNode(t)
  const conf = JSON.parse(readFileSync(node.conflist, 'utf8'))
  conf.plugins[0].ipam = { ...conf.plugins[0].ipam, ...cinchIpam(node.dir) }
  const plugin = { cniVersion: conf.cniVersion, name: conf.name, ...conf.plugins[0] }
  const bridgeBin = CNI_PATH.split(':')[0] + '/cinch-bridge'
  let killed = 0
  for (let i = 0; i < 12; i++) {
    const pod = makeNs(t, `k${i}`)
    const env = { ...process.env, CNI_CONTAINERID: `kill-${i}`, CNI_NETNS: nsPath(pod), CNI_IFNAME: 'eth0', CNI_PATH }
    const child = spawn('ip', ['netns', 'exec', node.host, bridgeBin], { env: { ...env, CNI_COMMAND: 'ADD' }, stdio: ['pipe', 'ignore', 'ignore'] })
    const closed = new Promise((r) => child.once('close', r))
    child.stdin.end(JSON.stringify(plugin))
    // Not a wait: a random instant to kill at, so the kills land at every step of ADD across the runs.
    await new Promise((r) => setTimeout(r, 20 + Math.random() * 250))
    // SIGKILL the whole tree: ip netns exec replaced itself with the plugin, which may have a child (IPAM).
    if (child.exitCode === null) {
      killed++
      try { sh('pkill', '-KILL', '-P', String(child.pid)) } catch { /* no child at that instant */ }
      child.kill('SIGKILL')
    }
    await closed
    // SPEC: after a failed ADD the runtime calls DEL for the same attachment.
    await new Promise<void>((resolve, reject) => {
      const del = execFile('ip', ['netns', 'exec', node.host, bridgeBin], { env: { ...env, CNI_COMMAND: 'DEL' } }, (err, stdout) =>
        err ? reject(new Error(`DEL ${i}: ${stdout}`)) : resolve())
      del.stdin!.end(JSON.stringify(plugin))
    })
  }
  t.log(`${killed} of 12 ADDs were killed before they finished`)
  t.is(storeEntries(node).size, 0, 'no address is left allocated')
  t.deepEqual(hostVeths(node), [], 'no host veth is left')
  t.deepEqual(existsSync(join(node.dir, 'state', 'attachments')) ? readdirSync(join(node.dir, 'state', 'attachments')) : [], [])
  let masq = ''
  try {
    masq = sh('ip', 'netns', 'exec', node.host, '/usr/sbin/nft', 'list', 'table', 'inet', 'cinch-nat')
  } catch {
    // no ADD got as far as masquerade: nothing to leak there
  }
  t.notRegex(masq, /kill-/, 'no masquerade element of a killed ADD is left')
})
