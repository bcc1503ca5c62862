// The agent's lister (attachment-lister.ts): at every listing, exactly what a fresh listing
// (listAttachmentsSync) gives at that moment, whoever changed the directory and however; and
// reading only what changed. Files in a temporary directory only.
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { AttachmentLister } from './attachment-lister.js'
import { type AttachmentRecord, attachmentFile, attachmentsDir, listAttachmentsSync, removeAttachmentSync, writeAttachmentSync } from './attachments.js'

const record = (containerId: string, ip = 5): AttachmentRecord => ({
  containerId, ifName: 'eth0', netns: `/var/run/netns/${containerId}`, podNamespace: 'default', podName: `pod-${containerId}`,
  ips: [`10.244.1.${ip}/24`, `fd00::${ip.toString(16)}/64`], hostVeth: 'cinch0123456789', bridge: 'cni0', network: 'cinch', createdAt: '2024-01-01T00:00:00.000Z',
})

let stateDir: string
let lister: AttachmentLister
beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'cinch-lister-'))
  lister = new AttachmentLister(stateDir)
})
afterEach(() => {
  lister.close()
  rmSync(stateDir, { recursive: true, force: true })
  rmSync(`${stateDir}.old`, { recursive: true, force: true })
})

/** Lists with both; they must agree, records and problems. */
function checkedList(l: AttachmentLister, last?: { got: AttachmentRecord[]; problems: string[] }) {
  const dir = attachmentsDir(stateDir)
  const problems: string[] = [], fresh: string[] = []
  const got = l.list((file, err) => problems.push(`${file.slice(dir.length + 1)}: ${err.message}`))
  const want = listAttachmentsSync(stateDir, (file, err) => fresh.push(`${file.slice(dir.length + 1)}: ${err.message}`))
  expect(got).toEqual(want)
  // The same array again means "nothing changed since": the problems are those reported with it.
  if (got === last?.got) expect({ problems, before: last.problems }).toEqual({ problems: [], before: fresh })
  else expect(problems).toEqual(fresh)
  return { got, problems: got === last?.got ? last.problems : problems }
}

// A small deterministic generator (mulberry32): the same steps on every run.
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

describe('AttachmentLister', () => {
  // Every writer the directory has: cinch-bridge's rename and unlink, an ADD killed before its
  // rename (the temp file), a write in place (an older tool, an editor), a broken file and its
  // repair, something that is not a file, the directory removed, renamed away, or its parent
  // replaced (the path names another directory). Each listing right after the change, no waiting.
  for (const seed of [1, 2, 3, 4]) {
    it(`lists what a fresh listing lists after every change, by any writer (seed ${seed})`, () => {
      const r = rng(seed)
      const dir = attachmentsDir(stateDir)
      const id = () => `c${Math.floor(r() * 10)}`
      const steps: [string, () => void][] = [
        ['write', () => writeAttachmentSync(stateDir, record(id(), 1 + Math.floor(r() * 200)))],
        ['remove', () => removeAttachmentSync(stateDir, { containerId: id(), ifName: 'eth0' })],
        // Same inode, and as many bytes when the address has as many digits: only the content moves.
        ['in place', () => { mkdirSync(dir, { recursive: true }); writeFileSync(attachmentFile(stateDir, record(id())), JSON.stringify(record('x', 100 + Math.floor(r() * 99)), null, 2).replace('"x"', `"${id()}"`)) }],
        ['in place, valid', () => { const c = id(); mkdirSync(dir, { recursive: true }); writeFileSync(attachmentFile(stateDir, record(c)), JSON.stringify(record(c, 100 + Math.floor(r() * 99)))) }],
        ['broken', () => { mkdirSync(dir, { recursive: true }); writeFileSync(join(dir, `${id()}_eth0.json`), '{"containerId":') }],
        ['crashed write', () => { mkdirSync(dir, { recursive: true }); writeFileSync(join(dir, `.${id()}_eth0.json.4242.ab12.tmp`), '{"half":') }],
        ['not a file', () => { mkdirSync(join(dir, 'd_eth0.json'), { recursive: true }) }],
        ['touched', () => { try { utimesSync(attachmentFile(stateDir, record(id())), new Date(), new Date()) } catch { /* absent */ } }],
        ['nothing', () => {}],
      ]
      const rare: [string, () => void][] = [
        ['directory removed', () => rmSync(dir, { recursive: true, force: true })],
        ['directory renamed away, a new one made', () => { rmSync(`${dir}.old`, { recursive: true, force: true }); try { renameSync(dir, `${dir}.old`) } catch { /* absent */ } writeAttachmentSync(stateDir, record(id())) }],
        ['parent replaced', () => {
          rmSync(`${stateDir}.old`, { recursive: true, force: true })
          renameSync(stateDir, `${stateDir}.old`)
          mkdirSync(stateDir)
          writeAttachmentSync(stateDir, record(id(), 7))
        }],
      ]
      let last = checkedList(lister)
      for (let i = 0; i < 300; i++) {
        const [, step] = r() < 0.04 ? rare[Math.floor(r() * rare.length)]! : steps[Math.floor(r() * steps.length)]!
        step()
        last = checkedList(lister, last)
      }
    })
  }

  it('reads only what changed: the other records are the objects it read before, and no change is the same array', () => {
    for (let i = 0; i < 20; i++) writeAttachmentSync(stateDir, record(`c${i}`))
    const first = lister.list()
    expect(lister.list()).toBe(first)
    writeAttachmentSync(stateDir, record('c20')) // an ADD, right away: no second to wait for
    const afterAdd = lister.list()
    expect(afterAdd).not.toBe(first)
    expect(afterAdd.filter((r) => !first.includes(r)).map((r) => r.containerId)).toEqual(['c20'])
    removeAttachmentSync(stateDir, { containerId: 'c3', ifName: 'eth0' })
    const afterDel = lister.list()
    expect(afterDel.map((r) => r.containerId)).toEqual(afterAdd.map((r) => r.containerId).filter((c) => c !== 'c3'))
    expect(afterDel.every((r) => afterAdd.includes(r))).toBe(true)
    expect(lister.list()).toBe(afterDel)
  })

  // A sync follows every change; a broken record must not be logged again at each one.
  it('a broken record rewritten as broken lists the same array, reported once; another fault is news', () => {
    const dir = attachmentsDir(stateDir)
    writeAttachmentSync(stateDir, record('a'))
    writeFileSync(join(dir, 'b_eth0.json'), '{ broken')
    const problems: string[] = []
    const first = lister.list((file, err) => problems.push(`${file.slice(dir.length + 1)}: ${err.message}`))
    writeFileSync(join(dir, 'b_eth0.json'), '{ broken too')
    expect(lister.list((file, err) => problems.push(`${file.slice(dir.length + 1)}: ${err.message}`))).toBe(first)
    writeFileSync(join(dir, 'b_eth0.json'), '{"containerId":"b"}')
    expect(lister.list((file, err) => problems.push(`${file.slice(dir.length + 1)}: ${err.message}`))).not.toBe(first)
    expect(problems).toEqual(['b_eth0.json: not JSON', expect.stringMatching(/^b_eth0.json: ifName: /)])
  })

  // The kernel drops events once the watch's queue is full (fs.inotify.max_queued_events, 16384 by
  // default) and says so once: a change after that point is found only by listing again.
  it('starts over from the directory when the event queue overflowed', () => {
    for (const c of ['a', 'b', 'c']) writeAttachmentSync(stateDir, record(c))
    expect(lister.list().map((r) => r.containerId)).toEqual(['a', 'b', 'c'])
    // Alternating two files: the kernel merges an event only with the one queued just before it.
    const t = new Date()
    const limit = Number(readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8'))
    for (let i = 0; i < limit + 1000; i++) utimesSync(attachmentFile(stateDir, record(i % 2 ? 'a' : 'b')), t, t)
    removeAttachmentSync(stateDir, record('c')) // its unlink's event is dropped: c is named by no event
    expect(lister.list().map((r) => r.containerId)).toEqual(['a', 'b'])
  })

  // Where inotify is refused (the user's max_user_instances spent by other programs), each listing
  // goes by stat. A user namespace of its own with a limit of 0 instances: nothing else affected.
  it('without inotify, lists by stat, the same, and says why', () => {
    const script = `import { AttachmentLister } from ${JSON.stringify(join(import.meta.dirname, 'attachment-lister.ts'))}
      import { writeAttachmentSync, removeAttachmentSync } from ${JSON.stringify(join(import.meta.dirname, 'attachments.ts'))}
      const rec = (c, ip) => ({ containerId: c, ifName: 'eth0', netns: '/x', podNamespace: '', podName: '', ips: ['10.0.0.' + ip + '/24'], hostVeth: 'cinch0123456789', bridge: 'b', network: 'n', createdAt: '2024-01-01T00:00:00Z' })
      const l = new AttachmentLister(${JSON.stringify(stateDir)})
      const ids = () => l.list().map((r) => r.containerId + ' ' + r.ips[0])
      const out = []
      writeAttachmentSync(${JSON.stringify(stateDir)}, rec('a', 1)); out.push(ids())
      writeAttachmentSync(${JSON.stringify(stateDir)}, rec('b', 2)); out.push(ids())
      writeAttachmentSync(${JSON.stringify(stateDir)}, rec('a', 3)); removeAttachmentSync(${JSON.stringify(stateDir)}, { containerId: 'b', ifName: 'eth0' }); out.push(ids())
      console.log(JSON.stringify({ out, watchError: l.watchError?.message }))`
    const sh = `echo 0 > /proc/sys/user/max_inotify_instances && exec "$0" --import tsx/esm --input-type=module -e "$1"`
    const res = JSON.parse(execFileSync('unshare', ['--user', '--map-root-user', 'sh', '-c', sh, process.execPath, script], { timeout: 20_000, encoding: 'utf8' }))
    expect(res).toEqual({ out: [['a 10.0.0.1/24'], ['a 10.0.0.1/24', 'b 10.0.0.2/24'], ['a 10.0.0.3/24']], watchError: 'inotify_init1: errno 24' })
  })

  it('a missing directory lists nothing, then its first record', () => {
    expect(lister.list()).toEqual([])
    expect(lister.list()).toEqual([])
    writeAttachmentSync(stateDir, record('a'))
    expect(lister.list().map((r) => r.containerId)).toEqual(['a'])
    expect(lister.watchError).toBeUndefined()
  })
})
