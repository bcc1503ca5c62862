// The manifests against the code they deploy: every path, port, flag and API resource the code uses
// must be what the DaemonSet mounts, probes, passes and grants. Defaults come from the code itself.
import { describe, expect, it } from 'vitest'
import { readFileSync, readdirSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments } from 'yaml'
import * as k8s from '@kubernetes/client-node'
import { USAGE } from '../cli/args.js'
import { DEFAULT_AGENT_SOCKET, DEFAULT_CNI_BIN_DIR as AGENT_CNI_BIN_DIR, DEFAULT_STATE_DIR } from '../lib/state/defaults.js'
import { DEFAULT_CNI_BIN_DIR, DEFAULT_PREFIX } from '../cli/install/install.js'
import { DEFAULT_DATA_DIR } from '../ipam/store-disk.js'
import { KubeSource } from '../policy-agent/sources/kube.js'
import { DEFAULT_CNI_CONF_DIR } from '../policy-agent/overlay/flags.js'
import { parseAddr, startHttpServer } from '../policy-agent/server/http.js'
import { createMetrics } from '../policy-agent/server/metrics.js'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const files = readdirSync(here).filter((f) => /\.ya?ml$/.test(f)).sort()
const docs = files.flatMap((f) =>
  parseAllDocuments(readFileSync(join(here, f), 'utf8')).map((d) => {
    if (d.errors.length) throw new Error(`${f}: ${d.errors[0].message}`)
    return d.toJS() as any
  }),
)
const find = (kind: string) => docs.filter((d) => d.kind === kind)
const ds = find('DaemonSet')[0]
const pod = ds.spec.template.spec
const agent = pod.containers.find((c: any) => c.name === 'agent')
const init = pod.initContainers.find((c: any) => c.name === 'install')
/** The container's flags: its args, or the words of its `sh -c` script. */
const flagsOf = (c: any): [string, string][] =>
  (c.command?.[0] === '/bin/sh' ? [...c.args[0].matchAll(/(--[\w-]+)(?:="?([^"\s}]*)"?)?/g)] : c.args.map((a: string) => /^(--[\w-]+)(?:=(.*))?$/.exec(a)).filter(Boolean)).map(
    (m: RegExpMatchArray) => [m[1], m[2] ?? ''],
  )
const argValue = (c: any, flag: string): string | undefined => flagsOf(c).find(([f]) => f === `--${flag}`)?.[1]

// The CLI's flag defaults, from the module cli/main.ts takes them from.
const cliDefaults: Record<string, string> = { 'state-dir': DEFAULT_STATE_DIR, socket: DEFAULT_AGENT_SOCKET, 'cni-bin-dir': AGENT_CNI_BIN_DIR }
const bridgeSchema = JSON.parse(readFileSync(join(root, 'plugins/cinch-bridge/schema.json'), 'utf8'))
const pluginDefaults = { stateDir: bridgeSchema.properties.stateDir.default as string, agentSocket: bridgeSchema.properties.agentSocket.default as string }

/** The host path a container sees at `path`, if a hostPath volume covers it at the same path. */
function hostMount(c: any, path: string): { readOnly: boolean; hostPath: string; mountPath: string } | undefined {
  const m = c.volumeMounts.filter((v: any) => path === v.mountPath || path.startsWith(v.mountPath + '/')).sort((a: any, b: any) => b.mountPath.length - a.mountPath.length)[0]
  if (!m) return undefined
  const vol = pod.volumes.find((v: any) => v.name === m.name)
  return { readOnly: !!m.readOnly, hostPath: vol?.hostPath?.path, mountPath: m.mountPath }
}

describe('manifests', () => {
  it('parse, and every object is named and namespaced in cinch-system', () => {
    expect(files).toEqual(['00-namespace.yaml', '10-rbac.yaml', '20-configmap.yaml', '30-daemonset.yaml'])
    expect(docs.map((d) => d.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet', 'Namespace', 'ServiceAccount'])
    const ns = find('Namespace')[0].metadata.name
    for (const d of docs) {
      expect(d.metadata?.name, d.kind).toBeTruthy()
      if (!['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(d.kind)) expect(d.metadata.namespace, d.kind).toBe(ns)
    }
  })

  it('runs the agent on every node, on the host network, before other pods', () => {
    expect(pod.hostNetwork).toBe(true)
    expect(pod.priorityClassName).toBe('system-node-critical')
    // A toleration without key and with operator Exists tolerates every taint (core/v1 Toleration).
    expect(pod.tolerations).toContainEqual({ operator: 'Exists' })
    expect(ds.spec.updateStrategy.type).toBe('RollingUpdate')
    expect(agent.securityContext.privileged).toBe(true)
    expect(init.args[0]).toBe('install')
    expect(argValue(init, 'cni-bin-dir')).toBe(DEFAULT_CNI_BIN_DIR)
    expect(argValue(init, 'prefix')).toBe(DEFAULT_PREFIX)
  })
})

describe('host paths', () => {
  const stateDir = argValue(agent, 'state-dir') ?? cliDefaults['state-dir']
  const socket = argValue(agent, 'socket') ?? cliDefaults.socket
  const cniConfDir = argValue(agent, 'cni-conf-dir') ?? DEFAULT_CNI_CONF_DIR
  const cniBinDir = argValue(agent, 'cni-bin-dir') ?? cliDefaults['cni-bin-dir']

  it('the agent uses the state dir and socket the plugins default to (the conflist omits them)', () => {
    expect(stateDir).toBe(pluginDefaults.stateDir)
    expect(socket).toBe(pluginDefaults.agentSocket)
    expect(cniBinDir).toBe(DEFAULT_CNI_BIN_DIR)
  })

  // [container, path the code uses, needs write]. Mounted at the host's own path: the plugins on
  // the host and the agent in its container must name the same files.
  const cases: [string, string, boolean][] = [
    ['install', DEFAULT_CNI_BIN_DIR, true],
    ['install', DEFAULT_PREFIX, true],
    ['agent', stateDir, true],
    ['agent', dirname(socket), true],
    ['agent', cniConfDir, true], // the agent writes the conflist there
    ['agent', DEFAULT_DATA_DIR, true], // IPAM GC runs cinch-ipam, which writes its dataDir
    ['agent', cniBinDir, false],
    ['agent', DEFAULT_PREFIX, false], // the wrappers in cniBinDir exec /opt/cinch/current/node
    ['agent', '/var/run/netns', false], // containerd and CRI-O create pod netns here; GC tests them
    ['agent', '/lib/modules', false], // modprobe br_netfilter
  ]
  it.each(cases)('%s sees %s from the host (write: %s)', (name, path, write) => {
    const m = hostMount(name === 'agent' ? agent : init, path)
    expect(m, `no mount covers ${path}`).toBeDefined()
    expect(m!.hostPath).toBe(m!.mountPath)
    if (write) expect(m!.readOnly).toBe(false)
  })

  it('new pod netns mounts propagate into the agent', () => {
    expect(agent.volumeMounts.find((m: any) => m.mountPath === '/var/run/netns').mountPropagation).toBe('HostToContainer')
  })
})

describe('agent flags and probes', () => {
  it('passes only flags `cinch agent` documents', () => {
    expect(agent.args[0]).toMatch(/^exec cinch agent /)
    const flags = flagsOf(agent).map(([f]) => f)
    expect(flags).toContain('--metrics-addr')
    const undocumented = flags.filter((f: string) => !new RegExp(`^\\s+${f}\\b`, 'm').test(USAGE))
    expect(undocumented).toEqual([])
  })

  it('takes every ConfigMap value it references from keys that exist', () => {
    const data = find('ConfigMap')[0].data
    const refs = agent.env.filter((e: any) => e.valueFrom?.configMapKeyRef).map((e: any) => e.valueFrom.configMapKeyRef)
    for (const r of refs) expect(data, r.key).toHaveProperty(r.key)
    expect(['vxlan', 'host-gw']).toContain(data.backend)
    expect(data['underlay-mtu']).toMatch(/^(|\d+)$/) // empty: read from the node's link
    for (const v of agent.args.flatMap((a: string) => [...a.matchAll(/\$\{?(\w+)/g)].map((m) => m[1]))) expect(agent.env.map((e: any) => e.name)).toContain(v)
  })

  it('probes the port the agent listens on, on an address kubelet reaches', async () => {
    const addr = argValue(agent, 'metrics-addr')!
    const { host, port } = parseAddr(addr)
    expect(['0.0.0.0', '::']).toContain(host) // kubelet probes the pod IP, i.e. the node's address
    expect(agent.livenessProbe.httpGet.port).toBe(port)
    expect(agent.readinessProbe.httpGet.port).toBe(port)
    // The agent's HTTP server answers the probes' paths: /healthz at once, /readyz once synced.
    let ready = false
    const server = await startHttpServer({
      addr: '127.0.0.1:0',
      metrics: createMetrics({ appliedIr: () => undefined }),
      status: () => ({ ready, node: 'n', localPods: [], invalidPolicies: [], sourceProblems: [] }),
    })
    try {
      const url = (p: string) => `http://127.0.0.1:${(server.address() as AddressInfo).port}${p}`
      expect((await fetch(url(agent.livenessProbe.httpGet.path))).status).toBe(200)
      expect((await fetch(url(agent.readinessProbe.httpGet.path))).status).toBe(503)
      ready = true
      expect((await fetch(url(agent.readinessProbe.httpGet.path))).status).toBe(200)
    } finally {
      server.close()
    }
  })
})

describe('RBAC', () => {
  /** What KubeSource really asks the API for: [group, resource, verb], from a fake API server. */
  async function observedRequests(): Promise<Set<string>> {
    const seen = new Set<string>()
    const server = createServer((req, res) => {
      const url = new URL(req.url!, 'http://x')
      const m = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)\/([^/]+)$/.exec(url.pathname)
      if (!m) return void res.writeHead(404).end('{}')
      const watch = url.searchParams.get('watch') === 'true'
      seen.add(`${m[1] ?? ''}/${m[2]}/${watch ? 'watch' : 'list'}`)
      if (watch) return void (res.writeHead(200, { 'content-type': 'application/json' }), res.flushHeaders())
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [] }))
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const kc = new k8s.KubeConfig()
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    })
    const source = new KubeSource({ kubeConfig: kc })
    await source.start(() => {})
    // Watches start right after the lists; give them a moment to arrive.
    for (let i = 0; i < 50 && [...seen].filter((s) => s.endsWith('/watch')).length < [...seen].length / 2; i++) await new Promise((r) => setTimeout(r, 20))
    await source.stop()
    server.closeAllConnections()
    server.close()
    return seen
  }

  it('grants every request the agent makes, and nothing more', async () => {
    const seen = await observedRequests()
    expect(seen.size).toBeGreaterThanOrEqual(8) // 4 kinds x list, watch
    const role = find('ClusterRole')[0]
    const granted = new Set<string>(role.rules.flatMap((r: any) => r.apiGroups.flatMap((g: string) => r.resources.flatMap((res: string) => r.verbs.map((v: string) => `${g}/${res}/${v}`)))))
    expect([...seen].filter((s) => !granted.has(s))).toEqual([])
    expect([...granted].filter((g) => !seen.has(g))).toEqual([])
  }, 20_000)

  it('binds the role to the DaemonSet service account', () => {
    const binding = find('ClusterRoleBinding')[0]
    const sa = find('ServiceAccount')[0]
    expect(binding.roleRef).toMatchObject({ kind: 'ClusterRole', name: find('ClusterRole')[0].metadata.name })
    expect(binding.subjects).toContainEqual({ kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace })
    expect(pod.serviceAccountName).toBe(sa.metadata.name)
  })
})

describe('image', () => {
  const containerfile = readFileSync(join(here, 'Containerfile'), 'utf8')
  it('carries the binaries the agent execs and the package install copies from', () => {
    expect(containerfile).toMatch(/^FROM \S*debian:\S+-slim\s*$/m)
    for (const pkg of ['nftables', 'conntrack', 'kmod']) expect(containerfile).toMatch(new RegExp(`apt-get install[^\\n]*\\b${pkg}\\b`))
    // `cinch install` defaults --from to the package its CLI runs from: <pkg>/lib/cinch.cjs.
    expect(containerfile).toContain('ENTRYPOINT ["/opt/cinch-dist/node", "/opt/cinch-dist/lib/cinch.cjs"]')
    expect(containerfile).toContain('COPY --from=build /src/dist/package /opt/cinch-dist')
    expect(agent.image).toBe(init.image)
  })
})
