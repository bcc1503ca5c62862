// The manifest directory source on a real filesystem: multi-document YAML, JSON, `kind: List`,
// a broken file skipped while the rest loads, and changes picked up by the watcher.
import test from 'ava'
import { waitFor } from '../kit/wait.js'
import { cleanupFor } from '../kit/cleanup.js'
import { tempDir } from '../kit/netns.js'
import { execFileSync } from 'node:child_process'
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { MANIFEST_LIMITS, ManifestSource, readManifestDir } from '../../policy-agent/sources/manifests.js'

async function dir(t: any): Promise<string> {
  const d = tempDir(cleanupFor(t), 'cinch-t-agent-m')
  return d
}

test('reads YAML documents, JSON and List files; a broken file is reported and skipped', async (t) => {
  const d = await dir(t)
  await writeFile(join(d, 'a.yaml'), `apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {team: blue}}
---
apiVersion: v1
kind: Pod
metadata: {namespace: x, name: a, labels: {pod: a}}
spec:
  nodeName: n1
  containers: [{name: c, ports: [{name: serve-80-tcp, containerPort: 80}, {containerPort: 81, protocol: UDP}]}]
status: {podIP: 10.0.0.9, podIPs: [{ip: 10.0.0.9}, {ip: "fd00::9"}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ignored}
`)
  await writeFile(join(d, 'b.json'), JSON.stringify({
    kind: 'List', apiVersion: 'v1',
    items: [
      { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'p' }, spec: { podSelector: {} } },
      { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, spec: { podCIDRs: ['10.0.0.0/24', 'fd00::/64'] }, status: { addresses: [{ type: 'InternalIP', address: '192.168.0.1' }] } },
    ],
  }))
  await writeFile(join(d, 'c.yaml'), 'kind: Pod\nmetadata: {name: [oops\n')
  await writeFile(join(d, 'notes.txt'), 'not a manifest')
  const { state, problems } = await readManifestDir(d)
  t.deepEqual(problems.map((p) => p.where), [join(d, 'c.yaml')])
  t.deepEqual(state.namespaces.get('x'), { name: 'x', labels: { 'kubernetes.io/metadata.name': 'x', team: 'blue' } })
  t.deepEqual(state.pods.get('x/a'), {
    namespace: 'x', name: 'a', labels: { pod: 'a' }, ips: ['10.0.0.9', 'fd00::9'], nodeName: 'n1', hostNetwork: false,
    ports: [{ name: 'serve-80-tcp', containerPort: 80, protocol: 'TCP' }, { containerPort: 81, protocol: 'UDP' }],
  })
  t.is(state.policies.get('x/p')?.metadata.name, 'p')
  t.deepEqual(state.nodes.get('n1'), { name: 'n1', podCIDRs: ['10.0.0.0/24', 'fd00::/64'], internalIPs: ['192.168.0.1'], addresses: ['192.168.0.1'], labels: {} })
})

test('a FIFO, a symlink loop and an oversized YAML file are reported and skipped; a symlinked file (a ConfigMap) is read', async (t) => {
  const d = await dir(t)
  execFileSync('mkfifo', [join(d, 'fifo.yaml')]) // reading it would block forever
  await symlink(join(d, 'loop.yaml'), join(d, 'loop.yaml'))
  await writeFile(join(d, 'big.yaml'), '# ' + 'x'.repeat(MANIFEST_LIMITS.yamlBytes) + '\n')
  await mkdir(join(d, '..data'))
  await writeFile(join(d, '..data', 'ns.yml'), 'kind: Namespace\nmetadata: {name: y}\n')
  await symlink('..data/ns.yml', join(d, 'ns.yaml'))
  const { state, problems } = await readManifestDir(d)
  const why = Object.fromEntries(problems.map((p) => [p.where.slice(d.length + 1), p.reason]))
  t.deepEqual(Object.keys(why).sort(), ['big.yaml', 'fifo.yaml', 'loop.yaml'])
  t.regex(why['fifo.yaml']!, /not a regular file \(a FIFO\)/)
  t.regex(why['big.yaml']!, /over the 4194304-byte bound for YAML manifests \(write it as JSON/)
  t.regex(why['loop.yaml']!, /ELOOP/)
  t.deepEqual([...state.namespaces.keys()], ['y'])
})

test('the watcher picks up a new, changed and removed file', async (t) => {
  const d = await dir(t)
  await writeFile(join(d, 'ns.yaml'), 'kind: Namespace\nmetadata: {name: x}\n')
  const source = new ManifestSource({ dir: d, debounceMs: 50 })
  let changes = 0
  await source.start(() => changes++)
  t.teardown(() => source.stop())
  t.deepEqual([...source.state().namespaces.keys()], ['x'])
  const until = (what: string, cond: () => boolean) => waitFor(what, cond, { timeoutMs: 3000, intervalMs: 30 })
  await writeFile(join(d, 'pol.yaml'), 'kind: NetworkPolicy\nmetadata: {namespace: x, name: deny}\nspec: {podSelector: {}}\n')
  await until('the new policy', () => source.state().policies.has('x/deny'))
  await writeFile(join(d, 'ns.yaml'), 'kind: Namespace\nmetadata: {name: x, labels: {team: red}}\n')
  await until('the changed labels', () => source.state().namespaces.get('x')?.labels.team === 'red')
  await rm(join(d, 'pol.yaml'))
  await until('the removed policy gone', () => !source.state().policies.has('x/deny'))
  t.true(changes >= 3)
})
