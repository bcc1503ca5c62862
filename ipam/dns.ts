// resolvConf: the DNS part of the result, read from a resolv.conf-format file as host-local's
// dns.go does (nameserver, domain, search, options; '#' and ';' start comments).
import type { CniDns } from '../lib/cni/index.js'

export function parseResolvConf(text: string): CniDns {
  const dns: CniDns = {}
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/)
    const [key, ...rest] = fields
    if (!key || key.startsWith('#') || key.startsWith(';') || rest.length === 0) continue
    switch (key) {
      case 'nameserver':
        ;(dns.nameservers ??= []).push(rest[0])
        break
      case 'domain':
        dns.domain = rest[0]
        break
      case 'search':
        // resolv.conf(5): the last search line wins.
        dns.search = rest
        break
      case 'options':
        ;(dns.options ??= []).push(...rest)
        break
    }
  }
  return dns
}
