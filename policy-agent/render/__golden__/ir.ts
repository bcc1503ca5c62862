// The IR of the golden batches (full-commands.test.ts, __golden__/capture-batch.ts): an empty
// cluster with flow logs on, so that the limit and the log rules' declarations are in the batch.
import { FlowCompiler } from '../../flows/compiler.js'
import { FLOW_LOG_DEFAULTS } from '../../flows/options.js'
import { clusterOf } from '../../../test/kit/policy-state.js'
import type { PolicyIR } from '../../compile/ir.js'

export const goldenIr = (): PolicyIR =>
  new FlowCompiler({ flowLogs: { ...FLOW_LOG_DEFAULTS, clusterWide: true } }).compile(clusterOf({ namespaces: {}, pods: {}, policies: [] }), []).ir
