// Results between spec versions. cinch holds every result in the 1.1.0 shape; a prevResult in any
// supported version is parsed into it, and the final result is converted to the config's version.
//  - 0.3.0, 0.3.1, 0.4.0: `ips[].version` ("4" | "6") is required; there is no 1.x-only field.
//  - 1.0.0 dropped `ips[].version`.
//  - 1.1.0 added `routes[].mtu|advmss|priority|table|scope` and `interfaces[].socketPath|pciID`.
// Every address in a result is checked here, once, at the edge: a prevResult comes from the runtime
// and an IPAM result from another process, and both reach the kernel, nft text and files.
import { parseCidr, parseIp } from '../ip/index.js'
import { CniError, ErrorCode } from './errors.js'
import { isSupportedVersion, isVersionAtLeast } from './version.js'
import type { CniInterface, CniIpConfig, CniResult, CniRoute } from './types.js'

const ROUTE_FIELDS_1_1 = ['mtu', 'advmss', 'priority', 'table', 'scope'] as const
const INTERFACE_FIELDS_1_1 = ['socketPath', 'pciID'] as const

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function decodeFail(detail: string): CniError {
  return new CniError(ErrorCode.DecodingFailure, 'failed to decode prevResult', detail)
}

function arrayOf<T>(raw: Record<string, unknown>, key: string, each: (v: unknown, i: number) => T): T[] | undefined {
  const v = raw[key]
  if (v === undefined || v === null) return undefined
  if (!Array.isArray(v)) throw decodeFail(`${key}: must be an array`)
  return v.map(each)
}

const show = (v: unknown) => JSON.stringify(v)?.slice(0, 100)

function parseIpConfig(v: unknown, i: number): CniIpConfig {
  if (!isObject(v) || typeof v.address !== 'string' || !parseCidr(v.address)) throw decodeFail(`ips[${i}].address: ${show(isObject(v) ? v.address : v)} is not a CIDR`)
  const ip: CniIpConfig = { address: v.address }
  if (v.gateway !== undefined && v.gateway !== null) {
    if (typeof v.gateway !== 'string' || !parseIp(v.gateway)) throw decodeFail(`ips[${i}].gateway: ${show(v.gateway)} is not an IP address`)
    ip.gateway = v.gateway
  }
  if (v.interface !== undefined && v.interface !== null) {
    if (!Number.isSafeInteger(v.interface) || (v.interface as number) < 0) throw decodeFail(`ips[${i}].interface: ${show(v.interface)} is not an index`)
    ip.interface = v.interface as number
  }
  return ip
}

// Hardware addresses as Go's net.ParseMAC spells them: 6 bytes (Ethernet) up to 20 (InfiniBand).
const MAC = /^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5,19}$/

function parseInterface(v: unknown, i: number): CniInterface {
  if (!isObject(v) || typeof v.name !== 'string') throw decodeFail(`interfaces[${i}].name: must be a string`)
  const { name, mac, mtu, sandbox, socketPath, pciID } = v
  const out: CniInterface = { name }
  if (typeof mac === 'string' && mac !== '') {
    if (!MAC.test(mac)) throw decodeFail(`interfaces[${i}].mac: ${show(mac)} is not a MAC address`)
    out.mac = mac
  }
  if (typeof mtu === 'number') out.mtu = mtu
  if (typeof sandbox === 'string') out.sandbox = sandbox
  if (typeof socketPath === 'string') out.socketPath = socketPath
  if (typeof pciID === 'string') out.pciID = pciID
  return out
}

function parseRoute(v: unknown, i: number): CniRoute {
  if (!isObject(v) || typeof v.dst !== 'string' || !parseCidr(v.dst)) throw decodeFail(`routes[${i}].dst: ${show(isObject(v) ? v.dst : v)} is not a CIDR`)
  const out: CniRoute = { dst: v.dst }
  if (v.gw !== undefined && v.gw !== null && v.gw !== '') {
    if (typeof v.gw !== 'string' || !parseIp(v.gw)) throw decodeFail(`routes[${i}].gw: ${show(v.gw)} is not an IP address`)
    out.gw = v.gw
  }
  for (const k of ROUTE_FIELDS_1_1) {
    if (v[k] === undefined || v[k] === null) continue
    if (!Number.isSafeInteger(v[k]) || (v[k] as number) < 0) throw decodeFail(`routes[${i}].${k}: ${show(v[k])} is not a non-negative integer`)
    out[k] = v[k] as number
  }
  return out
}

/** Parses a result written in any supported version into the 1.1.0 shape. */
export function parseResult(raw: unknown, fallbackVersion: string): CniResult {
  if (!isObject(raw)) throw decodeFail('must be a JSON object')
  const version = typeof raw.cniVersion === 'string' ? raw.cniVersion : fallbackVersion
  if (!isSupportedVersion(version)) {
    throw new CniError(ErrorCode.IncompatibleVersion, `prevResult version ${version} is not supported`)
  }
  const result: CniResult = { cniVersion: version }
  const interfaces = arrayOf(raw, 'interfaces', parseInterface)
  const ips = arrayOf(raw, 'ips', parseIpConfig)
  const routes = arrayOf(raw, 'routes', parseRoute)
  ips?.forEach((ip, i) => {
    if (ip.interface !== undefined && ip.interface >= (interfaces?.length ?? 0)) throw decodeFail(`ips[${i}].interface: ${ip.interface} names no entry of interfaces`)
  })
  if (interfaces) result.interfaces = interfaces
  if (ips) result.ips = ips
  if (routes) result.routes = routes
  if (isObject(raw.dns)) result.dns = raw.dns as CniResult['dns']
  return result
}

function ipFamily(cidr: string): '4' | '6' {
  return cidr.includes(':') ? '6' : '4'
}

/** Converts a 1.1.0-shaped result to the JSON a runtime speaking `version` expects. */
export function convertResult(result: CniResult, version: string): Record<string, unknown> {
  const pre11 = !isVersionAtLeast(version, '1.1.0')
  const pre10 = !isVersionAtLeast(version, '1.0.0')
  const out: Record<string, unknown> = { cniVersion: version }
  if (result.interfaces) {
    out.interfaces = result.interfaces.map((iface) => {
      const copy: Record<string, unknown> = { ...iface }
      if (pre11) for (const k of INTERFACE_FIELDS_1_1) delete copy[k]
      return copy
    })
  }
  if (result.ips) {
    out.ips = result.ips.map((ip) => (pre10 ? { version: ipFamily(ip.address), ...ip } : { ...ip }))
  }
  if (result.routes) {
    out.routes = result.routes.map((route) => {
      const copy: Record<string, unknown> = { ...route }
      if (pre11) for (const k of ROUTE_FIELDS_1_1) delete copy[k]
      return copy
    })
  }
  out.dns = result.dns ?? {}
  return out
}
