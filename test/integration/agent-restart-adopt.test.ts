// A restarted agent adopts the tables its predecessor committed, instead of replacing them, when
// it can prove the kernel still holds them (policy-agent/apply/adopt.ts), and replaces them
// otherwise. The built agent, a manifest source, in a host netns of its own:
// - nothing changed: adopted (nothing sent), the listing byte-identical, counters kept, rules enforce;
//   a diff after an adoption keeps the chain of commits, so the next restart adopts again;
// - someone committed in the namespace (another table, a flushed cinch chain), while the agent was
//   down or while it ran: replaced, and the flushed chain is back;
// - the cluster changed while it was down: replaced, the first sync holds the change;
// - a forged or broken record: replaced (or refused), never adopted.
import test from 'ava'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { addPod, Cleanup, inNs, killChild, makeNodeCluster, nftText, serve, startAgent, SUBNET4, SUBNET6, waitListening, writeManifests, type Agent, type ManifestSet, type NodeCluster } from './netpol-helpers.js'
import { probeFrom } from '../kit/probe.js'
import { waitFor } from '../kit/wait.js'

const cleanup = new Cleanup()
test.after.always(() => cleanup.run())

/** This node's Node object: with it the agent's overlay runs and commits its masquerade table. */
const NODE = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, spec: { podCIDRs: [SUBNET4, SUBNET6] }, status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }] } }

/** Pod a admits b on `port`; with `db`, pod b admits a on 81 too (a chain of b's, a's untouched); with `node`, the Node object. */
const cluster = (port: number, db = false, node = false): ManifestSet => ({
  namespaces: { x: { team: 'x' } },
  pods: [
    { namespace: 'x', name: 'a', labels: { pod: 'a' }, ports: [] },
    { namespace: 'x', name: 'b', labels: { pod: 'b' }, ports: [] },
  ],
  policies: [
    policy('web', 'a', 'b', port),
    ...(db ? [policy('db', 'b', 'a', 81)] : []),
  ],
  ...(node ? { extra: [NODE] } : {}),
})

function policy(name: string, to: string, from: string, port: number): unknown {
  return {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'x', name },
    spec: { podSelector: { matchLabels: { pod: to } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { pod: from } } }], ports: [{ port }] }] },
  }
}

interface Env {
  c: NodeCluster
  agent: Agent
  record: string
}

/** Pods a and b (made before any agent: ADD does not wait then), serving 80 and 81; an agent replaced its tables once. */
async function setUp(area: string, o: { node?: boolean } = {}): Promise<Env> {
  const c = makeNodeCluster(cleanup, area)
  serve(c, await addPod(c, 'x', 'a'))
  serve(c, await addPod(c, 'x', 'b'))
  await waitListening(c)
  writeManifests(c, cluster(80, false, o.node))
  const agent = await startAgent(c, agentFlags(c))
  return { c, agent, record: join(c.stateDir, 'restart-commit.json') }
}

/** The conflist the overlay writes goes beside the test's own (which DEL in the cleanup reads). */
const agentFlags = (c: NodeCluster) => ['--cni-conf', join(c.dir, 'agent-conflist.json')]

const firstSync = (agent: Agent) => agent.log().split('\n').find((l) => /"msg":"rules applied"/.test(l)) ?? ''
const notAdopted = (agent: Agent) => agent.log().split('\n').find((l) => /tables are not adopted/.test(l)) ?? ''

async function stop(t: { is: (a: unknown, b: unknown, m?: string) => void }, agent: Agent): Promise<void> {
  await killChild(agent.child, 'SIGTERM')
  t.is(agent.child.exitCode, 0, 'stopped cleanly')
}

/** From b to a: which of ports 80 and 81 connect. */
async function reach(c: NodeCluster): Promise<boolean[]> {
  const a = c.pods.get('x/a')!
  const r = await probeFrom(c.pods.get('x/b')!.netns, [{ ip: a.v4, port: 80, proto: 'tcp' }, { ip: a.v4, port: 81, proto: 'tcp' }], { timeoutMs: 1500 })
  return r.map((x) => x.ok)
}

/** The packets counted by the policy's counter in `nft list table` text. */
function policyPackets(listing: string): number {
  const m = /counter (\S*x-web\S*) \{\s*packets (\d+)/.exec(listing)
  if (!m) throw new Error(`no counter of x/web in:\n${listing}`)
  return Number(m[2])
}

test('nothing changed: the restart adopts (nothing sent, counters kept, rules enforce); a diff after it keeps the chain', async (t) => {
  const { c, agent: first, record } = await setUp('ad')
  t.regex(notAdopted(first), /no commit record/, 'a first start says why it replaced')
  t.regex(firstSync(first), /"mode":"full"/)
  t.deepEqual(await reach(c), [true, false])
  const before = await nftText(c)
  const bridgeBefore = await nftText(c, 'bridge')
  t.true(policyPackets(before) > 0, 'the policy counted the allowed connection')

  await stop(t, first)
  t.regex(first.log(), /"msg":"commit record written"/)
  t.true(existsSync(record))
  let agent = await startAgent(c, agentFlags(c))
  t.regex(firstSync(agent), /"mode":"adopted"/)
  t.regex(agent.log(), /adopted, nothing sent/)
  t.false(existsSync(record), 'the record is taken by the start that reads it')
  t.is(await nftText(c), before, 'inet cinch byte for byte, counter values included')
  t.is(await nftText(c, 'bridge'), bridgeBefore, 'bridge cinch byte for byte')
  t.deepEqual(await reach(c), [true, false], 'the adopted rules enforce')
  t.true(policyPackets(await nftText(c)) > policyPackets(before), 'the counter went on from its value, not from 0')

  // A change after the adoption: a diff whose generation follows the adopted one, so the record
  // of the next stop is good and the next start adopts again.
  writeManifests(c, cluster(81))
  // The sync's log line, not the listing: it follows the commit's answer (a stop between the two
  // would find the generation not yet known, and rightly write no record).
  await waitFor('the diff to port 81', () => /"sync":"source changed","mode":"diff"/.test(agent.log()), { timeoutMs: 20_000 })
  t.regex(await nftText(c), /tcp dport 81 /)
  t.deepEqual(await reach(c), [false, true])
  const changed = await nftText(c)
  await stop(t, agent)
  t.regex(agent.log(), /"msg":"commit record written"/)
  agent = await startAgent(c, agentFlags(c))
  t.regex(firstSync(agent), /"mode":"adopted"/, notAdopted(agent))
  t.is(await nftText(c), changed)
  await stop(t, agent)
})

test('someone committed while the agent was down or while it ran: the restart replaces the tables whole, and a flushed chain is back', async (t) => {
  const { c, agent: first, record } = await setUp('co')
  const chain = () => inNs(c.host, 'nft', ['list', 'chain', 'inet', 'cinch', 'pod-ingress-x-a'])
  const rules = await chain()
  t.regex(rules, /tcp dport 80 /)

  // 1. Another table, added while down: any commit in the namespace bumps the generation.
  await stop(t, first)
  await inNs(c.host, 'nft', ['add', 'table', 'inet', 'other'])
  let agent = await startAgent(c, agentFlags(c))
  t.regex(notAdopted(agent), /"reason":"nftables changed since the last commit/)
  t.regex(firstSync(agent), /"mode":"full"/)

  // 2. One of cinch's chains flushed while down: replaced, the rules are back.
  await stop(t, agent)
  await inNs(c.host, 'nft', ['flush', 'chain', 'inet', 'cinch', 'pod-ingress-x-a'])
  t.notRegex(await chain(), /tcp dport 80 /)
  agent = await startAgent(c, agentFlags(c))
  t.regex(notAdopted(agent), /nftables changed since the last commit/)
  t.is(await chain(), rules, 'the flushed chain is restored')
  t.deepEqual(await reach(c), [true, false])

  // 3. Flushed while the agent RAN, then a diff of the agent's own (which the flush does not stop):
  // the diff's generation does not follow the agent's last one, so it knows no longer what the
  // kernel holds, writes no record, and the next start replaces.
  await inNs(c.host, 'nft', ['flush', 'chain', 'inet', 'cinch', 'pod-ingress-x-a'])
  writeManifests(c, cluster(80, true))
  await waitFor('the diff that adds b\'s chain', async () => /pod-ingress-x-b/.test(await nftText(c)), { timeoutMs: 20_000 })
  t.notRegex(await chain(), /tcp dport 80 /, 'the diff left a\'s chain as the flush did')
  await stop(t, agent)
  t.regex(agent.log(), /"msg":"no commit record: the next start replaces the tables"/)
  t.false(existsSync(record))
  agent = await startAgent(c, agentFlags(c))
  t.regex(firstSync(agent), /"mode":"full"/)
  t.is(await chain(), rules, 'the chain flushed under the running agent is restored')
  await stop(t, agent)
})

test('the cluster changed while the agent was down: the first sync replaces with the change', async (t) => {
  const { c, agent: first } = await setUp('cc')
  await stop(t, first)
  writeManifests(c, cluster(81))
  const agent = await startAgent(c, agentFlags(c))
  t.regex(notAdopted(agent), /the rules to apply differ from the last commit/)
  t.regex(firstSync(agent), /"mode":"full"/)
  t.regex(await nftText(c), /tcp dport 81 /)
  t.deepEqual(await reach(c), [false, true])
  await stop(t, agent)
})

test('a forged or broken commit record is refused or fails a check: never adopted', async (t) => {
  const { c, agent: first, record } = await setUp('fo')
  let agent = first
  const edit = (f: (r: Record<string, unknown>) => unknown) => writeFileSync(record, JSON.stringify(f(JSON.parse(readFileSync(record, 'utf8')))))
  const cases: [string, () => void, RegExp][] = [
    ['a digest of other rules', () => edit((r) => ({ ...r, digest: createHash('sha256').update('other rules').digest('hex') })), /the rules to apply differ/],
    ['another generation', () => edit((r) => ({ ...r, genId: (r.genId as number) + 1 })), /nftables changed since the last commit/],
    ['a generation of the wrong type', () => edit((r) => ({ ...r, genId: String(r.genId) })), /commit record refused: genId is not a generation id/],
    ['a generation of 0', () => edit((r) => ({ ...r, genId: 0 })), /genId is not a generation id/],
    ['a digest that is not one', () => edit((r) => ({ ...r, digest: 'x'.repeat(64) })), /digest is not a sha256/],
    ['another boot', () => edit((r) => ({ ...r, bootId: '00000000-0000-0000-0000-000000000000' })), /the node rebooted/],
    ['another namespace', () => edit((r) => ({ ...r, netns: 'cookie:1' })), /another network namespace/],
    ['another agent build', () => edit((r) => ({ ...r, agentVersion: 'v0 1.1' })), /another agent build/],
    ['not an object', () => edit(() => [1, 2]), /not an object/],
    ['not JSON', () => writeFileSync(record, '{"format":'), /not JSON/],
    ['a symlink', () => { const real = `${record}.real`; writeFileSync(real, readFileSync(record)); symlinkSync(real, `${record}.link`); renameSync(`${record}.link`, record) }, /commit record refused: open: ELOOP/],
    ['too large', () => writeFileSync(record, ' '.repeat(8192)), /over 4096/],
  ]
  for (const [what, forge, reason] of cases) {
    await stop(t, agent)
    t.true(existsSync(record), `${what}: a record was written`)
    forge()
    agent = await startAgent(c, agentFlags(c))
    t.regex(notAdopted(agent), reason, what)
    t.regex(firstSync(agent), /"mode":"full"/, what)
  }
  t.deepEqual(await reach(c), [true, false])
  await stop(t, agent)
})

test('the agent\'s own masquerade commits (overlay) between its policy commits do not stop the restart adopting', async (t) => {
  const { c, agent: first } = await setUp('ov', { node: true })
  const overlaySynced = (a: Agent) => /"msg":"overlay synced"/.test(a.log())
  await waitFor('the overlay\'s masquerade table', () => overlaySynced(first), { timeoutMs: 20_000 })
  t.regex(await nftText(c, 'inet', 'cinch-nat'), /masquerade/)
  // 1. The overlay committed after the first sync's replace: the record steps over it.
  await stop(t, first)
  t.regex(first.log(), /"msg":"commit record written"/)
  let agent = await startAgent(c, agentFlags(c))
  t.regex(firstSync(agent), /"mode":"adopted"/, notAdopted(agent))
  // 2. It commits again at this start (after the adoption), then a policy diff: the diff follows
  // the adopted commit across the overlay's, so the next restart adopts too.
  await waitFor('the overlay at this start', () => overlaySynced(agent), { timeoutMs: 20_000 })
  writeManifests(c, cluster(81, false, true))
  await waitFor('the diff to port 81', () => /"sync":"source changed","mode":"diff"/.test(agent.log()), { timeoutMs: 20_000 })
  const changed = await nftText(c)
  await stop(t, agent)
  agent = await startAgent(c, agentFlags(c))
  t.regex(firstSync(agent), /"mode":"adopted"/, notAdopted(agent))
  t.is(await nftText(c), changed)
  t.deepEqual(await reach(c), [false, true])
  await stop(t, agent)
})
