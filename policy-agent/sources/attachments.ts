// Local pods: the attachment records cinch-bridge writes on ADD (lib/state/attachments.ts) say which
// pods live on this node and which host veth each one uses.
import type { AttachmentRecord } from '../../lib/state/attachments.js'
import type { LocalPod } from '../model/cluster.js'

/** The compiler's view of the node's pods: one LocalPod per attachment, addresses without prefix. */
export function toLocalPods(records: AttachmentRecord[]): LocalPod[] {
  return records.map((r) => ({
    namespace: r.podNamespace ?? '',
    name: r.podName ?? '',
    ips: r.ips.map((ip) => ip.split('/')[0]),
    hostVeth: r.hostVeth,
  }))
}
