// The canonical addresses a cleanup pass compares entries with (lib/net formats an entry's
// addresses canonically; a pod's or an interface's may be spelled otherwise, `fd00:0::2`), kept
// between passes. Every sync requests a pass, and parsing and formatting every local pod's
// addresses and every interface's (each host veth has its own fe80:: address) at each one made a
// fifth of what the agent allocated per change (issue 14, bench/README.md phase 7g): here a pass
// whose addresses are those of the last one reuses its Set, and a changed list parses only the
// addresses it did not have.
import { networkInterfaces } from 'node:os'
import { LENIENT, canonicalIp } from '../../lib/ip/index.js'

const canonical = (ip: string): string => canonicalIp(ip, LENIENT) ?? ip

/** Canonical forms of a list of addresses, remembered for the next list. */
export class CanonicalAddresses {
  #raw: string[] = []
  #canon = new Map<string, string>()
  #set = new Set<string>()

  /**
   * The canonical forms of `ips`. The Set of the last call when `ips` is the same list in the
   * same order (compared element by element: nothing is allocated); otherwise a new Set, in which
   * only the addresses the last list did not hold are parsed. A Set handed out is never changed.
   */
  of(ips: Iterable<string>): Set<string> {
    let i = 0
    let same = true
    for (const ip of ips) {
      if (this.#raw[i] !== ip) { same = false; break }
      i++
    }
    if (same && i === this.#raw.length) return this.#set
    const raw: string[] = []
    const canon = new Map<string, string>()
    const set = new Set<string>()
    for (const ip of ips) {
      const c = this.#canon.get(ip) ?? canon.get(ip) ?? canonical(ip)
      raw.push(ip)
      canon.set(ip, c)
      set.add(c)
    }
    this.#raw = raw
    this.#canon = canon
    this.#set = set
    return set
  }
}

/** Addresses of this network namespace's interfaces (the agent is hostNetwork: the node's own). */
export function interfaceAddresses(): string[] {
  const out: string[] = []
  for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) out.push(i.address.split('%')[0]!)
  return out
}

/** The node's own addresses, canonical; read from the interfaces at each call, parsed only when new. */
export class NodeAddresses {
  readonly #canon = new CanonicalAddresses()
  constructor(private readonly read: () => string[] = interfaceAddresses) {}
  get = (): Set<string> => this.#canon.of(this.read())
}
