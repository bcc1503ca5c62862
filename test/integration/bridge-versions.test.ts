// cinch-bridge through libcni at every cniVersion the reference plugins here also speak.
import test from 'ava'
import { bare, makeNode, makeNs, nsPath, ping } from './bridge-helpers.js'

for (const cniVersion of ['0.3.1', '0.4.0', '1.0.0']) {
  test(`ADD, CHECK and DEL at cniVersion ${cniVersion}`, async (t) => {
    const node = makeNode(t, { cniVersion })
    const pod = makeNs(t, `v${cniVersion.replace(/\./g, '')}`)
    const r = await node.cnictl('add', nsPath(pod), 'ctr-v')
    t.is(r.code, 0, r.err)
    const res = JSON.parse(r.out)
    t.is(res.cniVersion, cniVersion)
    t.is(res.ips.length, 2)
    t.true(ping(pod, '10.244.1.1'))
    t.true(ping(pod, 'fd00:10:244:1::1'))
    t.regex(bare(res.ips[0].address), /^10\.244\.1\./)
    if (cniVersion !== '0.3.1') {
      const c = await node.cnictl('check', nsPath(pod), 'ctr-v')
      t.is(c.code, 0, c.err)
    }
    const d = await node.cnictl('del', nsPath(pod), 'ctr-v')
    t.is(d.code, 0, d.err)
  })
}
