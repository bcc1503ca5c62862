// Behaviours of the live agent on one cinch node, with real traffic: br_netfilter is switched on by
// the agent, the node always reaches its pods, a new deny ends an established connection
// (conntrack cleanup), a restart (graceful and crash) never lets a denied packet through, and a pod
// added under deny-all cannot send or receive its first packet (ADD waits for the agent).
import test from 'ava'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { addPod, applyManifests, Cleanup, fetchAgent, inNs, makeNodeCluster, METRICS, type ModelPod, type NodeCluster, repoRoot, startAgent } from './netpol-helpers.js'
import { spawnInNetns } from '../kit/proc.js'
import { observeFor, settled, waitFor } from '../kit/wait.js'
import { reachable } from '../kit/probe.js'
import { loopProbe, modelCluster, modelManifests } from './netpol-fixture.js'

const execFileP = promisify(execFile)
const cleanup = new Cleanup()
let c: NodeCluster
const BRNF = ['net/bridge/bridge-nf-call-iptables', 'net/bridge/bridge-nf-call-ip6tables']
const sysctls = (ns: string) => Promise.all(BRNF.map(async (k) => (await inNs(ns, 'cat', [`/proc/sys/${k}`])).trim()))

const policy = (namespace: string, name: string, spec: object) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace, name }, spec })
const denyIngress = (ns: string) => policy(ns, 'deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] })
const denyAll = (ns: string) => policy(ns, 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })
const pod = (key: string) => c.pods.get(key)!

/** A long-lived TCP client in `netns`: one line every 100 ms; echoes() = lines echoed back so far. */
function echoClient(netns: string, host: string, port: number): { echoes: () => number } {
  const child = spawnInNetns(c.cleanup, netns, process.execPath, ['-e', `
    const s = require('net').connect({ host: ${JSON.stringify(host)}, port: ${port} })
    let n = 0
    s.on('connect', () => setInterval(() => s.write('p\\n'), 100))
    s.on('data', (d) => { n += String(d).split('\\n').length - 1; process.stdout.write(n + '\\n') })
    s.on('close', () => process.stdout.write('closed\\n')); s.on('error', () => {})`])
  return { echoes: () => Number(child.log().trim().split('\n').filter((l) => /^\d+$/.test(l)).pop() ?? 0) }
}

test.before(async () => {
  c = await modelCluster(cleanup, 'l', {
    // Switched off before the agent starts: it must switch them on itself.
    beforeAgent: async (n) => void (await inNs(n.host, 'sh', ['-c', BRNF.map((k) => `echo 0 > /proc/sys/${k}`).join('; ')])),
  })
})

test.after.always(() => cleanup.run())

test.serial('the agent enables br_netfilter in its netns, so bridged pod traffic is filtered', async (t) => {
  t.deepEqual(await sysctls(c.host), ['1', '1'])
  t.regex(c.agent!.log(), /br_netfilter enabled/)
  await applyManifests(c, { ...modelManifests({}), policies: [denyIngress('x')] })
  // Both pods hang off the same bridge: only br_netfilter shows this packet to the inet hooks.
  t.deepEqual(await reachable(pod('y/a').netns, { proto: 'tcp', port: 80, ips: [pod('x/a').v4, pod('x/a').v6, pod('z/a').v4] }), [false, false, true])
})

test.serial('the agent refuses to run, loudly and with no rules, when it cannot enable br_netfilter', async (t) => {
  const own = new Cleanup()
  t.teardown(() => own.run())
  const n = makeNodeCluster(own, 'ro')
  await inNs(n.host, 'sh', ['-c', `echo 0 > /proc/sys/${BRNF[0]}`])
  // A private mount namespace where /proc/sys/net/bridge is read-only: the write must fail.
  const r = await execFileP('ip', ['netns', 'exec', n.host, 'unshare', '-m', 'sh', '-c',
    'mount --bind /proc/sys/net/bridge /proc/sys/net/bridge && mount -o remount,bind,ro /proc/sys/net/bridge && exec "$@"', 'sh',
    process.execPath, join(repoRoot, 'dist/bin/cinch'), 'agent', '--manifests', n.manifests, '--state-dir', n.stateDir, '--socket', n.socket, '--metrics-addr', METRICS,
  ], { encoding: 'utf8', timeout: 30_000 }).then(() => ({ code: 0, out: '' }), (e) => ({ code: e.code as number, out: `${e.stdout}${e.stderr}` }))
  t.is(r.code, 1, r.out)
  t.regex(r.out, /cannot enable br_netfilter; refusing to run/)
  t.regex(r.out, /bridge-nf-call-iptables/)
  t.is((await inNs(n.host, 'nft', ['list', 'tables'])).trim(), '', 'no table was created')
})

test.serial('the node reaches its local pods under deny-all (kubelet probes)', async (t) => {
  await applyManifests(c, { ...modelManifests({}), policies: ['x', 'y', 'z'].map(denyAll) })
  const all = [...c.pods.values()].flatMap((p) => [p.v4, p.v6])
  t.deepEqual(await reachable(c.host, { proto: 'tcp', port: 80, ips: all }), all.map(() => true), 'TCP from the node')
  t.deepEqual(await reachable(c.host, { proto: 'udp', port: 80, ips: all }), all.map(() => true), 'UDP from the node')
  t.deepEqual(await reachable(pod('y/a').netns, { proto: 'tcp', port: 80, ips: [pod('x/a').v4, pod('z/b').v6] }), [false, false], 'pods are isolated')
})

test.serial('a new deny ends an established TCP connection (conntrack cleanup)', async (t) => {
  await applyManifests(c, { ...modelManifests({}), policies: [] })
  const server = spawnInNetns(c.cleanup, pod('x/a').netns, 'socat', ['TCP6-LISTEN:82,fork,reuseaddr,ipv6only=0', 'EXEC:cat'])
  await waitFor('echo server on 82', async () => /:82\s/.test(await inNs(pod('x/a').netns, 'ss', ['-lnt'])), { timeoutMs: 10_000 })
  const { echoes } = echoClient(pod('y/a').netns, pod('x/a').v4, 82)
  await waitFor('data flowing on the connection before the policy', () => echoes() >= 5, { timeoutMs: 10_000 })
  const ended = () => c.agent!.log().split('ended connections the new rules deny').length
  const endedBefore = ended()
  await applyManifests(c, { ...modelManifests({}), policies: [denyIngress('x')] })
  // The cleanup runs right after the sync: once it has, not one more echo may come back.
  await waitFor('the agent to end denied connections', () => ended() > endedBefore, { timeoutMs: 10_000 })
  // Echoes already in the client's socket or pipe when the entry went are still read: let them land.
  const before = await settled('the echo count', echoes)
  await observeFor(2000, 'no echo may come back once the connection is denied')
  t.is(echoes(), before, 'no data flows on the connection after the deny')
  t.notRegex(await inNs(c.host, 'conntrack', ['-L', '-p', 'tcp', '--dport', '82']).catch(() => ''), /ESTABLISHED/, 'no established entry survives')
  t.log(`echoes before the deny took effect: ${before}; server alive: ${server.exitCode === null}`)
})

// Server push: after the cleanup the SERVER speaks next. Conntrack's loose TCP pick-up then starts a
// new entry in the reverse direction (server -> client), which the policy would allow -- and the
// client's packets become its "replies". The connection must die all the same.
for (const v of [
  { what: 'from a pod to an ingress-isolated pod', port: 84, server: () => pod('x/c').netns, addr: () => pod('x/c').v4, client: () => pod('y/c').netns, policies: () => [denyIngress('x')] },
  { what: 'from an egress-isolated pod to the node', port: 85, server: () => c.host, addr: () => '10.244.1.1', client: () => pod('z/c').netns, policies: () => [denyAll('z')] },
]) {
  test.serial(`a new deny ends an established connection ${v.what} even when the server speaks next`, async (t) => {
    await applyManifests(c, { ...modelManifests({}), policies: [] })
    spawnInNetns(c.cleanup, v.server(), 'socat', [`TCP6-LISTEN:${v.port},fork,reuseaddr,ipv6only=0`, 'SYSTEM:while echo p; do sleep 0.1; done'])
    await waitFor(`push server on ${v.port}`, async () => new RegExp(`:${v.port}\\s`).test(await inNs(v.server(), 'ss', ['-lnt'])), { timeoutMs: 10_000 })
    const child = spawnInNetns(c.cleanup, v.client(), 'socat', ['-u', `TCP:${v.addr()}:${v.port}`, '-'])
    const lines = () => child.log().split('\n').length - 1
    await waitFor('data flowing before the policy', () => lines() >= 5, { timeoutMs: 10_000 })
    const ended = () => c.agent!.log().split('ended connections the new rules deny').length
    const endedBefore = ended()
    await applyManifests(c, { ...modelManifests({}), policies: v.policies() })
    // The cleanup runs right after the sync: wait until it has, however loaded the machine is.
    await waitFor('the agent to end denied connections', () => ended() > endedBefore, { timeoutMs: 10_000 })
    const before = await settled('the pushed line count', lines) // lines already in flight still land
    await observeFor(2000, 'no pushed line may arrive once the connection is denied')
    t.is(lines(), before, 'data still flows on the connection after the deny')
  })
}

/** Conntrack cleanup passes the agent has finished (its /metrics histogram count). */
async function cleanupPasses(cluster: NodeCluster): Promise<number> {
  const m = /^cinch_conntrack_cleanup_duration_seconds_count\S* (\d+)/m.exec(await fetchAgent(cluster, '/metrics'))
  return m ? Number(m[1]) : 0
}

test.serial('a connection the node opened to a pod survives a new deny-all (the node always reaches its pods)', async (t) => {
  await applyManifests(c, { ...modelManifests({}), policies: [] })
  spawnInNetns(c.cleanup, pod('x/b').netns, 'socat', ['TCP6-LISTEN:83,fork,reuseaddr,ipv6only=0', 'EXEC:cat'])
  await waitFor('echo server on 83', async () => /:83\s/.test(await inNs(pod('x/b').netns, 'ss', ['-lnt'])), { timeoutMs: 10_000 })
  const client = echoClient(c.host, pod('x/b').v4, 83)
  await waitFor('data flowing from the node before the policy', () => client.echoes() >= 5, { timeoutMs: 10_000 })
  const passesBefore = await cleanupPasses(c)
  await applyManifests(c, { ...modelManifests({}), policies: [denyAll('x')] })
  // The conntrack cleanup runs beside the sync: wait until a pass that saw the deny has ended.
  await waitFor('a conntrack cleanup pass after the deny', async () => (await cleanupPasses(c)) > passesBefore, { timeoutMs: 10_000 })
  const before = client.echoes()
  // Deleting its entry would only "work" through nf_conntrack_tcp_loose pick-up: it must not happen.
  t.regex(await inNs(c.host, 'conntrack', ['-L', '-p', 'tcp', '--dport', '83']).catch(() => ''), /ESTABLISHED/, 'the node\'s own connection keeps its conntrack entry')
  await waitFor('echoes to keep flowing on the node\'s connection after deny-all', () => client.echoes() >= before + 10, { timeoutMs: 5000 }).then(
    () => t.pass(),
    (err) => t.fail(`${(err as Error).message}: ${before} -> ${client.echoes()}`),
  )
})

test.serial('an agent restart (graceful, then a crash) never lets a denied packet through', async (t) => {
  await applyManifests(c, { ...modelManifests({}), policies: [denyIngress('x')] })
  const denied = loopProbe(pod('y/a').netns, { target: pod('x/a').v4, port: 80, durationMs: 12_000 })
  const allowed = loopProbe(pod('y/b').netns, { target: pod('z/a').v4, port: 80, durationMs: 12_000 })
  // Both probers under way (the allowed one through once) before the agent goes.
  await waitFor('the allowed prober to get through', () => allowed.okSoFar() > 0, { timeoutMs: 10_000 })
  await c.agent!.stop() // SIGTERM
  await startAgent(c)
  c.agent!.child.kill('SIGKILL') // a crash: no shutdown code runs at all
  await new Promise((r) => c.agent!.child.once('exit', r))
  await startAgent(c)
  const [d, a] = await Promise.all([denied, allowed])
  t.log({ denied: d, allowed: a })
  t.is(d.ok, 0, 'a denied connection got through during the restarts')
  t.true(d.attempts > 10)
  t.true(a.ok > a.attempts / 2, 'allowed traffic kept flowing')
  t.deepEqual(await reachable(pod('y/a').netns, { proto: 'tcp', port: 80, ips: [pod('x/a').v4, pod('x/b').v6, pod('z/a').v4] }), [false, false, true], 'the restarted agent enforces')
})

test.serial('a pod added under deny-all cannot send or receive its first packet', async (t) => {
  const newPod = (namespace: string): ModelPod => ({ namespace, name: 'new', labels: { pod: 'new' }, ports: [{ name: 'serve-80-tcp', port: 80, protocol: 'TCP' }] })
  const base = modelManifests({})
  // As in a cluster: the Pod object exists (without addresses) before the runtime runs CNI ADD.
  await applyManifests(c, { namespaces: base.namespaces, pods: [...base.pods, newPod('x'), newPod('y')], policies: [denyAll('x')] })
  const peer = pod('y/a')
  const start = async (ns: string) => {
    const p = await addPod(c, ns, 'new') // resolves when cnictl ADD returns
    spawnInNetns(c.cleanup, p.netns, 'socat', ['TCP6-LISTEN:80,fork,reuseaddr,ipv6only=0', 'EXEC:/bin/echo'])
    const [send, receive] = await Promise.all([
      loopProbe(p.netns, { target: peer.v4, port: 80, durationMs: 3000, intervalMs: 20 }),
      loopProbe(peer.netns, { target: p.v4, port: 80, durationMs: 3000, intervalMs: 20 }),
    ])
    return { send, receive }
  }
  const [x, y] = await Promise.all([start('x'), start('y')])
  t.log({ x, y })
  t.is(x.send.ok, 0, 'x/new sent a packet past deny-all egress')
  t.is(x.receive.ok, 0, 'x/new received a packet past deny-all ingress')
  // Control: the same probes see a pod without policy at once, so the zeros above mean something.
  t.true(y.send.ok > 0 && y.receive.ok > 0, 'y/new (no policy) is reachable within the same window')
  // And the packets towards x/new did reach the host and were dropped by its chain (not refused).
  t.regex(await inNs(c.host, 'nft', ['list', 'counter', 'inet', 'cinch', 'drop-ingress-x-new']), /packets [1-9]/)
  c.pods.delete('x/new')
  c.pods.delete('y/new')
})
