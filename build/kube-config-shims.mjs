// What @kubernetes/client-node's config.js imports for the generated API clients and their fetch
// dispatchers (makeApiClient, applyToFetchOptions), which cinch never calls: the agent's requests
// go through node:https with applyToHTTPSOptions (policy-agent/sources/kube-http.ts). The bundler
// resolves those imports here (build/build.mjs); calling any of these says so instead of misbehaving.
const absent = (name) => function () {
  throw new Error(`${name} is not in the cinch bundle (build/kube-config-shims.mjs): use applyToHTTPSOptions`)
}
export const Agent = absent('undici Agent')
export const ProxyAgent = absent('undici ProxyAgent')
export const createConfiguration = absent('the generated API clients (createConfiguration)')
export const ServerConfiguration = absent('the generated API clients (ServerConfiguration)')
