// kube-http over TLS: the agent's own kept-alive connections (kube-http.ts keepAliveAgents) must
// keep every TLS setting of the kubeconfig (applyToHTTPSOptions puts them on each request): the
// server's certificate is checked against the configured CA, skip-verify is honoured, the token is
// sent on every request, and list pages share one connection.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KubeConfig } from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { kubeApi } from './kube-http.js'

let dir = ''
let server: Server
let url = ''
let connections = 0
const auth: (string | undefined)[] = []
const cert = (name: string) => readFileSync(join(dir, `${name}.pem`))

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cinch-kube-tls-'))
  // Two self-signed certificates for 127.0.0.1: the server's, and another CA that must not verify it.
  for (const n of ['server', 'other']) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, `${n}-key.pem`),
      '-out', join(dir, `${n}.pem`), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
  }
  server = createServer({ key: cert('server-key'), cert: cert('server') }, (req, res) => {
    auth.push(req.headers.authorization)
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ metadata: { resourceVersion: '7' }, items: [{ metadata: { name: 'a' } }] }))
  })
  server.on('secureConnection', () => connections++)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise((r) => server.close(r))
  rmSync(dir, { recursive: true, force: true })
})

function config(cluster: { caData?: string; skipTLSVerify?: boolean }): KubeConfig {
  const kc = new KubeConfig()
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: url, ...cluster }], users: [{ name: 'u', token: 'secret-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x',
  })
  return kc
}
const list = (kc: KubeConfig) => kubeApi(kc).listPage('/api/v1/namespaces', { limit: '1' }, 'Namespace')

describe('kube-http over TLS', () => {
  it('verifies the server against the configured CA, sends the token, and keeps one connection', async () => {
    connections = 0
    auth.length = 0
    const api = kubeApi(config({ caData: cert('server').toString('base64') }))
    for (let i = 0; i < 5; i++) expect((await api.listPage('/api/v1/namespaces', { limit: '1' }, 'Namespace')).resourceVersion).toBe('7')
    expect(auth).toEqual(Array(5).fill('Bearer secret-token'))
    expect(connections).toBe(1)
  })

  it('refuses a server its CA did not sign, even right after a trusted connection to the same address', async () => {
    await list(config({ caData: cert('server').toString('base64') }))
    await expect(list(config({ caData: cert('other').toString('base64') }))).rejects.toThrow(/self-signed|unable to verify|certificate/i)
    // No CA configured: the system's, which do not know this server either.
    await expect(list(config({}))).rejects.toThrow(/self-signed|unable to verify|certificate/i)
  })

  it('skips verification only when the kubeconfig says so', async () => {
    expect((await list(config({ skipTLSVerify: true }))).items).toHaveLength(1)
  })
})
