// SPEC "GC": the runtime names the attachments still in use in `cni.dev/valid-attachments`; a
// plugin releases what it holds for anything else. Both cinch plugins read the list here, so they
// agree on what a missing or malformed list means: not "nothing is valid" (that frees every running
// pod's address and masquerade) but an invalid config (code 7), which collects nothing.
import { CNI_NAME_PATTERN, interfaceNameProblem } from './env.js'
import { invalidConfig } from './validate.js'
import type { NetConf } from './types.js'

export interface ValidAttachment {
  containerID: string
  ifname: string
}

const KEY = 'cni.dev/valid-attachments'

/** The attachments GC must keep; throws code 7 when the list is absent or any entry is malformed. */
export function validAttachments(conf: NetConf): ValidAttachment[] {
  const list: unknown = conf[KEY]
  if (!Array.isArray(list)) throw invalidConfig(KEY, list === undefined ? 'is required for GC' : 'must be an array')
  return list.map((a: unknown, i): ValidAttachment => {
    const { containerID, ifname } = (a ?? {}) as Record<string, unknown>
    if (typeof containerID !== 'string' || !CNI_NAME_PATTERN.test(containerID)) {
      throw invalidConfig(`${KEY}[${i}].containerID`, `must match ${CNI_NAME_PATTERN.source}`)
    }
    if (typeof ifname !== 'string' || interfaceNameProblem(ifname)) {
      throw invalidConfig(`${KEY}[${i}].ifname`, `must be an interface name (${typeof ifname === 'string' ? interfaceNameProblem(ifname) : 'not a string'})`)
    }
    return { containerID, ifname }
  })
}
