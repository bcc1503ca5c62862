// A sampling allocation profile of the agent's change phase, objects collected since included
// (what `--heap-prof` leaves out: it keeps only what is still live), for bench:policy-scale
// (bench/README.md phase 7g). Loaded into the agent through the environment the bench passes on:
//   CINCH_ALLOC_PROF_DIR=DIR NODE_OPTIONS="--require $PWD/bench/agent-alloc-prof.cjs" \
//     node --import tsx/esm bench/policy-scale.mjs --scale small --no-dataplane --samples 15
// It starts 1.5 s after the agent logs "agent ready" (the bench starts its changes 1 s after),
// counts the "rules applied" lines meanwhile, and writes DIR/agent-PID.heapprofile and .syncs at
// the SIGTERM the bench sends before its restart. Summed per step: bench/heapprofile-top.mjs.
// Diagnostic only: it wraps fs.write/writeSync (fd 1) to see the agent's log lines.
if (process.argv.includes('agent')) {
  const fs = require('node:fs')
  const inspector = require('node:inspector')
  const out = process.env.CINCH_ALLOC_PROF_DIR
  let session, syncs = 0, sampling = false
  const seen = (d) => {
    const s = typeof d === 'string' ? d : Buffer.isBuffer(d) ? d.toString('latin1') : ''
    if (!session && s.includes('"agent ready"')) {
      session = 'pending'
      setTimeout(() => {
        session = new inspector.Session(); session.connect()
        session.post('HeapProfiler.enable')
        session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }, () => { sampling = true })
      }, 1500).unref()
    }
    if (sampling && s.includes('"rules applied"')) syncs++
  }
  const ws = fs.writeSync, w = fs.write
  fs.writeSync = function (fd, d, ...rest) { if (fd === 1) seen(d); return ws.call(this, fd, d, ...rest) }
  fs.write = function (fd, d, ...rest) { if (fd === 1) seen(d); return w.call(this, fd, d, ...rest) }
  require('node:module').syncBuiltinESMExports()
  process.on('SIGTERM', () => {
    if (!sampling) return
    sampling = false
    session.post('HeapProfiler.stopSampling', (err, r) => {
      if (err) return
      fs.writeFileSync(`${out}/agent-${process.pid}.heapprofile`, JSON.stringify(r.profile))
      fs.writeFileSync(`${out}/agent-${process.pid}.syncs`, String(syncs))
    })
  })
}
