// Spec versions cinch speaks. 0.1.0 and 0.2.0 results have a different shape (ip4/ip6 objects)
// and no runtime in use still asks for them, so they are refused with code 1.

export const CURRENT_VERSION = '1.1.0'
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const

function parts(v: string): [number, number, number] | null {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v)
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null
}

export function isValidVersion(v: unknown): v is string {
  return typeof v === 'string' && parts(v) !== null
}

export function compareVersions(a: string, b: string): number {
  const pa = parts(a)
  const pb = parts(b)
  if (!pa || !pb) throw new Error(`invalid version ${pa ? b : a}`)
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i]
  return 0
}

export function isVersionAtLeast(v: string, min: string): boolean {
  return compareVersions(v, min) >= 0
}

export function isSupportedVersion(v: string): boolean {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(v)
}
