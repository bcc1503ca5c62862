import { expect, it } from 'vitest'
import { parseResolvConf } from './dns.js'

it('parses nameserver, domain, search and options, skipping comments', () => {
  const text = ['# comment', '; also', 'nameserver 10.96.0.10', 'nameserver fd00::a', 'domain cluster.local', 'search a.svc b.svc', 'search c.svc d.svc', 'options ndots:5', 'options edns0', ''].join('\n')
  expect(parseResolvConf(text)).toEqual({
    nameservers: ['10.96.0.10', 'fd00::a'],
    domain: 'cluster.local',
    search: ['c.svc', 'd.svc'],
    options: ['ndots:5', 'edns0'],
  })
})

it('gives an empty object for an empty file', () => {
  expect(parseResolvConf('')).toEqual({})
})
