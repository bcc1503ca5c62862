// Adoption at restart: the first apply after a restart takes the tables the last agent committed
// as they are, instead of replacing them whole (0.3 s of the restart at 30k pods / 30k policies,
// issue 14), when and only when it can PROVE the kernel holds exactly the IR it is about to apply:
//
// - The last agent's commit record (written at its graceful stop, taken by this start): the nf_tables
//   generation id of its last commit (known exactly: the kernel echoes each commit's NEWGEN,
//   lib/nft/generation.ts), provided every commit it made since its last full replace followed the
//   one before with no other commit in between (applier.ts); the digest of the IR that commit left
//   (digest.ts); the boot and the network namespace (host-identity.ts); the agent build (the code
//   that rendered it).
// - Now: the same boot, namespace and build; the generation id now equal to the recorded one, so
//   no commit of anyone touched this namespace's nf_tables since; the digest of the IR to apply
//   equal to the recorded one.
//
// Anything else (no record, a record that does not parse, any check that fails, an error) is a
// full replace, as without adoption, and one info line names the check. A record is state on the
// node, so hostile: its fields are checked and a wrong value can only fail a comparison. Who could
// write a record that passes could also change the rules under the running agent, which never
// reads them back.
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { readGeneration, tableExists } from '../../lib/nft/generation.js'
import { BRIDGE_TABLE, POLICY_TABLE } from '../../lib/state/tables.js'
import { takeSnapshotFile, writeSnapshotFile } from '../sources/snapshot.js'
import type { PolicyIR } from '../compile/ir.js'
import type { RenderOptions } from '../render/index.js'
import { irDigest } from './digest.js'
import { hostIdentity, type HostIdentity } from './host-identity.js'

const FORMAT = 'cinch-commit-record/1'
/** A record is a few hundred bytes; a larger file is not one (and is not read). */
const MAX_RECORD_BYTES = 4096

export interface CommitRecord extends HostIdentity {
  /** nf_tables generation id of the agent's last commit */
  genId: number
  /** irDigest of the IR that commit left in the kernel, with the render options it was rendered with */
  digest: string
  /** the agent build that rendered it (sources/snapshot.ts agentBuild) */
  agentVersion: string
}

/** The first apply's proof: the generation to go on from, or why the tables are replaced. */
export type Proof = { holds: true; genId: number } | { holds: false; reason: string }

export function encodeCommitRecord(r: CommitRecord): string {
  return JSON.stringify({ format: FORMAT, genId: r.genId, digest: r.digest, bootId: r.bootId, netns: r.netns, agentVersion: r.agentVersion }) + '\n'
}

const BOOT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const NETNS = /^(cookie:[0-9]{1,20}|inode:[0-9]{1,20}:[0-9]{1,20})$/
const DIGEST = /^[0-9a-f]{64}$/

/** The record in `buf`; throws with the reason when it is not one. */
export function decodeCommitRecord(buf: Buffer): CommitRecord {
  let r: Record<string, unknown>
  try {
    r = JSON.parse(buf.toString('utf8'))
  } catch {
    throw new Error('not JSON')
  }
  if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new Error('not an object')
  if (r.format !== FORMAT) throw new Error(`format is not ${FORMAT}`)
  // 0 is never a generation (the kernel skips it at the wrap), nor is anything past 32 bits.
  if (typeof r.genId !== 'number' || !Number.isInteger(r.genId) || r.genId < 1 || r.genId > 0xffffffff) throw new Error('genId is not a generation id')
  if (typeof r.digest !== 'string' || !DIGEST.test(r.digest)) throw new Error('digest is not a sha256')
  if (typeof r.bootId !== 'string' || !BOOT_ID.test(r.bootId)) throw new Error('bootId is not a boot id')
  if (typeof r.netns !== 'string' || !NETNS.test(r.netns)) throw new Error('netns is not a namespace id')
  if (typeof r.agentVersion !== 'string' || r.agentVersion.length === 0 || r.agentVersion.length > 256) throw new Error('agentVersion is not a version')
  return { genId: r.genId, digest: r.digest, bootId: r.bootId, netns: r.netns, agentVersion: r.agentVersion }
}

/**
 * Reads the record at `path` and removes it: one start uses it at most once, so a start that then
 * crashes leaves none (the next start replaces). Undefined, with the reason, when there is none or
 * it is not one. The file is opened as the restart snapshot is (no symlink, FIFO or oversized file).
 */
export function takeCommitRecord(path: string): { record?: CommitRecord; reason?: string } {
  try {
    const buf = takeSnapshotFile(path, MAX_RECORD_BYTES)
    if (buf === undefined) return { reason: 'no commit record (a first start, or the last agent did not stop gracefully or did not know what it had committed)' }
    return { record: decodeCommitRecord(buf) }
  } catch (err) {
    return { reason: `commit record refused: ${(err as Error).message}` }
  }
}

/** Writes the record by rename, readable by root alone. */
export function writeCommitRecord(path: string, r: CommitRecord): void {
  writeSnapshotFile(path, encodeCommitRecord(r))
}

export function removeCommitRecord(path: string): void {
  rmSync(path, { force: true })
}

export interface ProveOptions {
  record: CommitRecord
  /** This agent's build and where it runs. */
  agentVersion: string
  here: HostIdentity
  render: RenderOptions
  /** The namespace's nf_tables generation id now (lib/nft/generation.ts readGeneration). */
  generation: () => Promise<number>
  /** Whether cinch's tables exist now (lib/nft/generation.ts tableExists); by default not asked. */
  tablesExist?: () => Promise<boolean>
}

/**
 * Whether the kernel holds exactly `ir` as the record's commit left it. The checks go cheapest
 * first (the digest, ~15 ms at 30k/30k, last); the reason names the first that fails.
 */
export async function proveCommitted(ir: PolicyIR, o: ProveOptions): Promise<Proof> {
  const r = o.record
  if (r.bootId !== o.here.bootId) return { holds: false, reason: 'the node rebooted since the last commit (boot id)' }
  if (r.netns !== o.here.netns) return { holds: false, reason: 'another network namespace than the last commit\'s' }
  if (r.agentVersion !== o.agentVersion) return { holds: false, reason: 'another agent build than the one that committed' }
  let now: number
  try {
    now = await o.generation()
  } catch (err) {
    return { holds: false, reason: `generation id not read: ${(err as Error).message}` }
  }
  if (now !== r.genId) return { holds: false, reason: `nftables changed since the last commit (generation ${now}, recorded ${r.genId}: someone committed in this namespace)` }
  try {
    if (o.tablesExist && !(await o.tablesExist())) return { holds: false, reason: 'cinch\'s tables are not there (nf_tables reloaded?)' }
  } catch (err) {
    return { holds: false, reason: `tables not read: ${(err as Error).message}` }
  }
  let digest: string
  try {
    digest = irDigest(ir, o.render)
  } catch (err) {
    return { holds: false, reason: (err as Error).message }
  }
  if (digest !== r.digest) return { holds: false, reason: 'the rules to apply differ from the last commit\'s (the cluster or the local pods changed)' }
  return { holds: true, genId: r.genId }
}

/** The record's file, beside the attachment records and the restart snapshot (a hostPath that survives the pod). */
export const commitRecordPath = (stateDir: string): string => join(stateDir, 'restart-commit.json')

/**
 * At start: takes the last agent's record and returns the first apply's proof (Applier `prove`),
 * which says why not when there is no usable record.
 */
export function adoptionAtStart(o: { stateDir: string; agentVersion: string; render: RenderOptions }): (ir: PolicyIR) => Promise<Proof> {
  const { record, reason } = takeCommitRecord(commitRecordPath(o.stateDir))
  return async (ir) => {
    if (!record) return { holds: false, reason: reason! }
    return proveCommitted(ir, {
      record, agentVersion: o.agentVersion, here: hostIdentity(), render: o.render, generation: () => readGeneration(),
      tablesExist: async () => (await Promise.all([POLICY_TABLE, BRIDGE_TABLE].map((t) => tableExists(t)))).every(Boolean),
    })
  }
}

/**
 * At a graceful stop: records what the kernel holds from this agent's last commit, when that is
 * known exactly (Applier `committed`); otherwise leaves no record. Returns what it did, for the log.
 */
export function recordAtStop(o: { stateDir: string; agentVersion: string; render: RenderOptions; committed?: { ir: PolicyIR; genId: number } }): { written: boolean; genId?: number } {
  const path = commitRecordPath(o.stateDir)
  if (!o.committed) {
    removeCommitRecord(path)
    return { written: false }
  }
  writeCommitRecord(path, { genId: o.committed.genId, digest: irDigest(o.committed.ir, o.render), ...hostIdentity(), agentVersion: o.agentVersion })
  return { written: true, genId: o.committed.genId }
}
