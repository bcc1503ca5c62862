// ip netns exec NS node --import tsx/esm bench/flows-reader.mjs GROUP
// The agent's end of flow logs for bench/flows-dataplane.mjs: binds nflog group GROUP in the
// namespace it runs in, as the agent's FlowRecorder does (copy range SNAPLEN, sequence numbers),
// and counts what arrives. Without a reader bound, nfnetlink_log finds no instance and drops the
// event at once: a bench without one would measure less than a node running the agent pays.
// Prints "ready" once bound; on SIGTERM prints {"packets":N,"lost":N} and exits.
import { NflogReader } from '../lib/net/nflog.ts'
import { SNAPLEN } from '../policy-agent/flows/nft.ts'

const group = Number(process.argv[2])
let packets = 0, lost = 0
const reader = new NflogReader({ group, copyRange: SNAPLEN, onPacket: () => { packets++ }, onLost: (n) => { lost += n } })
await reader.start()
// The socket alone does not keep the process alive (NfnlSocket unrefs when idle). Under a flood
// this process can abort in the netlink addon's receive callback (bench/README "Flow logs"):
// bench/flows-dataplane.mjs checks it lived through each run.
const keep = setInterval(() => {}, 1000)
process.on('SIGTERM', () => {
  clearInterval(keep)
  reader.close()
  process.stdout.write(JSON.stringify({ packets, lost }) + '\n', () => process.exit(0))
})
process.stdout.write('ready\n')
