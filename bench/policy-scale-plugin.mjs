// bench:policy-scale's local ADD and DEL, the plugin's side, in a process of its own (forked by
// the bench, one for the run), as cinch-bridge runs in its own: the bench's process holds the fake
// API server's cluster (at 30k/30k a heap of ~0.5 GB, whose major GCs paused it 15-40 ms about
// every 1.3 s of changes, --trace-gc), and an ADD timed there waited out those pauses before it
// read the agent's reply (bench/README.md phase 18). Here the record's write, the request and the
// reply are timed in a process with nothing else to do; the bench only asks, and reads the figures.
//
// A message {id, op: 'add' | 'del', args} (policy-scale-local.mjs addLikeCniBridge / delLikeCniBridge
// arguments) is answered with {id, ...their result, ms: record write (removal) -> reply, w0, w1:
// that window on CLOCK_MONOTONIC in us, the agent profile's clock}.
import { addLikeCniBridge, delLikeCniBridge } from './policy-scale-local.mjs'

const monotonicUs = () => Number(process.hrtime.bigint() / 1000n)

process.on('message', async (m) => {
  const w0 = monotonicUs()
  const t0 = performance.now()
  let r
  try {
    r = m.op === 'add' ? await addLikeCniBridge(m.args) : await delLikeCniBridge(m.args)
  } catch (err) {
    r = { recordMs: NaN, reply: { ok: false, error: `the plugin's side failed: ${err.message}` } }
  }
  const ms = performance.now() - t0
  process.send({ id: m.id, ...r, ms, w0, w1: monotonicUs() })
})
// The bench gone (its exit, Ctrl-C): so is this.
process.on('disconnect', () => process.exit(0))
