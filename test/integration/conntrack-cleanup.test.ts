// Conntrack cleanup never stalls the node (issue 8 item 2): one pod opens 10,000 UDP flows, a
// deny policy then makes them all denied. The agent must keep answering ADDs (a new pod's ADD,
// with policyRequired, completes in under 3 s while the cleanup runs), end every denied flow
// within a bound, leave the allowed ones alone, and log counts, not a line per flow.
// Before: one `conntrack -D` process per flow inside the sync loop (~25 a second), so the ADD
// waited minutes behind it and the log carried the whole flow list.
import test from 'ava'
import { readFileSync, writeFileSync } from 'node:fs'
import { addPod, Cleanup, fetchAgent, inNs, makeNodeCluster, type ManifestSet, type ModelPod, type NodeCluster, serve, startAgent, waitListening, writeManifests, applyManifests } from './netpol-helpers.js'
import { spawnInNetns } from '../kit/proc.js'
import { waitFor } from '../kit/wait.js'

const FLOWS = 10_000
const ALLOWED = 500
const cleanup = new Cleanup()
let c: NodeCluster

const udpPod = (namespace: string, name: string): ModelPod => ({ namespace, name, labels: { app: name }, ports: [{ port: 81, protocol: 'UDP' }] })
const base = (extra: { pods?: ModelPod[]; policies?: unknown[] } = {}): ManifestSet => ({
  namespaces: { x: { 'kubernetes.io/metadata.name': 'x' }, y: { 'kubernetes.io/metadata.name': 'y' } },
  pods: [udpPod('x', 'srv'), udpPod('y', 'cli'), udpPod('y', 'other'), ...(extra.pods ?? [])],
  policies: extra.policies ?? [],
})
const denySrv = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'deny-ingress' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } }

// In the client pod: one datagram from each source port in [from, from+count), 64 in flight, so
// the veth backlog never overflows; every datagram is one conntrack entry in the host netns.
const SENDER = `
const dgram = require('dgram')
const [target, from, count] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])]
let next = 0, done = 0
const one = () => {
  if (next >= count) return
  const port = from + next++
  const s = dgram.createSocket('udp4')
  s.bind(port, () => s.send('x', 81, target, () => { s.close(); if (++done === count) process.stdout.write('sent\\n'); else one() }))
}
for (let i = 0; i < 64; i++) one()
`

/** Entries in the host's table from `src` to `dst` port 81 (conntrack(8) itself, not our codec). */
async function flowCount(src: string, dst: string): Promise<number> {
  const out = await inNs(c.host, 'conntrack', ['-L', '-p', 'udp', '-s', src, '-d', dst, '--dport', '81'])
  return out.split('\n').filter((l) => l.startsWith('udp')).length
}

test.before(async () => {
  c = makeNodeCluster(cleanup, 'ct')
  // As the agent's own conflist does: no agent answering means ADD fails (11), never a pod without policy.
  const conf = JSON.parse(readFileSync(c.conflist, 'utf8'))
  conf.plugins[0].policyRequired = true
  writeFileSync(c.conflist, JSON.stringify(conf))
  writeManifests(c, base())
  await startAgent(c)
  await Promise.all([addPod(c, 'x', 'srv'), addPod(c, 'y', 'cli'), addPod(c, 'y', 'other')])
  for (const p of c.pods.values()) serve(c, p, [81])
  await waitListening(c, [81])
  await applyManifests(c, base())
})

test.after.always(() => cleanup.run())

test.serial('10k denied UDP flows: a new pod\'s ADD completes in under 3 s, the flows end, allowed ones stay, the log stays small', async (t) => {
  const srv = c.pods.get('x/srv')!, cli = c.pods.get('y/cli')!, other = c.pods.get('y/other')!
  const sent = [spawnInNetns(c.cleanup, cli.netns, process.execPath, ['-e', SENDER, srv.v4, '20000', String(FLOWS)]), spawnInNetns(c.cleanup, cli.netns, process.execPath, ['-e', SENDER, other.v4, '40000', String(ALLOWED)])]
  await waitFor('the sender to send every datagram', () => sent.every((s) => s.log().includes('sent')), { timeoutMs: 60_000 })
  let denied = 0
  await waitFor(`${FLOWS} entries in the host's table`, async () => (denied = await flowCount(cli.v4, srv.v4)) >= FLOWS * 0.99, { timeoutMs: 20_000 })
  const allowedBefore = await flowCount(cli.v4, other.v4)
  t.true(allowedBefore >= ALLOWED * 0.99, `allowed entries: ${allowedBefore}`)
  const logFrom = c.agent!.log().length

  // The deny lands, and with it a cleanup of ~10k entries; a pod's ADD goes right behind it.
  const newPod = udpPod('y', 'new')
  await applyManifests(c, base({ pods: [newPod], policies: [denySrv] }))
  const t0 = performance.now()
  await addPod(c, 'y', 'new')
  const addMs = performance.now() - t0
  t.log(`ADD with policyRequired, right after the deny of ${denied} flows: ${Math.round(addMs)} ms`)
  t.true(addMs < 3000, `ADD took ${Math.round(addMs)} ms`)

  await waitFor('every denied flow to be ended', async () => (await flowCount(cli.v4, srv.v4)) === 0, { timeoutMs: 20_000 })
  t.is(await flowCount(cli.v4, other.v4), allowedBefore, 'allowed flows untouched')

  const log = c.agent!.log().slice(logFrom).split('\n').filter(Boolean)
  const ended = log.filter((l) => l.includes('ended connections the new rules deny')).map((l) => JSON.parse(l))
  const deleted = ended.reduce((n, l) => n + l.deleted, 0)
  t.true(deleted >= denied, `the agent reports ${deleted} deleted of ${denied}`)
  t.log('cleanup passes:', ended.map(({ examined, denied: d, deleted: del, gone, durationMs }) => ({ examined, denied: d, deleted: del, gone, durationMs })))
  t.log('syncs:', log.filter((l) => l.includes('"rules applied"')).map((l) => { const j = JSON.parse(l); return { reason: j.sync, durationMs: j.durationMs, steps: j.steps } }))
  const longest = Math.max(...log.map((l) => l.length))
  t.true(longest < 4096, `longest agent log line: ${longest} bytes`)

  const metrics = await fetchAgent(c, '/metrics')
  const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1])
  t.true(metric('cinch_conntrack_flows_deleted_total') >= denied, 'deleted flows in /metrics')
  t.true(metric('cinch_conntrack_flows_examined_total') >= denied + allowedBefore, 'examined flows in /metrics')
  t.is(metric('cinch_conntrack_cleanup_errors_total'), 0)
  t.regex(metrics, /^cinch_conntrack_cleanup_duration_seconds_count [1-9]/m)
})
