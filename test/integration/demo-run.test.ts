// `cinch demo` end to end, as a user runs it (the built CLI, non-interactive): its matrices are
// checked against what examples/ implies, and nothing of it may remain afterwards: not after a
// normal run, not after Ctrl-C, not after `--keep` + `cinch demo down`. Needs `npm run build`.
import test, { type ExecutionContext } from 'ava'
import { execFile, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from '../kit/paths.js'
import { uniqueName } from '../kit/netns.js'

const cinch = join(process.env.CINCH_TEST_DIST ?? join(repoRoot, 'dist'), 'bin/cinch')

function runCinch(args: string[], onOut?: (soFar: string, kill: (sig: NodeJS.Signals) => void) => void): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cinch, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } })
    let out = ''
    const on = (b: Buffer) => {
      out += b
      onOut?.(out, (sig) => child.kill(sig))
    }
    child.stdout.on('data', on)
    child.stderr.on('data', on)
    child.on('close', (code) => resolve({ code, out }))
  })
}

const netnsWith = (prefix: string) => new Promise<string[]>((resolve) =>
  execFile('ip', ['netns', 'list'], (_e, out) => resolve(String(out).split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`${prefix}-`)))))

function demoName(t: ExecutionContext): string {
  const name = uniqueName('cinch-t-demo')
  t.teardown(() => runCinch(['demo', 'down', '--name', name]))
  return name
}

/** The table after `heading`: labels and one row of cells per source. */
function matrixAfter(out: string, heading: string): { labels: string[]; rows: Record<string, Record<string, string>> } {
  const lines = out.slice(out.indexOf(heading)).split('\n')
  const head = lines.findIndex((l) => l.startsWith('from \\ to'))
  const labels = lines[head]!.replace('from \\ to', '').trim().split(/\s+/)
  const rows: Record<string, Record<string, string>> = {}
  for (const line of lines.slice(head + 1, head + 1 + labels.length)) {
    const [from, ...cells] = line.trim().split(/\s+/)
    rows[from!] = Object.fromEntries(labels.map((l, i) => [l, cells[i]!]))
  }
  return { labels, rows }
}

const PODS = ['shop/web', 'shop/api', 'shop/db', 'infra/dns', 'infra/monitor', 'lab/client']
// What examples/ implies, by hand from the policies (rows: from; columns: to; TCP 80):
// shop ingress is default-deny, web is open to all, api admits shop's role=frontend only (not
// lab/client, labelled alike in another namespace), db admits api only; shop's egress goes only to
// shop pods and to DNS on port 53 (so not to infra/dns:80). Replies are never blocked.
// ClusterNetworkPolicies (examples/04, 05): the Admin Accept lets infra/monitor into every pod
// (shop/api and shop/db despite shop's NetworkPolicies); the Baseline Deny closes lab/client to
// every other pod.
const ALLOWED_AFTER: Record<string, string[]> = {
  'shop/web': ['shop/api'],
  'shop/api': ['shop/web', 'shop/db'],
  'shop/db': ['shop/web'],
  'infra/dns': ['shop/web', 'infra/monitor'],
  'infra/monitor': ['shop/web', 'shop/api', 'shop/db', 'infra/dns', 'lab/client'],
  'lab/client': ['shop/web', 'infra/dns', 'infra/monitor'],
}

test.serial('cinch demo: every pod reaches every pod, then exactly what examples/ allows; nothing is left behind', async (t) => {
  const name = demoName(t)
  const { code, out } = await runCinch(['demo', '--name', name])
  t.is(code, 0, out)
  t.regex(out, /▸ building a 2-node cluster/)
  const before = matrixAfter(out, 'Connectivity before')
  t.deepEqual(before.labels, PODS)
  for (const from of PODS) for (const to of PODS) t.is(before.rows[from]![to], from === to ? '·' : '✓', `before: ${from} -> ${to}`)
  const after = matrixAfter(out, 'Connectivity with the example policies')
  for (const from of PODS) {
    for (const to of PODS) {
      if (from === to) continue
      // Every cell that is now ✗ was ✓ before, so it is marked as changed.
      t.is(after.rows[from]![to], ALLOWED_AFTER[from]!.includes(to) ? '✓' : '✓→✗', `after: ${from} -> ${to}`)
    }
  }
  t.regex(out, /16 of 30 flows changed/)
  // The demo ends with the flow records of what its policies blocked, each naming who blocked it.
  const flows = out.slice(out.indexOf('Flow records of the blocked connections')).split('\n').filter((l) => / DENIED /.test(l))
  for (const from of PODS) for (const to of PODS) {
    if (from === to || ALLOWED_AFTER[from]!.includes(to)) continue
    t.true(flows.some((l) => l.trim().startsWith(`${from} -> ${to} TCP/80 `)), `a record of ${from} -> ${to}:\n${flows.join('\n')}`)
  }
  t.true(flows.every((l) => /(isolated by [a-z-]+\/[a-z-]+|deny by [a-z-]+ rule \d+)/.test(l)), flows.join('\n'))
  t.true(flows.some((l) => /infra\/dns -> lab\/client TCP\/80 ingress DENIED +baseline deny by lab-closed-by-default rule 0/.test(l)), flows.join('\n'))
  t.deepEqual(await netnsWith(name), [])
  t.false(existsSync(`/run/${name}`))
})

test.serial('cinch demo --keep leaves the cluster up and working; cinch demo down removes all of it', async (t) => {
  const name = demoName(t)
  const { code, out } = await runCinch(['demo', '--keep', '--name', name])
  t.is(code, 0, out)
  t.regex(out, /The demo stays up/)
  t.is((await netnsWith(name)).length, 1 + 2 + 6) // underlay, nodes, pods
  const rec = JSON.parse(readFileSync(`/run/${name}/cluster.json`, 'utf8'))
  // The first poke it prints works: lab/client (node2) pings infra/monitor (node1) across the overlay.
  const ping = /^\s*(ip netns exec \S+ ping -c1 \S+)/m.exec(out)![1]!
  await new Promise<void>((resolve, reject) => execFile('sh', ['-c', ping], (e) => (e ? reject(e) : resolve())))
  const down = await runCinch(['demo', 'down', '--name', name])
  t.is(down.code, 0, down.out)
  t.regex(down.out, /removed demo/)
  t.deepEqual(await netnsWith(name), [])
  const runs = (p: { pid: number; needle: string }) => existsSync(`/proc/${p.pid}`) && readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').includes(p.needle)
  t.deepEqual((rec.procs as { pid: number; needle: string }[]).filter(runs), [], 'agents and pod servers are stopped')
  t.regex((await runCinch(['demo', 'down', '--name', name])).out, /no demo named/)
})

test.serial('Ctrl-C in the middle of the demo tears everything down', async (t) => {
  const name = demoName(t)
  let sent = false
  const { code, out } = await runCinch(['demo', '--name', name], (soFar, kill) => {
    if (!sent && soFar.includes('probing every pod')) {
      sent = true
      kill('SIGINT')
    }
  })
  t.true(sent, out)
  t.is(code, 130, out)
  t.regex(out, /SIGINT: stopping the demo/)
  t.deepEqual(await netnsWith(name), [])
  t.false(existsSync(`/run/${name}`))
})
