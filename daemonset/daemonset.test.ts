// The manifests against the Kubernetes API's typed models (schema.ts: unknown fields and wrong types
// fail), and against the code they deploy: every path, port, flag, sysctl and API resource the code
// uses must be what the DaemonSet mounts, probes, passes, sets and grants. Defaults come from the
// code itself.
import { describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
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
import { FORWARDING_SYSCTLS } from '../policy-agent/overlay/node-setup.js'
import { BRIDGE_NF_SYSCTLS } from '../policy-agent/apply/br-netfilter.js'
import { checkManifest } from './schema.js'
import { takeFlowLogsValue } from '../policy-agent/flows/options.js'
import { createMetrics } from '../policy-agent/server/metrics.js'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const yamlIn = (dir: string) => readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()
const load = (path: string): any[] =>
  parseAllDocuments(readFileSync(path, 'utf8')).map((d) => {
    if (d.errors.length) throw new Error(`${path}: ${d.errors[0].message}`)
    return d.toJS() as any
  })
const files = yamlIn(here)
const docs = files.flatMap((f) => load(join(here, f)))
// The one-shot cleanup (daemonset/uninstall/), not applied with the rest.
const uninstallFiles = yamlIn(join(here, 'uninstall')).map((f) => join('uninstall', f))
const uninstallDocs = uninstallFiles.flatMap((f) => load(join(here, f)))
const find = (kind: string) => docs.filter((d) => d.kind === kind)
const ds = find('DaemonSet')[0]
const pod = ds.spec.template.spec
const agent = pod.containers.find((c: any) => c.name === 'agent')
const init = pod.initContainers.find((c: any) => c.name === 'install')
const nodeSetup = pod.initContainers.find((c: any) => c.name === 'node-setup')
const configData = docs.find((d) => d.kind === 'ConfigMap').data
/** A `$VAR` of the agent's script, resolved through its env to the ConfigMap's value. */
const resolveEnv = (v: string): string => {
  const m = /^\$\{?(\w+)\}?$/.exec(v)
  if (!m) return v
  const e = agent.env.find((x: any) => x.name === m[1])
  return e?.value ?? configData[e?.valueFrom?.configMapKeyRef?.key] ?? v
}
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

describe('API schemas', () => {
  it.each([...files, ...uninstallFiles])('%s conforms to the Kubernetes API models', (f) => {
    for (const d of load(join(here, f))) expect(checkManifest(d), `${f}: ${d.kind}`).toEqual([])
  })

  it.each([
    ['an unknown field', (d: any) => (d.spec.template.spec.hostNetwrk = true), /DaemonSet\.spec\.template\.spec\.hostNetwrk: unknown field in V1PodSpec/],
    ['a field at the wrong level', (d: any) => (d.spec.template.spec.containers[0].hostNetwork = true), /containers\[0\]\.hostNetwork: unknown field in V1Container/],
    ['a string for an integer', (d: any) => (d.spec.template.spec.containers[0].livenessProbe.periodSeconds = '10'), /periodSeconds: expected int32/],
    ['a map for a list', (d: any) => (d.spec.template.spec.tolerations = { operator: 'Exists' }), /tolerations: expected an array/],
    ['a number for a label value', (d: any) => (d.metadata.labels.x = 1), /metadata\.labels\.x: expected a string/],
    ['a wrong apiVersion', (d: any) => (d.apiVersion = 'extensions/v1beta1'), /apiVersion: DaemonSet is served as apps\/v1/],
  ])('refuses %s', (_what, mutate, error) => {
    const d = structuredClone(ds)
    mutate(d)
    expect(checkManifest(d).join('\n')).toMatch(error)
  })
})

describe('manifests', () => {
  it('parse, and every object is named and lives in kube-system', () => {
    expect(files).toEqual(['10-rbac.yaml', '20-configmap.yaml', '30-daemonset.yaml'])
    expect(docs.map((d) => d.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet', 'ServiceAccount'])
    for (const d of [...docs, ...uninstallDocs]) {
      expect(d.metadata?.name, d.kind).toBeTruthy()
      // system-node-critical outside kube-system needs a ResourceQuota allowing it (Priority admission).
      if (!['ClusterRole', 'ClusterRoleBinding'].includes(d.kind)) expect(d.metadata.namespace, d.kind).toBe('kube-system')
    }
  })

  it('runs the agent on every Linux node, on the host network, before other pods', () => {
    expect(pod.hostNetwork).toBe(true)
    expect(pod.priorityClassName).toBe('system-node-critical')
    expect(pod.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' })
    // Cluster DNS runs in pods, which cannot start before the CNI: the node's resolv.conf.
    expect(pod.dnsPolicy).toBe('Default')
    // A toleration without key and with operator Exists tolerates every taint (core/v1 Toleration).
    expect(pod.tolerations).toContainEqual({ operator: 'Exists' })
    expect(ds.spec.updateStrategy.type).toBe('RollingUpdate')
    expect(init.args[0]).toBe('install')
    expect(argValue(init, 'cni-bin-dir')).toBe(DEFAULT_CNI_BIN_DIR)
    expect(argValue(init, 'prefix')).toBe(DEFAULT_PREFIX)
  })

  it('the agent reads the compile cache where the image made it, beside the bundle the image runs', () => {
    const containerfile = readFileSync(join(root, 'daemonset/Containerfile'), 'utf8')
    const made = /^RUN NODE_COMPILE_CACHE=(\S+) (\S+) (\S+) version/m.exec(containerfile)
    expect(made, 'the Containerfile runs the bundle once with NODE_COMPILE_CACHE').not.toBeNull()
    expect(agent.env.find((e: any) => e.name === 'NODE_COMPILE_CACHE')?.value).toBe(made![1])
    // The same runtime and bundle as the wrapper the agent's command goes through.
    expect(containerfile).toContain(`exec ${made![2]} ${made![3]} "$@"`)
  })

  it('privilege only where the kernel demands it: install has no capability, the agent NET_ADMIN and SYS_ADMIN', () => {
    expect(init.securityContext).toMatchObject({ privileged: false, runAsUser: 0, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } })
    expect(init.securityContext.capabilities.add).toBeUndefined()
    expect(agent.securityContext).toMatchObject({ privileged: false, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'SYS_ADMIN'] } })
    // Only node-setup is privileged (/proc/sys is read-only otherwise), and it runs no cinch code.
    expect(nodeSetup.securityContext.privileged).toBe(true)
    expect(nodeSetup.args[0]).not.toMatch(/cinch/)
  })

  it('node-setup sets exactly the sysctls the agent checks at start', () => {
    const loop = /for k in ([^;]+); do echo 1 > \/proc\/sys\/\$k; done/.exec(nodeSetup.args[0])
    expect(loop, 'the sysctl loop').toBeTruthy()
    const set = loop![1]!.trim().split(/\s+/).map((k: string) => k.replaceAll('/', '.')).sort()
    expect(set).toEqual([...FORWARDING_SYSCTLS, ...BRIDGE_NF_SYSCTLS].sort())
    expect(nodeSetup.args[0]).toMatch(/modprobe br_netfilter/)
  })

  it('every container has a memory limit', () => {
    for (const c of [...pod.initContainers, ...pod.containers]) expect(c.resources?.limits?.memory, c.name).toMatch(/^\d+Mi$/)
  })

  it("the agent's V8 heap limit leaves room under its memory limit for the rest of node", () => {
    // The heap limit is the old space and three semi-spaces, and this runtime's default semi-space
    // is 64 MB (no pointer compression): --max-old-space-size=160 alone let the heap reach 352 MB
    // under a 256Mi limit, where the cgroup can kill the agent before V8 collects. Asked of the
    // pinned runtime itself, with the DaemonSet's NODE_OPTIONS.
    const nodeOptions = agent.env.find((e: any) => e.name === 'NODE_OPTIONS')?.value
    expect(nodeOptions).toMatch(/--max-old-space-size=\d+/)
    const heapLimit = Number(execFileSync(process.execPath, ['-p', 'require("v8").getHeapStatistics().heap_size_limit'], { env: { PATH: process.env.PATH, NODE_OPTIONS: nodeOptions }, encoding: 'utf8' }))
    const limit = Number(/^(\d+)Mi$/.exec(agent.resources.limits.memory)![1]) * 1048576
    // node's own resident memory beside the heap: ~43 MB for `node -e 0` (its code and libraries).
    expect(heapLimit + 64 * 1048576).toBeLessThanOrEqual(limit)
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
    ['node-setup', '/lib/modules', false], // modprobe br_netfilter
  ]
  it.each(cases)('%s sees %s from the host (write: %s)', (name, path, write) => {
    const m = hostMount({ agent, install: init, 'node-setup': nodeSetup }[name], path)
    expect(m, `no mount covers ${path}`).toBeDefined()
    expect(m!.hostPath).toBe(m!.mountPath)
    if (write) expect(m!.readOnly).toBe(false)
  })

  it('the agent mounts only the IPAM store of /var/lib/cni, and nothing it does not use', () => {
    expect(hostMount(agent, '/var/lib/cni/other')).toBeUndefined()
    const used = [stateDir, dirname(socket), cniConfDir, DEFAULT_DATA_DIR, cniBinDir, DEFAULT_PREFIX, '/var/run/netns']
    expect(agent.volumeMounts.map((m: any) => m.mountPath).sort()).toEqual([...used].sort())
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

  it('hands the ConfigMap value of flow-logs to the agent as it is, which reads true/false/"" and refuses the rest', () => {
    // The agent's own script in a real shell, with `cinch` a stub that prints what it was given.
    const bin = mkdtempSync(join(tmpdir(), 'cinch-ds-'))
    try {
      writeFileSync(join(bin, 'cinch'), '#!/bin/sh\nprintf "%s\\0" "$@"\n', { mode: 0o755 })
      const run = (flowLogs: string | undefined) => {
        const env: Record<string, string> = { PATH: `${bin}:/usr/bin:/bin`, NODE_NAME: 'n1' }
        for (const e of agent.env) if (e.valueFrom?.configMapKeyRef) env[e.name] = configData[e.valueFrom.configMapKeyRef.key] ?? ''
        env.CINCH_FLOW_LOGS = flowLogs ?? '' // optional key left out: kubelet sets it empty
        const out = execFileSync('/bin/sh', ['-c', agent.args[0]], { env, encoding: 'utf8' }).split('\0').slice(0, -1)
        expect(out[0]).toBe('agent')
        return takeFlowLogsValue(out.slice(1)).value ?? false
      }
      expect(run('true')).toBe(true)
      expect(run('false')).toBe(false)
      expect(run(undefined)).toBe(false)
      expect(run(configData['flow-logs'])).toBe(false)
      // Read as off, "True" once switched flow records off without a word.
      for (const v of ['True', 'yes', '1']) expect(() => run(v), v).toThrow(/must be "true" or "false" \(the ConfigMap key flow-logs/)
    } finally {
      rmSync(bin, { recursive: true, force: true })
    }
  })

  it('probes on loopback, where the agent listens by default: IPv4, IPv6-only and dual-stack nodes alike', async () => {
    const addr = resolveEnv(argValue(agent, 'metrics-addr')!)
    const { host, port } = parseAddr(addr)
    // Off the node's addresses by default: /status and /metrics are not for every pod to read.
    expect(host).toBe('127.0.0.1')
    for (const probe of [agent.livenessProbe, agent.readinessProbe]) {
      // hostNetwork: kubelet connects from the node's network namespace, where 127.0.0.1 is ours.
      expect(probe.httpGet.host).toBe('127.0.0.1')
      expect(probe.httpGet.port).toBe(port)
    }
    // The agent's HTTP server answers the probes' paths: /healthz at once, /readyz once synced.
    let ready = false
    const server = await startHttpServer({
      addr: '127.0.0.1:0',
      metrics: createMetrics({ appliedIr: () => undefined }),
      status: () => ({ ready, notReady: ready ? undefined : 'node n has no podCIDR', node: 'n', localPods: [], invalidPolicies: [], sourceProblems: [] }),
      ready: () => ({ ready, notReady: ready ? undefined : 'node n has no podCIDR' }),
    })
    try {
      const url = (p: string) => `http://127.0.0.1:${(server.address() as AddressInfo).port}${p}`
      expect((await fetch(url(agent.livenessProbe.httpGet.path))).status).toBe(200)
      const notReady = await fetch(url(agent.readinessProbe.httpGet.path))
      expect(notReady.status).toBe(503)
      expect(await notReady.text()).toBe('not ready: node n has no podCIDR\n')
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
  // Built and run for real by test/integration/image-build.test.ts; here only what ties it to the code.
  it('carries the package install copies from, and the tools the agent execs', () => {
    // `cinch install` defaults --from to the package its CLI runs from: <pkg>/lib/cinch.cjs.
    expect(containerfile).toContain('ENTRYPOINT ["/opt/cinch-dist/node", "/opt/cinch-dist/lib/cinch.cjs"]')
    expect(containerfile).toMatch(/^COPY \. \/opt\/cinch-dist$/m)
    const base = readFileSync(join(here, 'base-image.sh'), 'utf8')
    for (const pkg of ['nftables', 'conntrack', 'kmod']) expect(base).toMatch(new RegExp(`^packages=.*\\b${pkg}\\b`, 'm'))
    for (const c of [...pod.initContainers, ...pod.containers]) expect(c.image, c.name).toBe(agent.image)
  })
})
