// Flag parsing for the cinch CLI, over node:util parseArgs. Unknown flags are errors.
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { DEFAULT_MAX_NODE_POLICY_COST, DEFAULT_MAX_POD_POLICY_COST, DEFAULT_MAX_POLICY_COST } from '../policy-agent/compile/cost.js'
import {
  CONFLIST_FILE, DEFAULT_AGENT_SOCKET, DEFAULT_CNI_BIN_DIR, DEFAULT_CNI_CONF_DIR, DEFAULT_GC_GRACE_MS, DEFAULT_GC_INTERVAL_MS,
  DEFAULT_METRICS_ADDR, DEFAULT_STATE_DIR,
} from '../lib/state/defaults.js'

export class UsageError extends Error {}

export function parseFlags<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: false, strict: true }).values as {
      [K in keyof O]?: O[K] extends { type: 'boolean' } ? boolean : string
    } & { help?: boolean }
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

export const USAGE = `Usage: cinch <command> [flags]

Commands:
  agent     run the node agent (NetworkPolicy -> nftables)
              --manifests DIR   read manifests from DIR instead of the Kubernetes API
              --once            apply this node's rules, exit 0 once they are in the kernel
              --node NAME       this node's name (default $NODE_NAME or the hostname)
              --state-dir D     cinch-bridge's state directory (default ${DEFAULT_STATE_DIR})
              --socket P        agent socket (default ${DEFAULT_AGENT_SOCKET})
              --fail-open       let traffic of not yet programmed pods through
              --max-policy-cost N  set elements + rules one NetworkPolicy may add; over it, it is reported invalid (default ${DEFAULT_MAX_POLICY_COST})
              --max-pod-policy-cost N  what the policies selecting one pod may add up to in one direction; over it,
                                that direction of the pod fails closed and is reported (default ${DEFAULT_MAX_POD_POLICY_COST})
              --max-node-policy-cost N  what the policies selecting this node's pods may add up to, every pod and
                                direction; over it, the costliest namespace's pods close first, as above (default ${DEFAULT_MAX_NODE_POLICY_COST})
              --metrics-addr A  /metrics, /healthz, /readyz, /status (default ${DEFAULT_METRICS_ADDR})
              --cni-conf F      conflist naming the IPAM plugin for GC (default ${DEFAULT_CNI_CONF_DIR}/${CONFLIST_FILE})
              --cni-bin-dir D   CNI plugin directory (default ${DEFAULT_CNI_BIN_DIR})
              --cleanup         remove cinch's nftables tables and exit
              --log-level L     trace, debug, info (default), warn, error
              --gc-grace S      seconds an orphaned pod (netns gone) must stay orphaned before its DEL (default ${DEFAULT_GC_GRACE_MS / 1000})
              --gc-interval S   seconds between leak collections (default ${DEFAULT_GC_INTERVAL_MS / 1000}; one runs at start)
              --backend B       overlay between nodes: vxlan (default) or host-gw (nodes on one L2 segment)
              --cluster-cidr C  pod CIDRs not masqueraded, comma separated (default: every Node's podCIDRs)
              --cni-conf-dir D  where the agent writes this node's conflist (default ${DEFAULT_CNI_CONF_DIR})
              --vni N           VXLAN network identifier (default 4096)
              --vxlan-port P    VXLAN UDP port (default 4789)
              --underlay-mtu M  MTU of the node's link (default: read from the link holding the InternalIP)
              --ipam-data-dir D cinch-ipam's dataDir in the conflist (default: cinch-ipam's)
              --no-overlay      program no routes and write no conflist (single node)
              --no-restart-snapshot  list the whole cluster at every start (default: a graceful stop saves
                                what the informers hold, and the next start within 5 min watches from it)
              --flow-logs       flow records for every namespace (else: those annotated cinch.dev/flow-logs: "true");
                                also --flow-logs=true|false ("" is false; any other value is refused)
              --flow-log-group N   nfnetlink_log group of the log rules (default 6784)
              --flow-log-rate N    first packets logged per second on this node (default 100)
              --flow-log-burst N   ... and in a burst (default 200); the rest are counted, not logged
              --flow-log-interval S  seconds per flow record interval (default 15)
              --flow-log-max-keys N  records per interval (default 10000); more are counted as overflow
              --flow-log-file F    JSON lines to F, rotated at 10 MiB (default: the agent's log)
  explain   say whether a connection is allowed, and why
              --from NS/POD --to NS/POD --port PORT[/PROTO] [--manifests DIR]
              [--max-policy-cost N]  the agent's bound: a policy over it is not enforced (default ${DEFAULT_MAX_POLICY_COST})
              [--max-pod-policy-cost N]  the agent's bound: a pod whose policies add up to more fails closed (default ${DEFAULT_MAX_POD_POLICY_COST})
              [--max-node-policy-cost N]  the agent's bound over the pods of a node (spec.nodeName): the costliest namespace's fail closed first (default ${DEFAULT_MAX_NODE_POLICY_COST})
  status    show a running agent's status   [--metrics-addr A]
  flows     flow records of the running agent: who talked to whom, and which policy decided
              [--from NS/POD] [--to NS/POD] [--verdict denied|allowed|audit] [--follow] [--json] [--metrics-addr A]
  version   print the version
  demo      a 2-node cluster in network namespaces: connectivity before and after examples/ policies
              --keep            leave it up (then: cinch demo down)
              --backend B       vxlan (default) or host-gw
              --name N          namespace prefix and /run/N state (default cinch-demo)
  demo down remove a kept demo   [--name N]
  install   place the plugins in the CNI bin directory (the DaemonSet's init container)
              [--cni-bin-dir D] [--prefix /opt/cinch] [--from DIR]
  uninstall remove what install placed, nothing else   [--prefix /opt/cinch]
              --all             also the agent's conflist, tables, routes and devices
                                [--cni-conf-dir /etc/cni/net.d]
`
