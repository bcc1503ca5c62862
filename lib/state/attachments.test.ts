// The attachment-record contract (lib/state/README.md) as both sides see it:
// what cinch-bridge writes, the agent lists. Files in a temporary directory only.
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  type AttachmentRecord, attachmentFile, attachmentsDir, listAttachmentsSync, MAX_RECORD_BYTES, readAttachmentSync,
  RecordError, removeAttachmentSync, validateRecord, writeAttachmentSync,
} from './attachments.js'

const record = (containerId: string, ifName = 'eth0'): AttachmentRecord => ({
  containerId, ifName, netns: `/var/run/netns/${containerId}`, podNamespace: 'default', podName: `pod-${containerId}`,
  ips: ['10.244.1.5/24', 'fd00::5/64'], hostVeth: 'cinch0123456789', bridge: 'cni0', network: 'cinch', createdAt: '2024-01-01T00:00:00.000Z',
})

let stateDir: string
beforeEach(() => { stateDir = mkdtempSync(join(tmpdir(), 'cinch-state-')) })
afterEach(() => rmSync(stateDir, { recursive: true, force: true }))

describe('attachment records', () => {
  it('lives at <stateDir>/attachments/<containerId>_<ifName>.json, nothing else left behind', () => {
    writeAttachmentSync(stateDir, record('c1', 'net1'))
    expect(attachmentFile(stateDir, { containerId: 'c1', ifName: 'net1' })).toBe(join(stateDir, 'attachments', 'c1_net1.json'))
    expect(readdirSync(attachmentsDir(stateDir))).toEqual(['c1_net1.json'])
    expect(readAttachmentSync(stateDir, { containerId: 'c1', ifName: 'net1' })).toEqual(record('c1', 'net1'))
  })

  it('a rewrite replaces the record', () => {
    writeAttachmentSync(stateDir, record('c1'))
    writeAttachmentSync(stateDir, { ...record('c1'), ips: ['10.244.1.9/24'] })
    expect(readAttachmentSync(stateDir, record('c1'))?.ips).toEqual(['10.244.1.9/24'])
  })

  it('removal also takes the temp file of an ADD killed mid-write, and only its own', () => {
    writeAttachmentSync(stateDir, record('c1'))
    writeAttachmentSync(stateDir, record('c2'))
    const dir = attachmentsDir(stateDir)
    // What writeFileAtomic leaves when the process dies between writing and renaming.
    writeFileSync(join(dir, '.c1_eth0.json.4242.a1b2c3.tmp'), '{"half":')
    writeFileSync(join(dir, '.c2_eth0.json.4243.d4e5f6.tmp'), '{"half":')
    removeAttachmentSync(stateDir, record('c1'))
    expect(readdirSync(dir).sort()).toEqual(['.c2_eth0.json.4243.d4e5f6.tmp', 'c2_eth0.json'])
  })

  it('missing records and directories are no error', () => {
    expect(readAttachmentSync(stateDir, record('nope'))).toBeUndefined()
    expect(() => removeAttachmentSync(stateDir, record('nope'))).not.toThrow()
    expect(listAttachmentsSync(stateDir)).toEqual([])
  })

  it('the listing goes by file name and skips what is not a usable record', () => {
    writeAttachmentSync(stateDir, record('b'))
    writeAttachmentSync(stateDir, record('a'))
    const dir = attachmentsDir(stateDir)
    writeFileSync(join(dir, 'half.json'), '{"containerId":')
    writeFileSync(join(dir, 'noips.json'), '{"containerId":"x","ifName":"eth0"}')
    // What a power cut can leave of a record written without fsync (writeAttachmentSync): the
    // name with no data yet, or its length in zeros (ext4's delayed allocation).
    writeFileSync(join(dir, 'empty.json'), '')
    writeFileSync(join(dir, 'zeros.json'), Buffer.alloc(300))
    writeFileSync(join(dir, 'a_eth0.json.tmp-123'), 'in flight')
    mkdirSync(join(dir, 'dir.json'))
    const problems: string[] = []
    const onProblem = (file: string) => problems.push(file.slice(dir.length + 1))
    expect(listAttachmentsSync(stateDir, onProblem).map((r) => r.containerId)).toEqual(['a', 'b'])
    expect(problems).toEqual(['dir.json', 'empty.json', 'half.json', 'noips.json', 'zeros.json'])
  })

  // The agent reads the records synchronously before a sync: a file that blocked the read (a FIFO
  // waits for a writer, a device or a huge file never ends) would stop every sync of the node.
  // Each is refused unread and reported; the records beside it are read. The listing runs in a
  // child process with a deadline: with readFileSync it never returns on the FIFO, which in this
  // process would hang the test run instead of failing it.
  it('refuses a FIFO, a device, a symlink and an oversized file named as records, unread, and reads the rest', () => {
    writeAttachmentSync(stateDir, record('ok'))
    const dir = attachmentsDir(stateDir)
    execFileSync('mkfifo', [join(dir, 'fifo_eth0.json')])
    symlinkSync('/dev/zero', join(dir, 'zero_eth0.json'))
    execFileSync('mknod', [join(dir, 'dev_eth0.json'), 'c', '1', '3']) // /dev/null's numbers
    symlinkSync(attachmentFile(stateDir, record('ok')), join(dir, 'link_eth0.json'))
    writeFileSync(join(dir, 'huge_eth0.json'), JSON.stringify({ ...record('huge'), pad: 'x'.repeat(MAX_RECORD_BYTES) }))
    // The agent's lister too (attachment-lister.ts), which reads the files its watch names.
    const script = `import { listAttachmentsSync } from ${JSON.stringify(join(import.meta.dirname, 'attachments.ts'))}
      import { AttachmentLister } from ${JSON.stringify(join(import.meta.dirname, 'attachment-lister.ts'))}
      const run = (list) => {
        const problems = []
        const got = list((file, err) => problems.push(file.slice(${dir.length + 1}) + ': ' + err.message))
        return { got: got.map((r) => r.containerId), problems }
      }
      const lister = new AttachmentLister(${JSON.stringify(stateDir)})
      console.log(JSON.stringify([run((p) => listAttachmentsSync(${JSON.stringify(stateDir)}, p)), run((p) => lister.list(p))]))`
    const out = execFileSync(process.execPath, ['--import', 'tsx/esm', '--input-type=module', '-e', script], { timeout: 10_000, encoding: 'utf8' })
    const [fresh, kept] = JSON.parse(out)
    expect(kept).toEqual(fresh)
    const { got, problems } = fresh
    expect(got).toEqual(['ok'])
    expect(problems).toEqual([
      'dev_eth0.json: not a regular file',
      'fifo_eth0.json: not a regular file',
      expect.stringMatching(/^huge_eth0.json: \d+ bytes, over the 65536 a record may have$/),
      'link_eth0.json: not a regular file',
      'zero_eth0.json: not a regular file',
    ])
  })

  it('removal removes exactly that record', () => {
    writeAttachmentSync(stateDir, record('a'))
    writeAttachmentSync(stateDir, record('a', 'net1'))
    removeAttachmentSync(stateDir, { containerId: 'a', ifName: 'eth0' })
    expect(listAttachmentsSync(stateDir).map((r) => r.ifName)).toEqual(['net1'])
  })
})

describe('validateRecord: every field is checked before the agent puts it into nft text', () => {
  const good = record('c1')
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['an address that is a number', { ips: [5] }, /^ips\[0\]: expected an address with prefix/],
    ['an address without prefix', { ips: ['10.0.0.1'] }, /^ips\[0\]/],
    ['ips not an array', { ips: '10.0.0.1/24' }, /^ips: expected an array/],
    ['too many addresses', { ips: Array(17).fill('10.0.0.1/24') }, /^ips: expected an array of at most 16/],
    ['a pod name with nft syntax', { podName: 'evil { }' }, /^podName: expected "" or a Kubernetes name/],
    ['a pod name with a quote', { podName: 'a"b' }, /^podName/],
    ['a pod name of 254 characters', { podName: 'a'.repeat(254) }, /^podName/],
    ['a namespace that is no DNS label', { podNamespace: 'Kube.System' }, /^podNamespace/],
    ['a host veth with nft syntax', { hostVeth: 'cinch"; flush ruleset' }, /^hostVeth: expected a host veth name matching/],
    ['a host veth that is not cinch-bridge\'s', { hostVeth: 'eth0' }, /^hostVeth/],
    ['a host veth with upper-case hex', { hostVeth: 'cinch0123456789A'.slice(0, 15).toUpperCase() }, /^hostVeth/],
    ['a container ID with a path', { containerId: '../../etc/x' }, /^containerId: expected/],
    ['an interface name of 16 bytes', { ifName: 'e'.repeat(16) }, /^ifName/],
    ['an interface name with a slash', { ifName: 'a/b' }, /^ifName/],
    ['a bridge name with a space', { bridge: 'br 0' }, /^bridge: expected an interface name/],
    ['a netns with a newline', { netns: '/run/netns/a\nb' }, /^netns: expected a path/],
    ['a network that is not a string', { network: {} }, /^network/],
    ['a time that is no time', { createdAt: 'yesterday' }, /^createdAt/],
    ['a missing field', { hostVeth: undefined }, /^hostVeth/],
  ]
  for (const [name, change, message] of cases) {
    it(`refuses ${name}`, () => {
      const bad = { ...good, ...change }
      expect(() => validateRecord(bad)).toThrow(RecordError)
      expect(() => validateRecord(bad)).toThrow(message)
    })
  }
  it('refuses what is not an object', () => {
    for (const v of [null, 5, 'x', [good]]) expect(() => validateRecord(v)).toThrow(/expected a JSON object/)
  })
  it('accepts a good record, with empty pod names (no CNI_ARGS), and drops unknown keys', () => {
    expect(validateRecord(good)).toEqual(good)
    expect(validateRecord({ ...good, podNamespace: '', podName: '' }).podName).toBe('')
    expect(validateRecord({ ...good, podName: 'a'.repeat(253), future: 1 })).not.toHaveProperty('future')
  })
  it('a listing skips a hostile record, reports it by name and field, and keeps the others', () => {
    writeAttachmentSync(stateDir, record('ok'))
    const dir = attachmentsDir(stateDir)
    writeFileSync(join(dir, 'bad_eth0.json'), JSON.stringify({ ...record('bad'), ips: [5] }))
    writeFileSync(join(dir, 'evil_eth0.json'), JSON.stringify({ ...record('evil'), podName: 'evil { }' }))
    // A valid record under another record's file name.
    writeFileSync(join(dir, 'copy_eth0.json'), JSON.stringify(record('ok')))
    const problems: string[] = []
    const got = listAttachmentsSync(stateDir, (file, err) => problems.push(`${file.slice(dir.length + 1)}: ${err.message}`))
    expect(got.map((r) => r.containerId)).toEqual(['ok'])
    expect(problems).toEqual([
      'bad_eth0.json: ips[0]: expected an address with prefix length, e.g. 10.244.1.5/24',
      'copy_eth0.json: the file is not named ok_eth0.json',
      expect.stringMatching(/^evil_eth0.json: podName: expected "" or a Kubernetes name/),
    ])
  })
})
