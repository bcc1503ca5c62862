// cinch-ipam's config: host-local's keys (host-local/backend/allocator/config.go LoadIPAMConfig),
// checked by the build-time ajv schema for types, then here for addresses and cross-field rules.
// Every failure is code 7 naming the key, e.g. "ipam.ranges[0][0].subnet: 10.1.0.0/33 is not a valid CIDR".
import { CNI_NAME_PATTERN, CniError, ErrorCode, invalidConfig, validateConfig, type AjvValidateFn, type CniRoute, type NetConf } from '../lib/cni/index.js'
import { parseCidr, parseIp, type Ip } from '../lib/ip/index.js'
import { canonicalizeRange, canonicalizeRangeSet, checkRangeSetsDisjoint, FieldError, type RangeSet, type RawRange } from './range.js'
import schemaValidate from './schema.validate.js'

export interface IpamConfig {
  /** The network's name: the store lives in `<dataDir>/<name>/`. */
  name: string
  /** One address is allocated from each range set, in order. */
  ranges: RangeSet[]
  routes: CniRoute[]
  dataDir: string
  resolvConf?: string
  /** GC keeps allocations younger than this: an ADD in flight holds its address before anyone lists it as valid. */
  gcMinAgeSeconds: number
  /** Addresses asked for by the runtime: CNI_ARGS IP=, args.cni.ips, runtimeConfig.ips. */
  requested: Ip[]
}

interface RawConf {
  name: string
  ipam: RawRange & { ranges?: RawRange[][]; routes?: CniRoute[]; dataDir: string; resolvConf?: string; gcMinAgeSeconds: number }
  runtimeConfig?: { ips?: string[]; ipRanges?: RawRange[][] }
  args?: { cni?: { ips?: string[] } }
}

function parseRequested(raw: string, field: string): Ip {
  // host-local's ip.IP accepts "10.1.2.3" and "10.1.2.3/24"; the prefix is the range's, not the caller's.
  const ip = raw.includes('/') ? parseCidr(raw)?.ip : parseIp(raw)
  if (!ip) throw new FieldError(field, `${raw} is not a valid IP address`)
  return ip
}

function checkRoute(r: CniRoute, field: string): CniRoute {
  if (!parseCidr(r.dst)) throw new FieldError(`${field}.dst`, `${r.dst} is not a valid CIDR`)
  if (r.gw !== undefined && !parseIp(r.gw)) throw new FieldError(`${field}.gw`, `${r.gw} is not a valid IP address`)
  return r
}

function buildConfig(c: RawConf, cniArgs: Record<string, string>): IpamConfig {
  const ipam = c.ipam
  // The network name becomes a directory name: SPEC "Network configuration" (libcni's
  // ValidateNetworkName) holds it to a pattern that cannot climb out of dataDir.
  if (!CNI_NAME_PATTERN.test(c.name)) {
    throw new FieldError('name', `${JSON.stringify(c.name.slice(0, 100))} cannot name a directory under dataDir (must match ${CNI_NAME_PATTERN.source})`)
  }
  if (ipam.dataDir === '') throw new FieldError('ipam.dataDir', 'must not be empty')
  const sets: RangeSet[] = []
  const where: string[] = []
  // Order as host-local: runtimeConfig.ipRanges, then the legacy single range, then ranges.
  c.runtimeConfig?.ipRanges?.forEach((s, i) => {
    where.push(`runtimeConfig.ipRanges[${i}]`)
    sets.push(canonicalizeRangeSet(s, `runtimeConfig.ipRanges[${i}]`))
  })
  if (ipam.subnet !== undefined) {
    where.push('ipam')
    sets.push([canonicalizeRange(ipam, 'ipam')])
  }
  ipam.ranges?.forEach((s, i) => {
    where.push(`ipam.ranges[${i}]`)
    sets.push(canonicalizeRangeSet(s, `ipam.ranges[${i}]`))
  })
  if (sets.length === 0) throw new FieldError('ipam.ranges', 'no IP ranges specified (set ranges or subnet)')
  checkRangeSetsDisjoint(sets, (i) => where[i])

  const requested: Ip[] = []
  if (cniArgs.IP !== undefined) {
    const ip = parseIp(cniArgs.IP)
    if (!ip) throw new CniError(ErrorCode.InvalidEnvironment, `CNI_ARGS IP=${cniArgs.IP} is not a valid IP address`)
    requested.push(ip)
  }
  c.args?.cni?.ips?.forEach((s, i) => requested.push(parseRequested(s, `args.cni.ips[${i}]`)))
  c.runtimeConfig?.ips?.forEach((s, i) => requested.push(parseRequested(s, `runtimeConfig.ips[${i}]`)))

  return {
    name: c.name,
    ranges: sets,
    routes: (ipam.routes ?? []).map((r, i) => checkRoute(r, `ipam.routes[${i}]`)),
    dataDir: ipam.dataDir,
    resolvConf: ipam.resolvConf || undefined,
    gcMinAgeSeconds: ipam.gcMinAgeSeconds,
    requested,
  }
}

/** Validates the net conf (which is left untouched) and returns the IPAM config, or throws code 7. */
export function parseIpamConfig(conf: NetConf, cniArgs: Record<string, string> = {}): IpamConfig {
  const raw = validateConfig<RawConf>(schemaValidate as AjvValidateFn, structuredClone(conf))
  try {
    return buildConfig(raw, cniArgs)
  } catch (err) {
    if (err instanceof FieldError) throw invalidConfig(err.field, err.reason)
    throw err
  }
}
